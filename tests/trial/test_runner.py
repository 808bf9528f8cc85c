"""The runner executes plans with the cache: a precision change must not fine-tune again."""

from __future__ import annotations

from pathlib import Path

import pytest

from autotune.cache import Cache
from autotune.inputs.data import load_task_data
from autotune.inputs.models import prepare_model
from autotune.load.space_file import load_space
from autotune.targets import TARGETS
from autotune.trial.plan import TrialPlan
from autotune.trial.runner import TrialRunner
from autotune.trial.steps import EVAL_LATENCY, EVAL_TORCH, Step, StepKind, StepRecord, built_model_key
from tests.conftest import tiny_raw, write_space

LORA = {
    "rank": 4,
    "alpha": 8,
    "dropout": 0.0,
    "learning_rate": 0.005,
    "target_modules": "all-linear",
    "steps": 2,
    "batch_size": 4,
    "warmup_ratio": 0.1,
    "max_length": 64,
    "max_grad_norm": 1.0,
}
INT4 = {
    "precision": "int4",
    "block_size": 32,
    "accuracy_level": 4,
    "is_symmetric": True,
    "algo_config": "default",
}


def test_a_step_is_recorded_by_its_name_and_read_back() -> None:
    """The trial's ``steps`` attribute keeps the names reports and resumes read."""
    recorded = [
        StepRecord(Step.of_pass("lora", 20), "k1", 1.5, False),
        StepRecord(Step.of_pass("merge"), "k2", 0.25, True),
        StepRecord(EVAL_TORCH, "k3", 0.5, True),
        StepRecord(Step.of_pass("build"), "k4", 2.0, False),
        StepRecord(Step(StepKind.EVAL_ONNX), "k5", 0.75, False),
        StepRecord(EVAL_LATENCY, "", 0.5, False),
    ]
    attrs = [r.to_attr() for r in recorded]
    names = ["lora@20", "merge", "eval-torch", "build", "eval-onnx", "eval-latency"]
    assert [a["name"] for a in attrs] == names
    assert attrs[0] == {"name": "lora@20", "key": "k1", "seconds": 1.5, "cache_hit": False}
    assert list(attrs[0]) == ["name", "key", "seconds", "cache_hit"]
    assert [StepRecord.from_attr(a) for a in attrs] == recorded
    assert built_model_key(attrs) == "k4"  # the last pass's: the measurements made no model
    with pytest.raises(ValueError):
        Step(StepKind.EVAL_TORCH, "lora")


@pytest.mark.integration
def test_precision_change_reuses_the_fine_tune(tmp_path: Path) -> None:
    loaded = load_space(str(write_space(tmp_path / "s.yaml", tiny_raw())))
    cache = Cache(tmp_path / "cache")
    model = prepare_model(loaded.space.model, cache, loaded.base_dir)
    data = load_task_data(loaded.space.data, loaded.base_dir)
    runner = TrialRunner(space=loaded.space, model=model, data=data, cache=cache, seed=0)
    cpu = TARGETS["cpu"]
    first = runner.run(TrialPlan(("lora", "merge", "build"), {"lora": LORA, "merge": {}, "build": INT4}, cpu))
    assert first.state == "complete", first.reason
    assert not any(s.cache_hit for s in first.steps)
    second = runner.run(
        TrialPlan(
            ("lora", "merge", "build"),
            {"lora": LORA, "merge": {}, "build": {"precision": "fp32"}},
            cpu,
        )
    )
    hits = {s.step: s.cache_hit for s in second.steps}
    assert hits[Step.of_pass("lora")] and hits[Step.of_pass("merge")] and hits[EVAL_TORCH]
    assert not hits[Step.of_pass("build")]
    assert second.metrics["torch_accuracy"] == first.metrics["torch_accuracy"]
    assert second.metrics["size_mb"] > 1.2 * first.metrics["size_mb"]  # fp32 vs int4 weights
    third = runner.run(TrialPlan(("lora", "merge", "build"), {"lora": LORA, "merge": {}, "build": INT4}, cpu))
    assert all(s.cache_hit for s in third.steps if s.step != EVAL_LATENCY)
    assert third.metrics["accuracy"] == first.metrics["accuracy"]


@pytest.mark.integration
def test_gate_prunes_only_a_miss_larger_than_the_interval(tmp_path: Path) -> None:
    """A threshold inside the PyTorch accuracy's 95% interval is not a clear miss: no prune."""
    path = write_space(tmp_path / "s.yaml", tiny_raw())
    cache = Cache(tmp_path / "cache")
    plan = TrialPlan(("lora", "merge", "build"), {"lora": LORA, "merge": {}, "build": INT4}, TARGETS["cpu"])

    def run(threshold: float) -> tuple[str, dict[str, float]]:
        loaded = load_space(str(path), [f"constraints=[{{metric: accuracy, op: '>=', value: {threshold}}}]"])
        model = prepare_model(loaded.space.model, cache, loaded.base_dir)
        data = load_task_data(loaded.space.data, loaded.base_dir)
        out = TrialRunner(space=loaded.space, model=model, data=data, cache=cache, seed=0).run(plan)
        return out.state, out.metrics

    state, m = run(0.0)
    assert state == "complete" and m["torch_accuracy"] < m["torch_accuracy_high"] < 1.0
    inside = (m["torch_accuracy"] + m["torch_accuracy_high"]) / 2  # missed by the point estimate only
    assert run(inside)[0] == "complete"
    above = (m["torch_accuracy_high"] + 1.0) / 2  # missed by more than the interval
    state, _ = run(above)
    assert state == "pruned"
