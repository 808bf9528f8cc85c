"""Task kinds: one registry that refuses duplicates, metrics tagged by the kind that measures
them, and spaces that name a metric their task does not measure refused at load, on its line."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

from autotune.errors import SpaceError
from autotune.load.space_file import load_space
from autotune.space.metrics import METRICS, searchable_metrics
from autotune.task_kinds import TASK_KINDS, Classification, get_task_kind, register_task_kind
from tests.conftest import REPO, tiny_raw, write_space

QA = REPO / "search_spaces" / "data" / "qa-facts.jsonl"


def qa_raw(**changes: Any) -> dict[str, Any]:
    """The tiny space as a generation task on the shipped Q&A data."""
    raw = tiny_raw(**changes)
    raw["task"] = changes.get("task", "generation")
    raw["data"] = {
        "path": str(QA),
        "text_column": "question",
        "answer_column": "answer",
        "template": "### Question: {question}\n### Answer:\n{answer}",
        "max_train_rows": 64,
        "max_eval_rows": 12,
        **changes.get("data", {}),
    }
    raw["objectives"] = changes.get(
        "objectives",
        [
            {"metric": "rouge_l", "direction": "maximize"},
            {"metric": "latency_p90_ms", "direction": "minimize"},
        ],
    )
    raw["constraints"] = changes.get("constraints", [{"metric": "latency_p90_ms", "op": "<=", "value": 5000}])
    raw.pop("preference", None)
    if "preference" in changes:
        raw["preference"] = changes["preference"]
    raw["evaluation"] = {"max_new_tokens": 8, "latency_warmup": 1, "latency_repeats": 3, "latency_prompts": 3}
    return raw


def test_a_kind_registers_once_and_names_only_metrics_it_declares() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        register_task_kind(Classification())

    class Broken(Classification):
        name: ClassVar[str] = "broken"
        quality: ClassVar[str] = "bleu"  # not among its metrics

    with pytest.raises(ValueError, match=r"does not declare: \['bleu'"):
        register_task_kind(Broken())
    assert "broken" not in TASK_KINDS
    with pytest.raises(ValueError, match="unknown task 'summary'; known: classification, generation"):
        get_task_kind("summary")


def test_every_metric_is_tagged_with_the_kind_that_measures_it() -> None:
    for kind in TASK_KINDS.values():
        for m in kind.metrics:
            assert METRICS[m.name] is m and m.kinds == frozenset({kind.name})
    generation, classification = (
        set(searchable_metrics("generation")),
        set(searchable_metrics("classification")),
    )
    assert {"rouge_l", "exact_match", "chrf", "torch_answer_logprob", "ttft_p90_ms"} <= generation
    assert "accuracy" not in generation and "rouge_l" not in classification
    assert {"latency_p90_ms", "size_mb", "peak_rss_mb"} <= generation & classification
    assert "confirm_rouge_l" not in generation  # measured after the study: never searchable
    assert METRICS["rouge_l"].aggregation == "mean" and METRICS["exact_match"].aggregation == "proportion"
    assert METRICS["rouge_l"].paired == "rouge_l_scores"
    assert METRICS["exact_match"].paired == "exact_match_correct"


def test_a_generation_space_defaults_its_preference_to_rouge_l(tmp_path: Path) -> None:
    space = load_space(str(write_space(tmp_path / "qa.yaml", qa_raw()))).space
    assert space.task == "generation" and space.preference.metric == "rouge_l"
    assert load_space(str(write_space(tmp_path / "c.yaml", tiny_raw()))).space.preference.metric == "accuracy"


@pytest.mark.parametrize(
    ("changes", "where", "message"),
    [
        (
            {"objectives": [{"metric": "accuracy", "direction": "maximize"}]},
            "objectives.0",
            "'accuracy' is not measured for task 'generation'",
        ),
        (
            {"constraints": [{"metric": "torch_accuracy", "op": ">=", "value": 0.5}]},
            "constraints.0",
            "'torch_accuracy' is not measured",
        ),
        ({"preference": {"then": "label_margin"}}, "preference.then", "'label_margin' is not measured"),
        ({"data": {"labels": ["a", "b"]}}, "data.labels", "has no closed label set"),
        ({"task": "summary"}, "task", "unknown task 'summary'"),
    ],
)
def test_a_space_naming_what_its_task_cannot_measure_is_one_line_on_its_key(
    tmp_path: Path, changes: dict[str, Any], where: str, message: str
) -> None:
    path = write_space(tmp_path / "qa.yaml", qa_raw(**changes))
    with pytest.raises(SpaceError) as info:
        load_space(str(path))
    text = str(info.value)
    assert "\n" not in text and f"{where}:" in text and message in text
    assert " line " in text and "(top level)" not in text
