"""Multi-fidelity fine-tunes: rungs resume from the cache, and only promoted runs go on."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from pydantic import ValidationError

from autotune.cache import Cache
from autotune.cli import main
from autotune.inputs.data import load_task_data
from autotune.inputs.models import prepare_model
from autotune.load.space_file import load_space
from autotune.selection.fidelity import RUNG_ATTR, RungResult, promotion
from autotune.space.schema import Fidelity
from autotune.targets import TARGETS
from autotune.trial.plan import TrialPlan
from autotune.trial.runner import TrialRunner
from autotune.trial.steps import EVAL_TORCH, Step, StepRecord
from tests.conftest import tiny_raw, write_space
from tests.trial.test_runner import INT4, LORA


def _run(number: int, right: int, n: int = 40) -> RungResult:
    return RungResult(number, right / n, "1" * right + "0" * (n - right))


def test_the_top_third_goes_on_and_noise_does_not_stop_a_run() -> None:
    peers = [_run(0, 30), _run(1, 20), _run(2, 10)]
    assert promotion(_run(3, 5), [], 3, 0.05)[0]  # the first at a rung always goes on
    ok, why = promotion(_run(3, 35), peers, 3, 0.05)
    assert ok and "ranks 1 of 4" in why
    ok, why = promotion(_run(3, 29), peers, 3, 0.05)  # one phrase behind the cut: noise
    assert ok and "not significantly worse than trial 0" in why
    ok, why = promotion(_run(3, 12), peers, 3, 0.05)
    assert not ok and "significantly worse than trial 0 at the top-1 cut" in why
    # with six runs the top two go on: the cut is the second best
    six = [*peers, _run(4, 28), _run(5, 2)]
    assert promotion(_run(6, 27), six, 3, 0.05)[0]
    assert not promotion(_run(6, 27), six, 3, 0.6)[0]  # a stricter level keeps fewer


def test_rungs_must_increase() -> None:
    assert Fidelity(rungs=[20, 60]).eta == 3
    with pytest.raises(ValidationError, match="positive and increasing"):
        Fidelity(rungs=[60, 20])
    with pytest.raises(ValidationError):
        Fidelity(rungs=[20], eta=1)


@pytest.mark.integration
def test_a_study_climbs_rungs_and_resumes_from_the_cache(tmp_path: Path) -> None:
    raw = tiny_raw(
        chains=[["lora", "merge", "build"]],
        passes__lora__steps=4,
        # large steps, so that runs of a few steps already disagree on some phrases
        passes__lora__learning_rate={"low": 0.02, "high": 0.3, "log": True},
        passes__build__precision="int4",
        study__n_trials=3,
        study__fidelity={"rungs": [1, 2], "eta": 2},
        # a strict level: a run behind the cut stops unless the paired test clearly calls it a tie
        preference={"metric": "accuracy", "significance": 0.99, "then": "latency_p90_ms"},
    )
    space = write_space(tmp_path / "s.yaml", raw)
    out = tmp_path / "o"
    assert main(["--space", str(space), "--out", str(out), "--quiet"]) == 0
    rows = json.loads((out / "report.json").read_text())["rows"]
    first = rows[0]
    records = [StepRecord.from_attr(s) for s in first["steps"]]
    merge, at1, at2 = Step.of_pass("merge"), Step.of_pass("lora", 1), Step.of_pass("lora", 2)
    steps = [r.step for r in records]
    assert steps[:6] == [at1, merge, EVAL_TORCH, at2, merge, EVAL_TORCH], [r.name for r in records]
    assert [r["steps"] for r in first["details"]["rungs"]] == [1, 2]
    # the whole run resumed from rung 2: its log holds all 4 losses, the first 2 from the rungs
    whole = next(r for r in records if r.step == Step.of_pass("lora"))
    rung2 = next(r for r in records if r.step == at2)
    log = json.loads((out / "cache" / "lora" / whole.key / "train_log.json").read_text())
    log2 = json.loads((out / "cache" / "lora" / rung2.key / "train_log.json").read_text())
    assert log["steps_done"] == 4 and len(log["losses"]) == 4 and log["losses"][:2] == log2["losses"]
    assert (out / "cache" / "lora" / rung2.key / "trainer_state.pt").is_file()
    assert not (out / "cache" / "lora" / whole.key / "trainer_state.pt").exists()
    # every trial was judged against the others at each rung (the random model ties them all)
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{out / 'study.db'}")
    assert all(f"{RUNG_ATTR}1" in t.user_attrs and f"{RUNG_ATTR}2" in t.user_attrs for t in study.trials)
    assert "ranks 3 of 3" in rows[2]["details"]["rungs"][0]["why"]


def _runner_and_plan(tmp_path: Path, raw: dict) -> tuple[TrialRunner, TrialPlan]:
    """A runner of ``raw`` and a 4-step LoRA > merge > int4 plan."""
    loaded = load_space(str(write_space(tmp_path / "s.yaml", raw)))
    cache = Cache(tmp_path / "cache")
    model = prepare_model(loaded.space.model, cache, loaded.base_dir)
    data = load_task_data(loaded.space.data, loaded.base_dir)
    runner = TrialRunner(space=loaded.space, model=model, data=data, cache=cache, seed=0)
    lora = {**LORA, "steps": 4}
    return runner, TrialPlan(
        ("lora", "merge", "build"), {"lora": lora, "merge": {}, "build": INT4}, TARGETS["cpu"]
    )


@pytest.mark.integration
def test_a_run_not_promoted_stops_and_a_finished_one_is_not_judged_again(tmp_path: Path) -> None:
    runner, plan = _runner_and_plan(tmp_path, tiny_raw(study__fidelity={"rungs": [1, 2]}))
    judged: list[int] = []

    def only_the_first_rung(rung: int, accuracy: float, correct: str) -> tuple[bool, str]:
        judged.append(rung)
        return rung < 2, "the policy stops everything at 2 steps"

    stopped = runner.run(plan, only_the_first_rung)
    assert stopped.state == "pruned" and judged == [1, 2]
    assert stopped.reason == "stopped at 2 of 4 steps: the policy stops everything at 2 steps"
    lora = Step.of_pass("lora")
    trained = [s.step for s in stopped.steps if s.step.pass_name == "lora"]
    assert trained == [Step.of_pass("lora", 1), Step.of_pass("lora", 2)]
    go = runner.run(plan, lambda rung, accuracy, correct: (True, "go on"))
    assert go.state == "complete" and [s.cache_hit for s in go.steps[:3]] == [True, True, True]
    assert next(s for s in go.steps if s.step == lora).cache_hit is False  # resumed from rung 2
    judged.clear()
    again = runner.run(plan, only_the_first_rung)  # finished before: no rung is judged again
    assert again.state == "complete" and judged == [] and again.steps[0].step == lora


@pytest.mark.integration
def test_constraints_judge_the_whole_run_not_a_rung(tmp_path: Path) -> None:
    raw = tiny_raw(study__fidelity={"rungs": [1, 2]})
    raw["constraints"] = [{"metric": "accuracy", "op": ">=", "value": 0.99}]  # the random model misses it
    runner, plan = _runner_and_plan(tmp_path, raw)
    out = runner.run(plan, lambda rung, accuracy, correct: (True, "go on"))
    assert [r["go_on"] for r in out.details["rungs"]] == [True, True]  # measured, not gated
    assert out.state == "pruned" and str(out.reason).startswith("PyTorch accuracy"), out.reason
    assert any(s.step == Step.of_pass("lora") for s in out.steps)  # the whole run was trained, then gated
