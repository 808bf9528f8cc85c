"""Warm start: seed a new study with the front of a finished one (``autotune --space S --from OUT``).

Each front trial's plan (every value it ran with, fixed ones included) is mapped onto the new
space: a value the new space searches and allows is enqueued; a value the new space fixes is
left to it; a value outside the new space's choices or range (another target's precision, a
narrowed learning-rate range) is dropped, said so, and sampled as usual. The seeds are
queued once per study (recorded on it), so resuming or joining never queues them again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from autotune.errors import AutotuneError
from autotune.load.space_file import LoadedSpace
from autotune.passes import get_pass
from autotune.report.build import SEED_ATTR, Report
from autotune.space.params import Choice, Fixed, FloatRange, IntRange, Scalar, SearchValues, allows
from autotune.targets import Target
from autotune.trial.plan import CHAIN_PARAM, chain_label, chain_values, forced_upstream

__all__ = ["SEED_ATTR", "WARM_START_ATTR", "Seed", "plan_seeds", "queue_seeds", "warm_start"]

WARM_START_ATTR = "warm_start"  # study attribute: where the seeds came from, which, what was dropped


@dataclass
class Seed:
    source: int  # the trial number in the finished study
    params: dict[str, Scalar]  # flat Optuna names, as planning suggests them
    dropped: list[str] = field(default_factory=list)  # "pass.param=value (why)"


def _describe(values: SearchValues) -> str:
    if isinstance(values, Choice):
        return "one of " + ", ".join(map(str, values.choices))
    if isinstance(values, IntRange | FloatRange):
        return f"{values.low}..{values.high}"
    return str(values)


def _seed(plan: Mapping[str, Any], number: int, loaded: LoadedSpace, target: Target) -> Seed | None:
    """The new space's searched values of one old plan, or None when its chain is not in the space."""
    chain = tuple(plan.get("chain") or ())
    chains = [tuple(c) for c in loaded.space.chains]
    if chain not in chains:
        return None
    seed = Seed(number, {})
    if len(chains) > 1:
        seed.params[CHAIN_PARAM] = chain_label(chain)
    old: Mapping[str, Mapping[str, Any]] = plan.get("params") or {}
    forced = forced_upstream(chain)
    for name in chain:
        chosen: dict[str, Scalar] = {}
        for spec in get_pass(name).params:
            if spec.when is not None and not spec.when(chosen):
                continue
            values = chain_values(loaded, target, name, spec.name, forced)
            value = old.get(name, {}).get(spec.name, spec.default)
            if isinstance(values, Fixed):
                chosen[spec.name] = values.value
            elif allows(values, value):
                chosen[spec.name] = seed.params[f"{name}.{spec.name}"] = value
            else:  # sampled instead; the conditions of later parameters follow the old value
                chosen[spec.name] = value
                seed.dropped.append(f"{name}.{spec.name}={value} (this space: {_describe(values)})")
    return seed


def plan_seeds(
    report: Report, plans: Mapping[int, Mapping[str, Any]], loaded: LoadedSpace, target: Target
) -> tuple[list[Seed], list[str]]:
    """Seeds from the finished study's feasible front (its winner when none is feasible), and
    a line for each front trial whose chain the new space does not have."""
    numbers = report.front or ([report.winner] if report.winner is not None else [])
    seeds: list[Seed] = []
    skipped: list[str] = []
    for n in numbers:
        seed = _seed(plans.get(n) or {}, n, loaded, target)
        if seed is None:
            chain = ">".join((plans.get(n) or {}).get("chain") or ["?"])
            skipped.append(f"trial {n}: its chain {chain} is not one of this space's chains")
        elif seed.params not in [s.params for s in seeds]:
            seeds.append(seed)
    return seeds, skipped


def queue_seeds(study: optuna.Study, seeds: list[Seed], source: str) -> bool:
    """Enqueue ``seeds`` into ``study`` unless it was warm-started before; whether it queued."""
    if WARM_START_ATTR in study.user_attrs:
        return False
    for s in seeds:
        study.enqueue_trial(s.params, user_attrs={SEED_ATTR: f"{source} trial {s.source}"})
    study.set_user_attr(
        WARM_START_ATTR,
        {
            "from": source,
            "trials": [s.source for s in seeds],
            "dropped": {s.source: s.dropped for s in seeds},
        },
    )
    return True


def warm_start(
    source: Path, out: Path, loaded: LoadedSpace, target: Target, log: Callable[[str], None]
) -> Callable[[Any], None]:
    """``--from SOURCE``: read the finished study in ``source`` now (a bad folder fails before
    anything runs); the returned function queues its front into the new study once it is open."""
    from autotune.study.run import open_output

    if source == out:
        raise AutotuneError(
            f"--from {source}: that is this study's own folder; rerun without --from to resume it"
        )
    _, old, report, _ = open_output(source, None)
    plans = {t.number: t.user_attrs.get("plan") or {} for t in old.get_trials(deepcopy=False)}
    seeds, skipped = plan_seeds(report, plans, loaded, target)
    if not seeds:
        why = "; ".join(skipped) or "it has no complete trial"
        raise AutotuneError(f"--from {source}: nothing to seed this study with ({why})")

    def queue(study: Any) -> None:
        if not queue_seeds(study, seeds, str(source)):
            before = study.user_attrs[WARM_START_ATTR]["from"]
            log(f"warm start: this study was seeded from {before} when it began; not again")
            return
        log(
            f"warm start: {len(seeds)} trial(s) queued from {source}: "
            + ", ".join(f"trial {s.source}" for s in seeds)
        )
        for line in skipped + [f"trial {s.source}: {d}, sampled instead" for s in seeds for d in s.dropped]:
            log(f"  {line}")

    return queue
