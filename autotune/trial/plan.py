"""Turning an Optuna trial into a frozen plan: which chain, which parameter values, which target."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import optuna

from autotune.load.space_file import LoadedSpace
from autotune.passes import get_pass
from autotune.space.params import Choice, Fixed, Scalar, SearchValues
from autotune.targets import Target
from autotune.trial.suggest import suggest

__all__ = [
    "TrialPlan",
    "chain_label",
    "chain_values",
    "forced_upstream",
    "plan_trial",
    "searched_names",
    "sweep_variants",
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
    narrowed = [t.precisions for t in loaded.space.targets if t.name == target.name and t.precisions]
    kept = tuple(v for v in values.choices if target.allows(v) and all(v in n for n in narrowed))
    if not kept:
        return values  # nothing valid: let the pass reject it with its reason
    return Fixed(kept[0]) if len(kept) == 1 else Choice(kept)


def forced_upstream(chain: tuple[str, ...]) -> dict[str, dict[str, Scalar]]:
    """Values later passes of ``chain`` force on earlier ones (quantize: the fp32 build)."""
    forced: dict[str, dict[str, Scalar]] = {}
    for name in chain:
        for up, fixed in get_pass(name).upstream_fixed.items():
            forced.setdefault(up, {}).update(fixed)
    return forced


def chain_values(
    loaded: LoadedSpace, target: Target, name: str, param: str, forced: dict[str, dict[str, Scalar]]
) -> SearchValues:
    """What ``name.param`` may take in this chain: forced, or the space's values narrowed to the target."""
    if param in forced.get(name, {}):
        return Fixed(forced[name][param])
    return target_values(loaded, target, name, param, loaded.values[name][param])


def _resolve(
    loaded: LoadedSpace,
    target: Target,
    chain: tuple[str, ...],
    pick: Any,  # (name, values) -> value
) -> dict[str, dict[str, Scalar]]:
    forced = forced_upstream(chain)
    params: dict[str, dict[str, Scalar]] = {}
    for name in chain:
        chosen: dict[str, Scalar] = {}
        for spec in get_pass(name).params:
            if spec.when is None or spec.when(chosen):
                chosen[spec.name] = pick(
                    f"{name}.{spec.name}", chain_values(loaded, target, name, spec.name, forced)
                )
        params[name] = chosen
    return params


def plan_trial(trial: optuna.Trial, loaded: LoadedSpace, target: Target) -> TrialPlan:
    """Ask the trial for every value of the plan (the only place a plan meets Optuna)."""
    chains = [chain_label(c) for c in loaded.space.chains]
    label = str(suggest(trial, CHAIN_PARAM, Choice(tuple(chains)) if len(chains) > 1 else Fixed(chains[0])))
    chain = tuple(label.split(">"))
    params = _resolve(loaded, target, chain, lambda n, v: suggest(trial, n, v))
    return TrialPlan(chain, params, target)


def onnx_side(name: str) -> bool:
    """Whether pass ``name`` makes or rewrites the ONNX model (after the fine-tune and merge)."""
    return get_pass(name).output_kind == "onnx"


def sweep_variants(
    loaded: LoadedSpace, plan: TrialPlan, params: Mapping[str, Scalar]
) -> list[dict[str, Scalar]]:
    """The trial ``params`` (flat Optuna names) through every chain and ONNX-side choice.

    Everything up to the merged model stays as in ``params``. For each chain of the space that
    shares the plan's passes up to the ONNX model (the same fine-tune), every combination of the
    open choices of its ONNX passes (build precision, block size, quantizer options...) is
    listed, within what the target allows, skipping parameters that do not apply (block size of
    an fp32 build) or that a later pass forces. Ranges cannot be enumerated: they keep the
    trial's value. ``params`` itself is not in the result.
    """
    own_prefix = [n for n in plan.chain if not onnx_side(n)]
    base = {k: v for k, v in params.items() if k == CHAIN_PARAM or not onnx_side(k.split(".", 1)[0])}
    out: list[dict[str, Scalar]] = []
    for chain in map(tuple, loaded.space.chains):
        passes = [n for n in chain if onnx_side(n)]
        if not passes or [n for n in chain if not onnx_side(n)] != own_prefix:
            continue
        if len(loaded.space.chains) > 1:
            base[CHAIN_PARAM] = chain_label(chain)
        forced = forced_upstream(chain)
        # (the searched values so far as flat names, every value so far per pass)
        partial: list[tuple[dict[str, Scalar], dict[str, dict[str, Scalar]]]] = [({}, {})]
        for name in passes:
            for spec in get_pass(name).params:
                key = f"{name}.{spec.name}"
                values = chain_values(loaded, plan.target, name, spec.name, forced)
                options: tuple[Scalar, ...]
                if isinstance(values, Fixed):
                    options, searched = (values.value,), False
                elif isinstance(values, Choice):
                    options, searched = values.choices, True
                else:
                    options, searched = (params.get(key, spec.default),), key in params
                grown = []
                for flat, chosen in partial:
                    mine = chosen.get(name, {})
                    if spec.when is not None and not spec.when(mine):
                        grown.append((flat, chosen))
                        continue
                    for value in options:
                        grown.append(
                            (
                                {**flat, key: value} if searched else flat,
                                {**chosen, name: {**mine, spec.name: value}},
                            )
                        )
                partial = grown
        for flat, _ in partial:
            variant = {**base, **flat}
            if variant != dict(params) and variant not in out:
                out.append(variant)
    return out
