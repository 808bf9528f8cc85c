"""Contract tests every registered pass must pass."""

from __future__ import annotations

import pytest

from autotune.params import Fixed, parse_values
from autotune.passes import Pass, get_pass, pass_names, register_pass
from autotune.passes._base import Artifact


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


def test_quantize_forces_the_fp32_build() -> None:
    assert get_pass("quantize").upstream_fixed == {"build": {"precision": "fp32"}}
