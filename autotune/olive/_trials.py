"""An Olive config's builds as trials of the study: each queued once when the config runs as
written, and each trial named by the build it runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from autotune.passes import get_pass
from autotune.space.params import Fixed, SearchValues, allows, parse_values
from autotune.trial.plan import CHAIN_PARAM, forced_upstream

if TYPE_CHECKING:
    import optuna

    from autotune.load.space_file import LoadedSpace
    from autotune.space.schema import Space

__all__ = ["build_namer", "queue_builds"]


def _builds(space: Space) -> dict[str, dict[str, Any]]:
    return dict((space.olive or {}).get("builds") or {})


def _build_values(build: dict[str, Any], name: str, param: str) -> SearchValues:
    """What build ``build`` gives ``name.param``, as search values."""
    spec = next(s for s in get_pass(name).params if s.name == param)
    return parse_values(spec, build["passes"].get(name, {}).get(param))


def queue_builds(loaded: LoadedSpace, study: optuna.Study) -> int:
    """Queue every build of an Olive config run without search once, with its own values (a build
    already in the study is not queued again); returns how many builds were queued.

    The space holds the union of the builds' values, so that sampling would mix them; the queue
    runs each build exactly as written. Call it once the study is open, before its trials run."""
    space = loaded.space
    builds = _builds(space)
    if not builds or (space.olive or {}).get("search"):
        return 0
    queued: list[dict[str, Any]] = []
    for build in builds.values():
        chain = list(build["chain"])
        params: dict[str, Any] = {}
        if len(space.chains) > 1:
            params[CHAIN_PARAM] = ">".join(chain)
        forced = {(up, k) for up, fixed in forced_upstream(tuple(chain)).items() for k in fixed}
        for name in chain:
            for param, values in loaded.values[name].items():
                mine = _build_values(build, name, param)
                if isinstance(values, Fixed) or (name, param) in forced or not isinstance(mine, Fixed):
                    continue  # not sampled in this chain, or overridden on the command line
                if allows(values, mine.value):
                    params[f"{name}.{param}"] = mine.value
        if params not in queued:
            queued.append(params)
            study.enqueue_trial(params, skip_if_exists=True)
    return len(queued)


def build_namer(space: Space) -> Callable[[list[str], dict[str, dict[str, Any]]], str | None]:
    """``(chain, pass -> param -> value) -> "int4"``: the build(s) of an Olive config whose chain
    and values a trial has ("a|b" for identical builds; None: none, e.g. a search mixing two)."""
    from autotune.load.space_file import resolve_pass_values

    builds = _builds(space)
    searched = {
        (name, param)
        for name, vals in resolve_pass_values(space).items()
        for param, v in vals.items()
        if not isinstance(v, Fixed)
    }  # a value fixed for the whole study (by an override, say) tells no build from another

    def name(chain: list[str], params: dict[str, dict[str, Any]]) -> str | None:
        found = [
            build
            for build, b in builds.items()
            if list(b["chain"]) == chain
            and all(
                allows(_build_values(b, p, k), v)
                for p, values in params.items()
                for k, v in values.items()
                if (p, k) in searched
            )
        ]
        return "|".join(found) or None

    return name
