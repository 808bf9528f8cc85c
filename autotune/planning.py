"""Turning an Optuna trial into a frozen plan: which chain, which parameter values, which target."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import optuna

from autotune.params import Choice, Fixed, Scalar, SearchValues
from autotune.passes import get_pass
from autotune.search import suggest
from autotune.space_file import LoadedSpace
from autotune.targets import Target

__all__ = [
    "TrialPlan",
    "chain_label",
    "plan_trial",
    "searched_names",
    "target_values",
]

CHAIN_PARAM = "chain"


@dataclass(frozen=True)
class TrialPlan:
    """What one trial runs; knows nothing of Optuna."""

    chain: tuple[str, ...]
    params: Mapping[str, Mapping[str, Scalar]]  # pass -> parameter -> value
    target: Target

    def describe(self, varying: set[str] | None = None) -> str:
        """One short line: each pass with the values that are searched (all if ``varying`` is None)."""
        parts = []
        for name in self.chain:
            vals = [
                f"{k}={_short(v)}"
                for k, v in self.params[name].items()
                if varying is None or f"{name}.{k}" in varying
            ]
            parts.append(f"{name}({', '.join(vals)})" if vals else name)
        return " > ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "chain": list(self.chain),
            "target": self.target.name,
            "params": {k: dict(v) for k, v in self.params.items()},
        }


def _short(v: Scalar) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def searched_names(loaded: LoadedSpace) -> set[str]:
    """``pass.param`` names whose values the space leaves open (not fixed)."""
    return {
        f"{p}.{k}" for p, vals in loaded.values.items() for k, v in vals.items() if not isinstance(v, Fixed)
    }


def chain_label(chain: list[str] | tuple[str, ...]) -> str:
    return ">".join(chain)


def target_values(
    loaded: LoadedSpace, target: Target, pass_name: str, param: str, values: SearchValues
) -> SearchValues:
    """Narrow a build precision search to what the target (and the space's target entry) allows."""
    if pass_name != "build" or param != "precision" or not isinstance(values, Choice):
        return values
    allowed = set(target.precisions)
    for spec in loaded.space.targets:
        if spec.name == target.name and spec.precisions:
            allowed &= set(spec.precisions)
    kept = tuple(v for v in values.choices if v in allowed)
    if not kept:
        return values  # nothing valid: let the pass reject it with its reason
    return Fixed(kept[0]) if len(kept) == 1 else Choice(kept)


def _resolve(
    loaded: LoadedSpace,
    target: Target,
    chain: tuple[str, ...],
    pick: Any,  # (name, values) -> value
) -> dict[str, dict[str, Scalar]]:
    forced: dict[str, dict[str, Scalar]] = {}
    for name in chain:
        for up, fixed in get_pass(name).upstream_fixed.items():
            forced.setdefault(up, {}).update(fixed)
    params: dict[str, dict[str, Scalar]] = {}
    for name in chain:
        chosen: dict[str, Scalar] = {}
        for spec in get_pass(name).params:
            if spec.when is not None and not spec.when(chosen):
                continue
            if spec.name in forced.get(name, {}):
                chosen[spec.name] = forced[name][spec.name]
                continue
            values = target_values(loaded, target, name, spec.name, loaded.values[name][spec.name])
            chosen[spec.name] = pick(f"{name}.{spec.name}", values)
        params[name] = chosen
    return params


def plan_trial(trial: optuna.Trial, loaded: LoadedSpace, target: Target) -> TrialPlan:
    """Ask the trial for every value of the plan (the only place a plan meets Optuna)."""
    chains = [chain_label(c) for c in loaded.space.chains]
    label = str(suggest(trial, CHAIN_PARAM, Choice(tuple(chains)) if len(chains) > 1 else Fixed(chains[0])))
    chain = tuple(label.split(">"))
    params = _resolve(loaded, target, chain, lambda n, v: suggest(trial, n, v))
    return TrialPlan(chain, params, target)
