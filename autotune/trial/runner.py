"""Executing one trial's plan: its passes through the cache (``autotune.trial.chain``), the
PyTorch gate and the fidelity rungs on the merged model, the built model's measurements
(``autotune.trial.measure``), and what fails a trial.

Nothing here knows Optuna: a plan goes in, an outcome (``autotune.trial.outcome``) comes out.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from autotune.cache import Cache
from autotune.errors import AutotuneError, InvalidCombination, StudyFatal
from autotune.inputs.data import TaskData
from autotune.inputs.models import PreparedModel
from autotune.passes import Artifact, Pass, PassContext, Rung, get_pass
from autotune.space.params import Scalar
from autotune.space.schema import Space
from autotune.targets import Target
from autotune.trial.chain import CachedPasses
from autotune.trial.measure import Measurer
from autotune.trial.outcome import Promote, RungRecord, TrialOutcome
from autotune.trial.plan import TrialPlan
from autotune.trial.progress import QuietReporter, Reporter

__all__ = ["TrialRunner"]


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
        self.passes = CachedPasses(cache, self.reporter)
        self.measure = Measurer(space=space, model=model, data=data, cache=cache, reporter=self.reporter)
        self.kind = self.measure.kind

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

    def confirm(self, model_path: Path, model_key: str, target: Target) -> dict[str, Any]:
        """The task kind's quality figures of a built model on the confirm split."""
        return self.measure.confirm(model_path, model_key, target)

    def _ctx(self, plan: TrialPlan) -> PassContext:
        return PassContext(self.model, self.data, plan.target, self.seed, plan.params, self.reporter.train)

    def _step(
        self, p: Pass, source: Artifact, params: Mapping[str, Scalar], ctx: PassContext, outcome: TrialOutcome
    ) -> Artifact:
        made, record = self.passes.run(p, source, params, ctx)
        outcome.steps.append(record)
        return made

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
        self.measure.built(source, plan.target, outcome)

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
        if self.passes.finished(p, source, params, ctx):
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
            output = self.measure.torch(merged, outcome)
            gate = self.kind.gate
            value = float(outcome.metrics[gate])
            go_on, why = promote(r, value, self.kind.per_example(output))
            history.append(RungRecord(p.budget, r, gate, value, go_on, why).to_attr())
            if not go_on:
                outcome.state, outcome.reason = "pruned", f"stopped at {r} of {budget} {p.budget}: {why}"
                return None
            resume = made.path
        return Rung(budget, resume) if resume is not None else None

    def _gate(self, merged: Artifact, outcome: TrialOutcome) -> bool:
        """Measure the PyTorch model; prune (True) if it misses a constraint the kind's gate
        bounds by more than its interval (the upper end of its 95% interval is below the
        threshold)."""
        self.measure.torch(merged, outcome)
        gate = self.kind.gate
        value, high = outcome.metrics[gate], outcome.metrics[f"{gate}_high"]
        missed = [
            c
            for c in self.space.constraints
            if c.metric in self.kind.gated and c.op == ">=" and high < c.value
        ]
        if not missed:
            return False
        outcome.state = "pruned"
        outcome.violations = {str(c): c.violation(value) for c in missed}
        outcome.reason = (
            f"PyTorch {gate.removeprefix('torch_')} {value:.3f} (95% interval up to {high:.3f}) misses "
            f"{', '.join(map(str, missed))}; build skipped"
        )
        return True
