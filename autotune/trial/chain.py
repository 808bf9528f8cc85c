"""A chain's passes run through the cache: each output is found under its content address (the
pass, its input's key, its parameters and what else it depends on) or made and stored there.

A resumable pass (a fine-tune) stopped at a fidelity rung short of its budget is an entry of its
own; its whole run has one key however it was reached, straight or resumed from a rung.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from autotune.cache import Cache, CacheEntry
from autotune.passes import Artifact, Pass, PassContext
from autotune.space.params import Scalar
from autotune.trial.progress import Reporter
from autotune.trial.steps import Step, StepRecord

__all__ = ["CachedPasses", "through_cache"]


def through_cache(
    cache: Cache, reporter: Reporter, step: Step, key: str, fn: Callable[[Path], dict[str, Any]]
) -> CacheEntry:
    """``step``'s entry under ``key`` from the cache, or made by ``fn`` and stored; ``reporter``
    is told the step and whether it was cached."""
    entry = cache.get(step.cache_folder, key)
    reporter.step(step.name, entry is not None)
    return entry if entry is not None else cache.produce(step.cache_folder, key, fn)


class CachedPasses:
    """Runs passes with ``cache``, telling ``reporter`` each step and whether it was cached."""

    def __init__(self, cache: Cache, reporter: Reporter) -> None:
        self.cache, self.reporter = cache, reporter

    def key(
        self,
        p: Pass,
        source: Artifact,
        params: Mapping[str, Scalar],
        ctx: PassContext,
        rung: int | None = None,
    ) -> str:
        """The cache key of ``p`` on ``source``: its whole run, or its run stopped at ``rung``."""
        parts = {**p.key_parts(params, ctx), **({"rung": rung} if rung is not None else {})}
        return self.cache.key(p.name, input=source.key, params=dict(params), **parts)

    def finished(self, p: Pass, source: Artifact, params: Mapping[str, Scalar], ctx: PassContext) -> bool:
        """Whether the whole run of ``p`` on ``source`` is in the cache."""
        return self.cache.get(p.name, self.key(p, source, params, ctx)) is not None

    def run(
        self, p: Pass, source: Artifact, params: Mapping[str, Scalar], ctx: PassContext
    ) -> tuple[Artifact, StepRecord]:
        """Pass ``p`` on ``source`` from the cache, or run and cached (only to ``ctx.rung``'s stop
        when that is short of its budget); its output and its step's record."""
        stop = ctx.rung.stop if ctx.rung is not None else None
        partial_run = stop is not None and p.budget is not None and stop < int(params[p.budget])
        step = Step.of_pass(p.name, stop if partial_run else None)
        key = self.key(p, source, params, ctx, step.rung)
        entry = through_cache(self.cache, self.reporter, step, key, partial(p.run, source, params, ctx))
        return Artifact(p.output_kind, entry.path, key), StepRecord(
            step, key, round(entry.seconds, 2), entry.hit
        )
