"""Contract tests every registered pass must pass."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from autotune.passes import Pass, PassContext, get_pass, pass_names, register_pass
from autotune.passes._base import Artifact
from autotune.space.params import Fixed, parse_values


@pytest.mark.parametrize("name", pass_names())
def test_pass_declares_consistent_params(name: str) -> None:
    cls = get_pass(name)
    assert cls.name == name
    assert cls.input_kind in ("hf", "adapter", "onnx") and cls.output_kind in (
        "hf",
        "adapter",
        "onnx",
    )
    for spec in cls.params:
        assert spec.help, f"{name}.{spec.name} has no help text"
        assert spec.check(spec.default) == spec.default or spec.kind == "float"
        values = spec.default_values()
        choices = (
            values.choices
            if hasattr(values, "choices")
            else (values.value,)
            if isinstance(values, Fixed)
            else ()
        )
        for v in choices:
            spec.check(v)  # every default search value is itself allowed
        assert parse_values(spec, None) == values


def test_registry_refuses_duplicates() -> None:
    class Dup(Pass):
        name = "merge"
        input_kind = "adapter"
        output_kind = "hf"

        def run(self, source: Artifact, params, ctx, out):  # type: ignore[no-untyped-def]
            return {}

    with pytest.raises(ValueError, match="already registered"):
        register_pass(Dup)


@pytest.mark.parametrize("precision", ["int4", ["int4", "int8"], ["int8", "fp32"]])
def test_quantize_forces_the_fp32_build(tmp_path: Path, precision: str | list[str]) -> None:
    """Planning a quantize chain builds fp32 whatever the space says; the other chain searches."""
    import optuna

    from autotune.targets import TARGETS
    from autotune.trial.plan import plan_trial
    from tests.conftest import load_tiny

    loaded = load_tiny(tmp_path, passes__build__precision=precision)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    chains, builds = set(), set()
    for _ in range(12):
        trial = study.ask()
        plan = plan_trial(trial, loaded, TARGETS["cpu"])
        chains.add(plan.chain)
        if plan.chain[-1] == "quantize":
            assert plan.params["build"]["precision"] == "fp32", plan
            assert "build.precision" not in trial.params  # fixed, not searched
            get_pass("quantize")().check(plan.params["quantize"], _ctx(plan))  # so it can run
        else:
            builds.add(plan.params["build"]["precision"])
        study.tell(trial, 0.0)
    assert chains == {("lora", "merge", "build"), ("lora", "merge", "build", "quantize")}
    assert builds == ({precision} if isinstance(precision, str) else set(precision))


def _ctx(plan: Any) -> PassContext:
    from autotune.inputs.data import PromptFormat, TaskData
    from autotune.inputs.models import PreparedModel

    data = TaskData((), (), ("a", "b"), PromptFormat("t", "l", "{t}{l}", None), "fp", "x")
    return PassContext(PreparedModel("m", "m", "fp"), data, plan.target, 0, plan.params)
