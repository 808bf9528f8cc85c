"""A third task kind and a new metric, registered by this file alone, run a real tiny study.

The kind ranks a closed label set: every label is scored after the prompt (the evaluators'
whole-label scoring), and the gold label's rank is measured by its mean reciprocal rank (MRR,
bootstrap interval, paired bootstrap) and hit@k (k an ``evaluation`` key of the kind's own). The
metric, ``onnx_mb``, is the ONNX graph and weights on disk, read from the size evaluator's
output, for every kind. Nothing outside this file knows either: the space schema, the loader's
checks, the preflight, the runner, the winner, the confirm split and the report ask the
registries. The fixture undoes both registrations, so no other test sees them.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pytest
from pydantic import BaseModel, ConfigDict, Field

from autotune.errors import SpaceError
from autotune.load.space_file import load_space
from autotune.space.metrics import METRICS, collect, searchable_metrics
from autotune.task_kinds import (
    TASK_KINDS,
    EvaluationSettings,
    MetricSpec,
    Panel,
    PerExample,
    TaskKind,
    interval,
    register_metric,
    register_task_kind,
    unregister_metric,
    unregister_task_kind,
)
from tests.conftest import tiny_raw, write_space

if TYPE_CHECKING:
    from evaluators import EvalTask, ModelArtifact

_KIND = frozenset({"ranking"})
_UNSURE = frozenset({"unsure"})


class RankingSettings(BaseModel):
    """The ranking kind's own ``evaluation`` keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    top_k: int = Field(2, ge=1, description="hit@k: the gold label among the k best-scored labels")


@dataclass(frozen=True)
class RankingTask:
    """A split's rows as the label evaluators take them, and the k of hit@k."""

    rows: EvalTask
    top_k: int

    @property
    def prompts(self) -> tuple[str, ...]:
        return self.rows.prompts


def _mrr(prefix: str, source: Any, what: str, searchable: bool, paired: str | None) -> list[MetricSpec]:
    return interval(
        f"{prefix}mrr", "fraction", source, "mrr", f"mean reciprocal rank of the gold label ({what})",
        searchable, "bootstrap", aggregation="mean", kinds=_KIND, paired=paired,
    )  # fmt: skip


def _rank(artifact: ModelArtifact, task: RankingTask) -> dict[str, Any]:
    """Every label scored after each prompt; the gold label's rank among them (ties count against it)."""
    from evaluators import bootstrap_mean_ci, predict_labels, wilson_interval

    rows = task.rows
    choices = predict_labels(artifact, rows.prompts, rows.label_set, eos=rows.eos, normalize=rows.normalize)
    ranks = []
    for choice, gold in zip(choices, rows.labels, strict=True):
        own = choice.scores[rows.label_set.index(gold)]
        ranks.append(sum(s >= own for s in choice.scores))
    rr = [1.0 / r for r in ranks]
    hits = [int(r <= task.top_k) for r in ranks]
    per_label = {
        label: statistics.fmean(x for x, g in zip(rr, rows.labels, strict=True) if g == label)
        for label in rows.label_set
        if label in rows.labels
    }
    return {
        "mrr": statistics.fmean(rr),
        "mrr_ci95": list(bootstrap_mean_ci(rr)),
        "reciprocal_ranks": rr,
        "hit_at_k": statistics.fmean(hits),
        "hit_at_k_ci95": list(wilson_interval(sum(hits), len(hits))),
        "hits": hits,
        "ranks": ranks,
        "per_label_mrr": per_label,
        "top_k": task.top_k,
        "n": len(rr),
    }


class Ranking(TaskKind):
    name: ClassVar[str] = "ranking"
    description: ClassVar[str] = "the labels of a closed set ranked per row; the gold label should lead"
    quality: ClassVar[str] = "mrr"
    gate: ClassVar[str] = "torch_mrr"
    gated: ClassVar[tuple[str, ...]] = ("mrr", "torch_mrr")
    labelled: ClassVar[bool] = True
    settings: ClassVar[type[BaseModel] | None] = RankingSettings
    table_columns: ClassVar[tuple[tuple[str, str, str], ...]] = (("hit@k", "hit_at_k", ".3f"),)
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        *_mrr("", "eval-onnx", "built ONNX model, search split", True, "reciprocal_ranks"),
        *_mrr("torch_", "eval-torch", "merged PyTorch model, search split", True, "torch_reciprocal_ranks"),
        *_mrr("confirm_", "eval-confirm", "built ONNX model, confirm split", False, None),
        *interval(
            "hit_at_k", "fraction", "eval-onnx", "hit_at_k",
            "share of rows whose gold label is among the evaluation.top_k best (search split)", True,
            "Wilson", aggregation="proportion", kinds=_KIND, paired="hits_correct",
        ),
    )  # fmt: skip

    def eval_task(
        self, prompts: Sequence[str], targets: Sequence[str], labels: Sequence[str], ev: EvaluationSettings
    ) -> RankingTask:
        from evaluators import EvalTask

        settings = self.settings_of(ev)
        assert isinstance(settings, RankingSettings)
        rows = EvalTask(tuple(prompts), tuple(targets), tuple(labels), normalize=ev.length_normalize)
        return RankingTask(rows, settings.top_k)

    def cache_parts(self, task: Any) -> dict[str, Any]:
        rows = task.rows
        return {"prompts": rows.prompts, "labels": rows.labels, "normalize": rows.normalize, "k": task.top_k}

    def measure_torch(self, artifact: ModelArtifact, task: Any) -> dict[str, Any]:
        return _rank(artifact, task)

    def measure(self, artifact: ModelArtifact, task: Any) -> dict[str, Any]:
        return _rank(artifact, task)

    def latency(self, artifact: ModelArtifact, task: Any, ev: EvaluationSettings) -> dict[str, Any]:
        from evaluators import LatencyEvaluator  # a request scores every label, as classification's

        evaluator = LatencyEvaluator(
            warmup=ev.latency_warmup, repeats=ev.latency_repeats, max_prompts=ev.latency_prompts
        )
        return evaluator.evaluate(artifact, task.rows)

    def details(self, output: Mapping[str, Any], torch: bool = False) -> dict[str, Any]:
        rr = [round(float(x), 6) for x in output["reciprocal_ranks"]]
        if torch:
            return {"torch_reciprocal_ranks": rr}
        hits = "".join("1" if h else "0" for h in output["hits"])
        return {"reciprocal_ranks": rr, "hits_correct": hits, "per_label_mrr": output["per_label_mrr"]}

    def per_example(self, output: Mapping[str, Any]) -> PerExample:
        return [float(x) for x in output["reciprocal_ranks"]]

    def predict(self, artifact: ModelArtifact, prompts: Sequence[str], task: Mapping[str, Any]) -> list[str]:
        from evaluators import predict_labels

        labels = [str(x) for x in task["labels"]]
        ranked = []
        for choice in predict_labels(artifact, prompts, labels):
            order = sorted(range(len(labels)), key=lambda i: -choice.scores[i])
            ranked.append(" > ".join(labels[i] for i in order))
        return ranked

    def export_fields(self, ev: EvaluationSettings, labels: Sequence[str]) -> dict[str, Any]:
        settings = self.settings_of(ev)
        assert isinstance(settings, RankingSettings)
        return {"labels": list(labels), "top_k": settings.top_k}

    def report_panels(self, number: int, details: Mapping[str, Any], preference: str) -> list[Panel]:
        import plotly.graph_objects as go

        per_label = details.get("per_label_mrr") or {}
        fig = go.Figure(go.Bar(x=list(per_label), y=list(per_label.values())))
        fig.update_layout(title=f"Trial {number}: mean reciprocal rank per gold label", yaxis_range=[0, 1])
        return [Panel("mrr-per-label", figure=fig)]


# The new metric: no kind declares it, every kind measures it (the size evaluator reports it).
ONNX_MB = MetricSpec(
    "onnx_mb", "MB", "minimize", "size", "onnx_mb", "ONNX graph and weights on disk (no tokenizer, configs)"
)


@pytest.fixture
def ranking() -> Iterator[TaskKind]:
    """The ranking kind and the onnx_mb metric, registered for one test and removed after it."""
    kind = register_task_kind(Ranking())
    register_metric(ONNX_MB)
    try:
        yield kind
    finally:
        unregister_metric(ONNX_MB.name)
        unregister_task_kind(kind.name)


def ranking_raw(**changes: Any) -> dict[str, Any]:
    """The tiny space as a ranking task on the emotion data: MRR against the ONNX size."""
    raw = tiny_raw(task="ranking", **changes)
    raw["chains"] = [["lora", "merge", "build"]]
    raw["passes"]["build"]["precision"] = ["int4", "fp32"]
    del raw["passes"]["quantize"]
    raw["objectives"] = [
        {"metric": "mrr", "direction": "maximize"},
        {"metric": "onnx_mb", "direction": "minimize"},
    ]
    raw["constraints"] = [
        {"metric": "torch_mrr", "op": ">=", "value": 0.0},
        {"metric": "hit_at_k", "op": ">=", "value": 0.0},
    ]
    raw["preference"] = {"then": "onnx_mb"}  # the metric: the kind's quality, mrr
    raw["evaluation"].setdefault("top_k", 2)
    return raw


def test_registration_is_checked_and_read_at_use_time(ranking: TaskKind) -> None:
    assert TASK_KINDS["ranking"] is ranking and METRICS["onnx_mb"] is ONNX_MB
    assert {"mrr", "torch_mrr", "hit_at_k", "onnx_mb", "size_mb"} <= set(searchable_metrics("ranking"))
    assert "onnx_mb" in searchable_metrics("classification") and "mrr" not in searchable_metrics("generation")
    assert collect("size", {"size_mb": 9.0, "onnx_mb": 8.5}) == {"size_mb": 9.0, "onnx_mb": 8.5}
    assert collect("eval-onnx", {"mrr": 0.5, "accuracy": 1.0}, kind="ranking") == {"mrr": 0.5}
    with pytest.raises(ValueError, match="task kind 'ranking' is registered twice"):
        register_task_kind(Ranking())
    with pytest.raises(ValueError, match="metric 'onnx_mb' is registered twice"):
        register_metric(ONNX_MB)
    with pytest.raises(ValueError, match=r"metric 'size_mb' is registered twice \(first by register_metric"):
        register_metric(MetricSpec("size_mb", "MB", "minimize", "size", "size_mb", "again"))
    with pytest.raises(ValueError, match=r"names task kind\(s\) \['summary'\] that are not registered"):
        register_metric(
            MetricSpec("bleu", "fraction", "maximize", "eval-onnx", "bleu", "x", kinds=frozenset({"summary"}))
        )
    with pytest.raises(ValueError, match="metric 'mrr' belongs to task kind 'ranking'"):
        unregister_metric("mrr")

    class Shadow(Ranking):  # declares a metric of another kind's name: nothing is registered
        name: ClassVar[str] = "shadow"

    with pytest.raises(ValueError, match=r"'mrr' is registered twice \(first by task kind 'ranking'\)"):
        register_task_kind(Shadow())

    def spec(name: str, source: Any, search: bool = True) -> MetricSpec:
        return MetricSpec(name, "fraction", "maximize", source, "u", "u", searchable=search, kinds=_UNSURE)

    class Unsure(Ranking):  # a gate without the interval the runner prunes on
        name: ClassVar[str] = "unsure"
        quality: ClassVar[str] = "u"
        gate: ClassVar[str] = "torch_u"
        gated: ClassVar[tuple[str, ...]] = ()
        metrics: ClassVar[tuple[MetricSpec, ...]] = (
            spec("u", "eval-onnx"),
            spec("torch_u", "eval-torch"),
            spec("confirm_u", "eval-confirm", False),
        )

    with pytest.raises(ValueError, match="its gate metric 'torch_u' needs its 95% interval's ends"):
        register_task_kind(Unsure())
    assert "shadow" not in TASK_KINDS and "unsure" not in TASK_KINDS and "u" not in METRICS


def test_the_kinds_own_evaluation_keys_are_checked_on_their_line(ranking: TaskKind, tmp_path: Path) -> None:
    space = load_space(str(write_space(tmp_path / "r.yaml", ranking_raw()))).space
    assert space.task == "ranking" and space.preference.metric == "mrr"
    assert ranking.settings_of(space.evaluation) == RankingSettings(top_k=2)
    raw = ranking_raw()
    del raw["evaluation"]["top_k"]  # its default is filled in
    assert load_space(str(write_space(tmp_path / "d.yaml", raw))).space.evaluation.model_extra == {"top_k": 2}
    for bad, says in (
        (ranking_raw(evaluation={"top_k": 0}), "evaluation.top_k: Input should be greater than or equal to"),
        (ranking_raw(evaluation={"top_kk": 3}), "evaluation.top_kk: unknown key"),
        (tiny_raw(evaluation={"top_k": 3}), "evaluation.top_k: unknown key (check its spelling; for task"),
        (
            {**ranking_raw(), "objectives": [{"metric": "accuracy", "direction": "maximize"}]},
            "'accuracy' is not measured for task 'ranking'",
        ),
    ):
        with pytest.raises(SpaceError) as info:
            load_space(str(write_space(tmp_path / "bad.yaml", bad)))
        assert says in str(info.value) and " line " in str(info.value)


@pytest.mark.integration
@pytest.mark.slow
def test_a_third_kind_and_a_new_metric_run_a_real_study(
    ranking: TaskKind, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from autotune.cli import main

    space = write_space(tmp_path / "ranking.yaml", ranking_raw(study={"n_trials": 2, "seed": 0}))
    out = tmp_path / "out"
    assert main(["--space", str(space), "--out", str(out), "--quiet"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert (report["task"], report["preference"]) == ("ranking", "mrr")
    assert [o["metric"] for o in report["objectives"]] == ["mrr", "onnx_mb"]
    rows = report["rows"]
    assert [r["state"] for r in rows] == ["complete", "complete"]
    for r in rows:
        m, d = r["metrics"], r["details"]
        assert 0 < m["onnx_mb"] <= m["size_mb"]  # the new metric, measured by the size evaluator
        for name in ("mrr", "torch_mrr", "hit_at_k"):
            assert m[f"{name}_low"] <= m[name] <= m[f"{name}_high"] and 0.25 <= m["mrr"] <= 1
        assert len(d["reciprocal_ranks"]) == len(d["torch_reciprocal_ranks"]) == d["eval_rows"] == 12
        assert "accuracy" not in m and "rouge_l" not in m
    winner = next(r for r in rows if r["number"] == report["winner"])
    assert "confirm_mrr" in winner["metrics"]  # the front measured once on the confirm split
    assert "onnx_mb" in (out / "trials.csv").read_text().splitlines()[0].split(",")
    page = (out / "report.html").read_text()
    assert "id='mrr-per-label'" in page and "mrr (search) [95%]" in page and "id='confusion'" not in page
    # the winner exported, and predict answering with the kind's own rule: the labels ranked
    assert main(["export", str(out), "--dest", str(tmp_path / "winner")]) == 0
    capsys.readouterr()
    assert main(["predict", "--model", str(tmp_path / "winner"), "I am so happy today"]) == 0
    ranked = capsys.readouterr().out.strip().splitlines()[-1].split(" > ")
    assert sorted(ranked) == sorted(tiny_raw()["data"]["labels"])


def test_the_registrations_are_gone_after_the_tests() -> None:
    """Outside the fixture neither is registered: after the tests above (in file order) it removed
    both, and before them (a random order) none was there."""
    assert "ranking" not in TASK_KINDS and "onnx_mb" not in METRICS and "mrr" not in METRICS
    assert list(TASK_KINDS) == ["classification", "generation"]
