"""Parameter specs that passes declare, and the search values a space gives them.

A pass owns its parameters: each :class:`ParamSpec` names the type, the default, the values the
pass searches when the space says nothing, and what is allowed. A space may fix a parameter
(a scalar), give choices (a list, or ``{choices: [...]}``) or a range (``{low, high, step, log}``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias, TypeVar, cast

Scalar: TypeAlias = bool | int | float | str
Kind = Literal["int", "float", "str", "bool", "str_list"]

__all__ = [
    "Choice",
    "Fixed",
    "FloatRange",
    "IntRange",
    "ParamSpec",
    "Scalar",
    "SearchValues",
    "allows",
    "parse_values",
]


@dataclass(frozen=True)
class Fixed:
    value: Scalar


@dataclass(frozen=True)
class Choice:
    choices: tuple[Scalar, ...]


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int
    step: int = 1
    log: bool = False


@dataclass(frozen=True)
class FloatRange:
    low: float
    high: float
    log: bool = False


SearchValues: TypeAlias = Fixed | Choice | IntRange | FloatRange
_Range = TypeVar("_Range", IntRange, FloatRange)


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a pass: its type, default, default search values and what is allowed."""

    name: str
    kind: Kind
    default: Scalar
    help: str
    search: SearchValues | None = None
    allowed: tuple[Scalar, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    when: Callable[[Mapping[str, Scalar]], bool] | None = None  # applies only if true

    def check(self, value: Any) -> Scalar:
        """Coerce one value to this parameter's type, or raise ValueError saying what is allowed."""
        if self.kind == "str_list":
            value = _str_list(value)
        elif self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"expected true or false, got {value!r}")
        elif self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"expected an integer, got {value!r}")
        elif self.kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"expected a number, got {value!r}")
            value = float(value)
        elif not isinstance(value, str):
            raise ValueError(f"expected a string, got {value!r}")
        if self.allowed is not None and value not in self.allowed:
            allowed = ", ".join(str(a) for a in self.allowed)
            raise ValueError(f"{value!r} is not allowed; choose from: {allowed}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if self.minimum is not None and value < self.minimum:
                raise ValueError(f"{value!r} is below the minimum {self.minimum:g}")
            if self.maximum is not None and value > self.maximum:
                raise ValueError(f"{value!r} is above the maximum {self.maximum:g}")
        return cast(Scalar, value)

    def default_values(self) -> SearchValues:
        return self.search if self.search is not None else Fixed(self.default)


def allows(values: SearchValues, value: Any) -> bool:
    """Whether ``value`` is one ``values`` can take (a fixed value, a choice, a point of a range)."""
    if isinstance(values, Fixed):
        return bool(values.value == value)
    if isinstance(values, Choice):
        return value in values.choices
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(values, IntRange):
        return (
            isinstance(value, int)
            and values.low <= value <= values.high
            and (value - values.low) % values.step == 0
        )
    return values.low <= float(value) <= values.high


def _str_list(value: Any) -> str:
    """A list of names is carried as one comma-joined string (Optuna choices must be scalars)."""
    if isinstance(value, str) and value.strip():
        return ",".join(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return ",".join(value)
    raise ValueError(f"expected a name or a list of names, got {value!r}")


def parse_values(spec: ParamSpec, raw: Any) -> SearchValues:
    """Turn what a space says about a parameter into search values, checking every value."""
    if raw is None or raw == "default":
        return spec.default_values()
    if isinstance(raw, Mapping):
        keys = set(raw)
        if keys == {"choices"}:
            return _choices(spec, raw["choices"])
        if {"low", "high"} <= keys <= {"low", "high", "step", "log"}:
            return _range(spec, raw)
        raise ValueError("expected a value, a list of choices, {choices: [...]} or {low, high, step, log}")
    if isinstance(raw, list):
        if spec.kind == "str_list" and all(isinstance(v, str) for v in raw):
            return Fixed(spec.check(raw))  # a plain list of names is one value
        return _choices(spec, raw)
    return Fixed(spec.check(raw))


def _choices(spec: ParamSpec, raw: Any) -> SearchValues:
    if not isinstance(raw, list) or not raw:
        raise ValueError("choices must be a non-empty list")
    values = tuple(dict.fromkeys(spec.check(v) for v in raw))
    return Fixed(values[0]) if len(values) == 1 else Choice(values)


def _range(spec: ParamSpec, raw: Mapping[str, Any]) -> SearchValues:
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise ValueError("log must be true or false")
    if spec.kind == "int":
        low, high = int(spec.check(raw["low"])), int(spec.check(raw["high"]))
        step = raw.get("step", 1)
        if isinstance(step, bool) or not isinstance(step, int) or step < 1:
            raise ValueError("step must be a positive integer")
        if low > high:
            raise ValueError(f"low {low} is above high {high}")
        return _optuna_accepts(IntRange(low, high, step, log))
    if spec.kind == "float":
        lo, hi = float(spec.check(raw["low"])), float(spec.check(raw["high"]))
        if "step" in raw:
            raise ValueError("a float range takes low, high and log (no step); use choices")
        if lo > hi:
            raise ValueError(f"low {lo:g} is above high {hi:g}")
        if log and lo <= 0:
            raise ValueError("a log range needs low > 0")
        return _optuna_accepts(FloatRange(lo, hi, log))
    raise ValueError(f"a range needs a numeric parameter; {spec.name} is {spec.kind}: give choices")


def _optuna_accepts(values: _Range) -> _Range:
    """``values`` once Optuna's own distribution takes it, so that a range the sampler would
    refuse in every trial is refused at load instead (e.g. ``step`` with ``log: true``)."""
    from optuna.distributions import FloatDistribution, IntDistribution

    try:
        if isinstance(values, IntRange):
            IntDistribution(values.low, values.high, log=values.log, step=values.step)
        else:
            FloatDistribution(values.low, values.high, log=values.log)
    except ValueError as exc:
        raise ValueError(f"Optuna refuses this range: {exc}") from None
    return values
