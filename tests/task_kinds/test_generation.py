"""The generation kind end to end on the tiny model: a real study through the CLI, its report,
confirm split, export and predict answering like the study measured."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autotune.cli import main
from autotune.export.predict import predict
from autotune.inputs.data import load_task_data, normalize
from autotune.load.space_file import load_space
from autotune.selection.paired import compare
from autotune.selection.winner import choose_winner
from tests.conftest import built_once, write_space
from tests.task_kinds.test_registry import qa_raw

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def qa_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-trial Q&A study, run once per test run (read-only)."""

    def make(root: Path) -> None:
        raw = qa_raw(study={"n_trials": 3, "sampler": "tpe", "seed": 0})
        raw["passes"]["build"]["precision"] = ["int4", "fp32"]
        space = write_space(root / "qa.yaml", raw)
        assert main(["--space", str(space), "--out", str(root / "out"), "--quiet"]) == 0

    return built_once(tmp_path_factory, "qa-study", make) / "out"


def test_the_splits_share_no_question_and_carry_no_labels(tmp_path: Path) -> None:
    loaded = load_space(str(write_space(tmp_path / "qa.yaml", qa_raw(data={"max_eval_rows": 40}))))
    data = load_task_data(loaded.space.data, loaded.base_dir, "generation")
    assert data.labels == ()
    splits = [{normalize(e.text) for e in part} for part in (data.train, data.eval, data.confirm)]
    assert all(not (a & b) for i, a in enumerate(splits) for b in splits[i + 1 :])
    assert (len(data.eval), len(data.confirm)) == (40, 40)  # 20% of 200 questions each
    assert all(e.label.endswith(".") for e in data.eval)  # the answer is the target


def test_a_trial_is_measured_by_the_generation_metrics(qa_study: Path) -> None:
    report = json.loads((qa_study / "report.json").read_text())
    done = [r for r in report["rows"] if r["state"] == "complete"]
    assert len(done) == 3
    for r in done:
        m, d = r["metrics"], r["details"]
        for name in ("rouge_l", "exact_match", "chrf", "answer_logprob", "torch_answer_logprob"):
            assert m[f"{name}_low"] <= m[name] <= m[f"{name}_high"]
        assert 0 < m["ttft_p50_ms"] <= m["latency_p50_ms"] and m["answer_tokens_per_s"] > 0
        assert len(d["rouge_l_scores"]) == len(d["answers"]) == d["eval_rows"] == 12
        assert len(d["torch_answer_logprob_scores"]) == 12 and set(d["exact_match_correct"]) <= {"0", "1"}
        assert sum(d["stopped"].values()) == 12 and all(0 < n <= 8 for n in d["answer_tokens"])
        # the teacher-forced score of the merged model and of its fp32 build agree
        if r["params"]["build.precision"] == "fp32":
            assert abs(m["answer_logprob"] - m["torch_answer_logprob"]) < 1e-2
    winner = report["winner"]
    assert winner is not None and report["preference"] == "rouge_l" and report["task"] == "generation"
    confirm = next(r for r in report["rows"] if r["number"] == winner)["metrics"]
    assert confirm["confirm_rouge_l_low"] <= confirm["confirm_rouge_l"] <= confirm["confirm_rouge_l_high"]


def test_export_and_predict_answer_as_the_study_measured(qa_study: Path, tmp_path: Path) -> None:
    dest = tmp_path / "exported"
    assert main(["export", str(qa_study), "--dest", str(dest)]) == 0
    task = json.loads((dest / "task.json").read_text())
    assert task["task"] == "generation" and task["max_new_tokens"] == 8 and "labels" not in task
    report = json.loads((qa_study / "report.json").read_text())
    row = next(r for r in report["rows"] if r["number"] == report["winner"])
    space = load_space(str(dest / "autotune.yaml")).space  # its data path is absolute
    data = load_task_data(space.data, dest, "generation")
    questions = [e.text for e in data.eval[:3]]
    assert predict(dest, questions) == row["details"]["answers"][:3]


def test_the_winner_ties_on_scores_by_the_paired_bootstrap() -> None:
    class Row:
        def __init__(self, number: int, scores: list[float], p90: float) -> None:
            self.number, self.details = number, {"rouge_l_scores": scores}
            self.metrics = {"rouge_l": sum(scores) / len(scores), "latency_p90_ms": p90}

    from autotune.space.schema import Preference

    best = Row(0, [0.6, 0.7, 0.5, 0.8] * 10, 90.0)
    close = Row(1, [0.65, 0.7, 0.45, 0.8] * 10, 40.0)  # up on some, down on others: a tie
    worse = Row(2, [0.2, 0.3, 0.1, 0.4] * 10, 10.0)
    pref = Preference(metric="rouge_l", then="latency_p90_ms")
    choice = choose_winner([best, close, worse], pref)
    ties = {t.number: t for t in choice.ties}
    assert choice.best == 0 and not ties[2].tied and "paired bootstrap on 40 examples" in ties[2].why
    assert compare(best.details["rouge_l_scores"], best.details["rouge_l_scores"]).p_worse == 1.0
    assert compare(best.details["rouge_l_scores"], worse.details["rouge_l_scores"]).p_worse < 0.001
    assert ties[1].tied and ties[1].p_worse is not None and ties[1].p_worse > 0.4
    assert choice.winner == 1  # the fastest of the tied
