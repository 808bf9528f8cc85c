"""Executing one trial's plan: cached steps, the PyTorch accuracy gate, the evaluators.

Nothing here knows Optuna: a plan goes in, an outcome comes out.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

from autotune.cache import Cache, CacheEntry
from autotune.data import TaskData
from autotune.errors import AutotuneError, InvalidCombination
from autotune.models import PreparedModel, load_tokenizer
from autotune.params import Scalar
from autotune.passes import Artifact, Pass, PassContext, get_pass
from autotune.planning import TrialPlan
from autotune.progress import QuietReporter, Reporter
from autotune.space import Space

__all__ = ["StepRecord", "TrialOutcome", "TrialRunner"]

State = Literal["complete", "pruned", "failed"]


@dataclass
class StepRecord:
    name: str
    key: str
    seconds: float
    cache_hit: bool


@dataclass
class TrialOutcome:
    state: State
    metrics: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)  # per-label recall, confusion, versions
    reason: str | None = None
    steps: list[StepRecord] = field(default_factory=list)
    artifact: str | None = None  # the final ONNX folder

    def to_attrs(self) -> dict[str, Any]:
        return {
            "steps": [asdict(s) for s in self.steps],
            "reason": self.reason,
            "artifact": self.artifact,
            "details": self.details,
        }


def _run_pass(
    p: Pass, source: Artifact, params: Mapping[str, Scalar], ctx: PassContext, out: Path
) -> dict[str, Any]:
    return p.run(source, params, ctx, out)


class TrialRunner:
    def __init__(
        self,
        *,
        space: Space,
        model: PreparedModel,
        data: TaskData,
        cache: Cache,
        seed: int,
        reporter: Reporter | None = None,
    ) -> None:
        self.space, self.model, self.data, self.cache = space, model, data, cache
        self.seed = seed
        self.reporter: Reporter = reporter or QuietReporter(None)
        self._task: Any = None

    def eval_task(self) -> Any:
        from evaluators import EvalTask

        if self._task is None:
            tok = (
                load_tokenizer(self.model.path, self.model.trust_remote_code)
                if self.data.prompt.chat_user
                else None
            )
            examples = self.data.eval
            limit = self.space.evaluation.max_eval_rows
            if limit:
                examples = examples[:limit]
            self._task = EvalTask(
                prompts=tuple(self.data.prompt.render(e.text, tok) for e in examples),
                labels=tuple(e.label for e in examples),
                label_set=self.data.labels,
            )
        return self._task

    def run(self, plan: TrialPlan) -> TrialOutcome:
        outcome = TrialOutcome("complete")
        try:
            self._run(plan, outcome)
        except InvalidCombination as exc:
            outcome.state, outcome.reason = "failed", f"invalid: {exc}"
        except AutotuneError as exc:
            outcome.state, outcome.reason = "failed", str(exc)
        except Exception as exc:  # a step crashed: the trial fails, the study goes on
            where = traceback.extract_tb(exc.__traceback__)[-1]
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            outcome.state = "failed"
            outcome.reason = (
                f"{type(exc).__name__}: {first} ({where.filename.rsplit('/', 1)[-1]}:{where.lineno})"
            )
        return outcome

    def _ctx(self, plan: TrialPlan) -> PassContext:
        return PassContext(self.model, self.data, plan.target, self.seed, plan.params, self.reporter.train)

    def _run(self, plan: TrialPlan, outcome: TrialOutcome) -> None:
        ctx = self._ctx(plan)
        passes = [get_pass(name)() for name in plan.chain]
        for p in passes:  # every pass says no before any work is done
            p.check(plan.params[p.name], ctx)
        source = Artifact("hf", Path(self.model.path), self.model.fingerprint)
        for i, p in enumerate(passes):
            params = plan.params[p.name]
            key = self.cache.key(p.name, input=source.key, params=dict(params), **p.key_parts(params, ctx))
            entry = self.cache.get(p.name, key)
            self.reporter.step(p.name, entry is not None)
            if entry is None:
                entry = self.cache.produce(p.name, key, partial(_run_pass, p, source, params, ctx))
            outcome.steps.append(StepRecord(p.name, key, round(entry.seconds, 2), entry.hit))
            source = Artifact(p.output_kind, entry.path, key)
            next_is_onnx = i + 1 < len(passes) and passes[i + 1].output_kind == "onnx"
            if source.kind == "hf" and next_is_onnx and self._gate(source, outcome):
                return
        outcome.artifact = str(source.path)
        self._evaluate_onnx(source, plan, outcome)

    def _eval_cached(
        self, step: str, source: Artifact, fn: Callable[[], dict[str, Any]], **parts: Any
    ) -> CacheEntry:
        task = self.eval_task()
        key = self.cache.key(step, input=source.key, prompts=task.prompts, labels=task.labels, **parts)
        start = time.perf_counter()
        entry = self.cache.get(step, key)
        self.reporter.step(step, entry is not None)
        if entry is None:
            entry = self.cache.produce(step, key, lambda _out: fn())
        return CacheEntry(entry.path, key, entry.hit, time.perf_counter() - start, entry.meta)

    def _record(self, name: str, entry: CacheEntry, outcome: TrialOutcome) -> None:
        outcome.steps.append(StepRecord(name, entry.key, round(entry.seconds, 2), entry.hit))

    def _gate(self, merged: Artifact, outcome: TrialOutcome) -> bool:
        """Measure the PyTorch model; prune (True) if it already misses an accuracy constraint."""
        from evaluators import AccuracyEvaluator, ModelArtifact

        entry = self._eval_cached(
            "eval-torch",
            merged,
            lambda: AccuracyEvaluator().evaluate(ModelArtifact(merged.path, "hf"), self.eval_task()),
        )
        self._record("eval-torch", entry, outcome)
        acc = float(entry.meta["accuracy"])
        outcome.metrics["torch_accuracy"] = acc
        outcome.details["torch_per_label_recall"] = entry.meta.get("per_label_recall")
        for c in self.space.constraints:
            if c.metric in ("accuracy", "torch_accuracy") and c.violation(acc) > 0:
                outcome.state = "pruned"
                outcome.reason = f"PyTorch accuracy {acc:.3f} already misses {c}; build skipped"
                return True
        return False

    def _evaluate_onnx(self, model: Artifact, plan: TrialPlan, outcome: TrialOutcome) -> None:
        from evaluators import AccuracyEvaluator, LatencyEvaluator, ModelArtifact, SizeEvaluator

        provider: Literal["cpu", "cuda"] = "cuda" if plan.target.genai_provider == "cuda" else "cpu"
        artifact = ModelArtifact(model.path, "onnx-genai", provider)
        task = self.eval_task()
        acc = self._eval_cached(
            "eval-onnx",
            model,
            lambda: AccuracyEvaluator().evaluate(artifact, task),
            provider=provider,
        )
        self._record("eval-onnx", acc, outcome)
        ev = self.space.evaluation
        self.reporter.step("eval-latency", False)
        start = time.perf_counter()
        latency = LatencyEvaluator(
            warmup=ev.latency_warmup, repeats=ev.latency_repeats, max_prompts=ev.latency_prompts
        ).evaluate(artifact, task)
        outcome.steps.append(StepRecord("eval-latency", "", round(time.perf_counter() - start, 2), False))
        size = SizeEvaluator().evaluate(artifact, task)
        outcome.metrics.update(
            accuracy=float(acc.meta["accuracy"]),
            latency_p50_ms=float(latency["p50_ms"]),
            latency_p90_ms=float(latency["p90_ms"]),
            latency_mean_ms=float(latency["mean_ms"]),
            decode_tokens_per_s=float(latency["decode_tokens_per_s"]),
            prompt_tokens_per_s=float(latency["prompt_tokens_per_s"]),
            peak_rss_mb=float(latency["peak_rss_mb"]),
            size_mb=float(size["size_mb"]),
        )
        outcome.details.update(
            per_label_recall=acc.meta.get("per_label_recall"),
            confusion=acc.meta.get("confusion"),
            eval_rows=len(task.prompts),
            latency={k: v for k, v in latency.items() if k not in ("p50_ms", "p90_ms")},
        )
