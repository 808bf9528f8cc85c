"""Measuring the models a chain makes, as the space's task kind says (``autotune.task_kinds``).

The merged PyTorch model on the search split (cheap: the gate and the fidelity rungs read it),
the built model's quality, latency and size on the search split, and its quality on the confirm
split once the search is over. A quality measurement is cached like a pass, under the model's key
and what the kind says it depends on; latency is measured each time (it is this machine's now).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autotune.cache import Cache, CacheEntry
from autotune.inputs.data import TaskData
from autotune.inputs.models import PreparedModel
from autotune.passes import Artifact
from autotune.space.metrics import collect
from autotune.space.schema import Space
from autotune.targets import Target
from autotune.task_kinds import get_task_kind
from autotune.task_kinds.metric_spec import Source
from autotune.trial.chain import through_cache
from autotune.trial.outcome import TrialOutcome
from autotune.trial.progress import Reporter
from autotune.trial.splits import Split, eval_task
from autotune.trial.steps import EVAL_CONFIRM, EVAL_LATENCY, EVAL_ONNX, EVAL_TORCH, Step, StepRecord

if TYPE_CHECKING:
    from evaluators import ModelArtifact

__all__ = ["Measurer"]


def _record(step: Step, entry: CacheEntry) -> StepRecord:
    return StepRecord(step, entry.key, round(entry.seconds, 2), entry.hit)


class Measurer:
    """The measurements of one space's task kind on its prepared model and data."""

    def __init__(
        self, *, space: Space, model: PreparedModel, data: TaskData, cache: Cache, reporter: Reporter
    ) -> None:
        self.space, self.model, self.data, self.cache = space, model, data, cache
        self.reporter = reporter
        self.kind = get_task_kind(space.task)
        self._tasks: dict[Split, Any] = {}

    def task(self, split: Split) -> Any:
        """A split as the evaluators take it, built once."""
        if split not in self._tasks:
            self._tasks[split] = eval_task(self.space, self.model, self.data, split)
        return self._tasks[split]

    def _cached(
        self,
        step: Step,
        source: Artifact,
        task: Any,
        fn: Callable[[], dict[str, Any]],
        **parts: Any,
    ) -> CacheEntry:
        """``fn``'s output from the cache, or measured and cached; its seconds those spent here."""
        key = self.cache.key(step.name, input=source.key, **self.kind.cache_parts(task), **parts)
        start = time.perf_counter()
        entry = through_cache(self.cache, self.reporter, step, key, lambda _out: fn())
        return CacheEntry(entry.path, key, entry.hit, time.perf_counter() - start, entry.meta)

    def torch(self, merged: Artifact, outcome: TrialOutcome) -> dict[str, Any]:
        """The merged PyTorch model on the search split, recorded in ``outcome``; the kind's output
        (its per-example outcomes judge a rung)."""
        from evaluators import ModelArtifact

        task = self.task("search")
        entry = self._cached(
            EVAL_TORCH, merged, task, lambda: self.kind.measure_torch(ModelArtifact(merged.path, "hf"), task)
        )
        outcome.steps.append(_record(EVAL_TORCH, entry))
        outcome.metrics.update(collect("eval-torch", entry.meta, self.kind.name))
        outcome.details.update(self.kind.details(entry.meta, torch=True))
        return entry.meta

    def built(self, model: Artifact, target: Target, outcome: TrialOutcome) -> None:
        """The built model's quality, latency and size on the search split, recorded in ``outcome``."""
        from evaluators import SizeEvaluator

        artifact = self._onnx_artifact(model.path, target)
        task = self.task("search")
        quality = self._cached(
            EVAL_ONNX,
            model,
            task,
            lambda: self.kind.measure(artifact, task),
            provider=artifact.placement.label,
        )
        outcome.steps.append(_record(EVAL_ONNX, quality))
        self.reporter.step(EVAL_LATENCY.name, False)
        start = time.perf_counter()
        latency = self.kind.latency(artifact, task, self.space.evaluation)
        outcome.steps.append(StepRecord(EVAL_LATENCY, "", round(time.perf_counter() - start, 2), False))
        size = SizeEvaluator().evaluate(artifact)
        outputs: tuple[tuple[Source, Mapping[str, Any]], ...] = (
            ("eval-onnx", quality.meta),
            ("latency", latency),
            ("size", size),
        )
        for source, output in outputs:
            outcome.metrics.update(collect(source, output, self.kind.name))
        outcome.details.update(
            self.kind.details(quality.meta),
            eval_rows=len(task.prompts),
            latency={k: v for k, v in latency.items() if k not in ("p50_ms", "p90_ms")},
        )
        if (scoring := self.kind.scoring(task)) is not None:
            outcome.details["scoring"] = scoring

    def confirm(self, model_path: Path, model_key: str, target: Target) -> dict[str, Any]:
        """The task kind's quality figures of a built model on the confirm split (cached like
        every evaluation)."""
        artifact = self._onnx_artifact(model_path, target)
        task = self.task("confirm")
        entry = self._cached(
            EVAL_CONFIRM,
            Artifact("onnx", model_path, model_key),
            task,
            lambda: self.kind.measure(artifact, task),
            provider=artifact.placement.label,
        )
        return {
            "metrics": collect("eval-confirm", entry.meta, self.kind.name),
            "n": int(entry.meta["n"]),
            **self.kind.details(entry.meta),
        }

    @staticmethod
    def _onnx_artifact(path: Path, target: Target) -> ModelArtifact:
        from evaluators import ModelArtifact

        return ModelArtifact(path, "onnx-genai", target.placement())
