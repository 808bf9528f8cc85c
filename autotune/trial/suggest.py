"""The one place where parameter specs become ``trial.suggest_*`` calls."""

from __future__ import annotations

from typing import cast

import optuna

from autotune.space.params import Choice, Fixed, FloatRange, IntRange, Scalar, SearchValues

__all__ = ["suggest"]


def suggest(trial: optuna.Trial, name: str, values: SearchValues) -> Scalar:
    """Ask the trial for ``name`` within ``values``; a fixed value is recorded, not searched."""
    if isinstance(values, Fixed):
        return values.value
    if isinstance(values, Choice):
        return cast(Scalar, trial.suggest_categorical(name, list(values.choices)))
    if isinstance(values, IntRange):
        return trial.suggest_int(name, values.low, values.high, step=values.step, log=values.log)
    if isinstance(values, FloatRange):
        return trial.suggest_float(name, values.low, values.high, log=values.log)
    raise TypeError(f"unknown search values {values!r}")
