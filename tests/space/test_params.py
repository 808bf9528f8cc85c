from __future__ import annotations

import pytest

from autotune.space.params import Choice, Fixed, FloatRange, IntRange, ParamSpec, parse_values

RANK = ParamSpec("rank", "int", 8, "rank", Choice((4, 8)), minimum=1)
LR = ParamSpec("lr", "float", 1e-3, "lr", FloatRange(1e-4, 1e-2, log=True), minimum=0)
MODS = ParamSpec("mods", "str_list", "all-linear", "modules", Choice(("q,v", "all-linear")))
PREC = ParamSpec("p", "str", "int4", "precision", allowed=("int4", "int8", "fp32"))


def test_omitted_takes_the_pass_default_search() -> None:
    assert parse_values(RANK, None) == Choice((4, 8))
    assert parse_values(PREC, None) == Fixed("int4")


def test_scalar_list_and_range_forms() -> None:
    assert parse_values(RANK, 16) == Fixed(16)
    assert parse_values(RANK, [8, 16, 8]) == Choice((8, 16))
    assert parse_values(RANK, [8]) == Fixed(8)
    assert parse_values(RANK, {"low": 4, "high": 32, "step": 4}) == IntRange(4, 32, 4)
    assert parse_values(LR, {"low": 1e-4, "high": 1e-3, "log": True}) == FloatRange(1e-4, 1e-3, True)
    assert parse_values(PREC, {"choices": ["int4", "fp32"]}) == Choice(("int4", "fp32"))


def test_name_lists_are_one_value_unless_nested() -> None:
    assert parse_values(MODS, ["q_proj", "v_proj"]) == Fixed("q_proj,v_proj")
    assert parse_values(MODS, [["q_proj", "v_proj"], "all-linear"]) == Choice(("q_proj,v_proj", "all-linear"))


@pytest.mark.parametrize(
    ("spec", "raw", "message"),
    [
        (RANK, 0, "below the minimum"),
        (RANK, 2.5, "expected an integer"),
        (RANK, {"low": 8, "high": 4}, "above high"),
        (LR, {"low": 0.0, "high": 1.0, "log": True}, "log range needs low > 0"),
        (PREC, "fp16x", "not allowed; choose from: int4, int8, fp32"),
        (PREC, {"low": 1, "high": 2}, "a range needs a numeric parameter"),
        (RANK, {"choices": []}, "non-empty list"),
        (RANK, {"lo": 1}, "expected a value"),
    ],
)
def test_bad_values_say_what_is_allowed(spec: ParamSpec, raw: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_values(spec, raw)
