"""Executing one trial's plan: cached steps, the PyTorch gate, the evaluators.

Nothing here knows Optuna: a plan goes in, an outcome comes out. What is measured, and how,
the space's task kind says (``autotune.task_kinds``).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Literal

from autotune.cache import Cache, CacheEntry
from autotune.errors import AutotuneError, InvalidCombination, StudyFatal
from autotune.inputs.data import TaskData
from autotune.inputs.models import PreparedModel
from autotune.passes import Artifact, Pass, PassContext, Rung, get_pass
from autotune.space.metrics import collect
from autotune.space.params import Scalar
from autotune.space.schema import Space
from autotune.targets import Target
from autotune.task_kinds import PerExample, get_task_kind
from autotune.trial.plan import TrialPlan
from autotune.trial.progress import QuietReporter, Reporter
from autotune.trial.splits import Split, eval_task

__all__ = ["Promote", "StepRecord", "TrialOutcome", "TrialRunner"]

State = Literal["complete", "pruned", "failed"]
# (rung, the kind's PyTorch gate metric there, its per-example outcomes) -> (go on?, why):
# multi-fidelity promotion
Promote = Callable[[int, float, PerExample], tuple[bool, str]]


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
    # Constraint violations known for a pruned trial (Optuna's convention: > 0 means missed).
    violations: dict[str, float] = field(default_factory=dict)
    crashed: bool = False  # a step raised something no pass declares (a bug, a broken environment)

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
        self.kind = get_task_kind(space.task)
        self._last_torch: dict[str, Any] = {}  # the latest "eval-torch" output (a rung judges it)
        self._tasks: dict[Split, Any] = {}

    def _task(self, split: Split) -> Any:
        """A split as an EvalTask, built once per runner."""
        if split not in self._tasks:
            self._tasks[split] = eval_task(self.space, self.model, self.data, split)
        return self._tasks[split]

    def run(self, plan: TrialPlan, promote: Promote | None = None) -> TrialOutcome:
        """Run ``plan``. With ``promote`` and the space's fidelity rungs, a resumable pass (a
        fine-tune) stops at each rung, its merged model is scored in PyTorch, and ``promote``
        (rung, that result) says whether it goes on; the constraints gate only the whole run."""
        outcome = TrialOutcome("complete")
        try:
            self._run(plan, outcome, promote)
        except StudyFatal:  # every trial would fail so: the study loop ends the study
            raise
        except InvalidCombination as exc:
            outcome.state, outcome.reason = "failed", f"invalid: {exc}"
        except AutotuneError as exc:
            outcome.state, outcome.reason = "failed", str(exc)
        except Exception as exc:  # a step crashed: the trial fails, the study goes on
            where = traceback.extract_tb(exc.__traceback__)[-1]
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            outcome.state, outcome.crashed = "failed", True
            outcome.reason = (
                f"{type(exc).__name__}: {first} ({where.filename.rsplit('/', 1)[-1]}:{where.lineno})"
            )
        return outcome

    def _ctx(self, plan: TrialPlan) -> PassContext:
        return PassContext(self.model, self.data, plan.target, self.seed, plan.params, self.reporter.train)

    def _run(self, plan: TrialPlan, outcome: TrialOutcome, promote: Promote | None = None) -> None:
        ctx = self._ctx(plan)
        passes = [get_pass(name)() for name in plan.chain]
        for p in passes:  # every pass says no before any work is done
            p.check(plan.params[p.name], ctx)
        source = Artifact("hf", Path(self.model.path), self.model.fingerprint)
        for i, p in enumerate(passes):
            params = plan.params[p.name]
            rung = None
            if promote is not None:
                rung = self._climb(p, passes[i + 1 :], source, params, ctx, outcome, promote)
                if outcome.state != "complete":
                    return
            source = self._step(p, source, params, replace(ctx, rung=rung), outcome)
            next_is_onnx = i + 1 < len(passes) and passes[i + 1].output_kind == "onnx"
            if source.kind == "hf" and next_is_onnx and self._gate(source, outcome):
                return
        outcome.artifact = str(source.path)
        self._evaluate_onnx(source, plan, outcome)

    def _step(
        self, p: Pass, source: Artifact, params: Mapping[str, Scalar], ctx: PassContext, outcome: TrialOutcome
    ) -> Artifact:
        """Pass ``p`` on ``source`` from the cache, or run and cached. A rung short of the whole
        budget is its own cache entry; the whole run has one key however it was reached."""
        stop = ctx.rung.stop if ctx.rung is not None else None
        partial_run = stop is not None and p.budget is not None and stop < int(params[p.budget])
        parts = {**p.key_parts(params, ctx), **({"rung": stop} if partial_run else {})}
        key = self.cache.key(p.name, input=source.key, params=dict(params), **parts)
        name = f"{p.name}@{stop}" if partial_run else p.name
        entry = self.cache.get(p.name, key)
        self.reporter.step(name, entry is not None)
        if entry is None:
            entry = self.cache.produce(p.name, key, partial(_run_pass, p, source, params, ctx))
        outcome.steps.append(StepRecord(name, key, round(entry.seconds, 2), entry.hit))
        return Artifact(p.output_kind, entry.path, key)

    def _climb(
        self,
        p: Pass,
        after: list[Pass],
        source: Artifact,
        params: Mapping[str, Scalar],
        ctx: PassContext,
        outcome: TrialOutcome,
        promote: Promote,
    ) -> Rung | None:
        """Run ``p`` rung by rung, judging each; the Rung the whole run resumes from, or None
        (no rungs). A run that is not promoted leaves ``outcome`` pruned with the reason."""
        fidelity = self.space.study.fidelity
        if fidelity is None or p.budget is None:
            return None
        budget = int(params[p.budget])
        whole = self.cache.key(p.name, input=source.key, params=dict(params), **p.key_parts(params, ctx))
        if self.cache.get(p.name, whole) is not None:
            return None  # this run was finished (and promoted) before: no rung to judge again
        rungs = [r for r in fidelity.rungs if r < budget]
        resume: Path | None = None
        history = outcome.details.setdefault("rungs", [])
        for r in rungs:
            made = self._step(p, source, params, replace(ctx, rung=Rung(r, resume)), outcome)
            merged = made
            for q in after:  # the passes up to the merged model (the merge), on this rung's run
                if q.output_kind == "onnx":
                    break
                merged = self._step(q, merged, ctx.upstream[q.name], ctx, outcome)
            if merged.kind != "hf":
                return None  # nothing to score between this pass and the ONNX side
            # a rung is mid-schedule: the constraints judge the whole run, the peers judge this
            self._gate(merged, outcome, judge=False)
            gate = self.kind.gate
            value = float(outcome.metrics[gate])
            go_on, why = promote(r, value, self.kind.per_example(self._last_torch))
            history.append({p.budget: r, gate: value, "go_on": go_on, "why": why})
            if not go_on:
                outcome.state, outcome.reason = "pruned", f"stopped at {r} of {budget} {p.budget}: {why}"
                return None
            resume = made.path
        return Rung(budget, resume) if resume is not None else None

    def _eval_cached(
        self, step: str, source: Artifact, task: Any, fn: Callable[[], dict[str, Any]], **parts: Any
    ) -> CacheEntry:
        key = self.cache.key(step, input=source.key, **self.kind.cache_parts(task), **parts)
        start = time.perf_counter()
        entry = self.cache.get(step, key)
        self.reporter.step(step, entry is not None)
        if entry is None:
            entry = self.cache.produce(step, key, lambda _out: fn())
        return CacheEntry(entry.path, key, entry.hit, time.perf_counter() - start, entry.meta)

    def _record(self, name: str, entry: CacheEntry, outcome: TrialOutcome) -> None:
        outcome.steps.append(StepRecord(name, entry.key, round(entry.seconds, 2), entry.hit))

    def _gate(self, merged: Artifact, outcome: TrialOutcome, judge: bool = True) -> bool:
        """Measure the PyTorch model; prune (True) if it misses a constraint the kind's gate
        bounds by more than its interval (the upper end of its 95% interval is below the
        threshold). With ``judge`` false (a rung: the run has more steps to come) it only
        measures."""
        from evaluators import ModelArtifact

        task = self._task("search")
        entry = self._eval_cached(
            "eval-torch",
            merged,
            task,
            lambda: self.kind.measure_torch(ModelArtifact(merged.path, "hf"), task),
        )
        self._record("eval-torch", entry, outcome)
        self._last_torch = entry.meta
        outcome.metrics.update(collect("eval-torch", entry.meta))
        outcome.details.update(self.kind.details(entry.meta, torch=True))
        gate = self.kind.gate
        value, high = outcome.metrics[gate], outcome.metrics[f"{gate}_high"]
        missed = [
            c
            for c in self.space.constraints
            if c.metric in self.kind.gated and c.op == ">=" and high < c.value
        ]
        if not missed or not judge:
            return False
        outcome.state = "pruned"
        outcome.violations = {str(c): c.violation(value) for c in missed}
        outcome.reason = (
            f"PyTorch {gate.removeprefix('torch_')} {value:.3f} (95% interval up to {high:.3f}) misses "
            f"{', '.join(map(str, missed))}; build skipped"
        )
        return True

    def _evaluate_onnx(self, model: Artifact, plan: TrialPlan, outcome: TrialOutcome) -> None:
        from evaluators import SizeEvaluator

        artifact = self._onnx_artifact(model.path, plan.target)
        task = self._task("search")
        quality = self._eval_cached(
            "eval-onnx",
            model,
            task,
            lambda: self.kind.measure(artifact, task),
            provider=artifact.placement.label,
        )
        self._record("eval-onnx", quality, outcome)
        self.reporter.step("eval-latency", False)
        start = time.perf_counter()
        latency = self.kind.latency(artifact, task, self.space.evaluation)
        outcome.steps.append(StepRecord("eval-latency", "", round(time.perf_counter() - start, 2), False))
        size = SizeEvaluator().evaluate(artifact)
        for source, output in (("eval-onnx", quality.meta), ("latency", latency), ("size", size)):
            outcome.metrics.update(collect(source, output))  # type: ignore[arg-type]
        outcome.details.update(
            self.kind.details(quality.meta),
            eval_rows=len(task.prompts),
            latency={k: v for k, v in latency.items() if k not in ("p50_ms", "p90_ms")},
        )
        if hasattr(task, "method"):
            outcome.details["scoring"] = {"method": task.method, "normalize": task.normalize}

    @staticmethod
    def _onnx_artifact(path: Path, target: Target) -> Any:
        from evaluators import ModelArtifact

        return ModelArtifact(path, "onnx-genai", target.placement())

    def confirm(self, model_path: Path, model_key: str, target: Target) -> dict[str, Any]:
        """The task kind's quality figures of a built model on the confirm split (cached like
        every evaluation)."""
        artifact = self._onnx_artifact(model_path, target)
        task = self._task("confirm")
        entry = self._eval_cached(
            "eval-confirm",
            Artifact("onnx", model_path, model_key),
            task,
            lambda: self.kind.measure(artifact, task),
            provider=artifact.placement.label,
        )
        return {
            "metrics": collect("eval-confirm", entry.meta),
            "n": int(entry.meta["n"]),
            **self.kind.details(entry.meta),
        }
