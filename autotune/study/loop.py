"""The Optuna loop: ask for a plan, hand it to the runner, tell the outcome. Nothing else."""

from __future__ import annotations

import os
import socket
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from autotune.cache import Cache
from autotune.errors import AutotuneError, StudyFatal
from autotune.inputs.data import data_summary, load_task_data
from autotune.inputs.models import prepare_model
from autotune.load.space_file import LoadedSpace
from autotune.report.build import build_report
from autotune.selection.convergence import ENDED_ATTR, REPEATED_ERRORS, Ending, Progress, progress
from autotune.selection.fidelity import RUNG_ATTR, RungResult, promotion
from autotune.space.schema import Space
from autotune.study.confirm import confirm_front
from autotune.study.liveness import process_identity
from autotune.study.storage import (
    INTERRUPTED,
    SPENT_PREFIX,
    budget_spent,
    default_storage,
    fail_lost_trials,
    heartbeat,
    open_study,
    trial_tally,
)
from autotune.targets import TARGETS, Target, get_target
from autotune.task_kinds import PerExample
from autotune.trial.outcome import Promote, TrialOutcome
from autotune.trial.plan import TrialPlan, plan_trial, searched_names, sweep_variants
from autotune.trial.progress import Reporter, metrics_text
from autotune.trial.runner import TrialRunner

__all__ = ["StudyRun", "make_runner", "pick_target", "run_study"]


@dataclass(frozen=True)
class StudyRun:
    study: optuna.Study
    target: Target
    seconds: float
    new_trials: int
    interrupted: bool = False
    fatal: str | None = None  # the error that ended the study at once (autotune.errors.StudyFatal)


def pick_target(loaded: LoadedSpace, name: str | None) -> Target:
    names = [t.name for t in loaded.space.targets]
    if name is not None:
        if name not in names:
            raise AutotuneError(f"--target {name}: the space declares only {', '.join(names)}")
        target = get_target(name)
        if lacks := target.missing():
            raise AutotuneError(f"--target {name}: not available on this machine: {lacks}")
        return target
    reasons = []
    for n in names:  # the first declared target this machine can run
        if not (lacks := TARGETS[n].missing()):
            return TARGETS[n]
        reasons.append(f"{n}: {lacks}")
    raise AutotuneError(f"none of the space's targets runs on this machine ({'; '.join(reasons)})")


def _tell(study: optuna.Study, trial: optuna.Trial, space: Space, outcome: TrialOutcome) -> None:
    for key, value in outcome.to_attrs().items():
        trial.set_user_attr(key, value)
    trial.set_user_attr("metrics", outcome.metrics)
    if outcome.state == "complete":
        named = [o.metric for o in space.objectives] + [c.metric for c in space.constraints]
        if missing := sorted({m for m in named if outcome.metrics.get(m) is None}):
            raise ValueError(
                f"{', '.join(missing)} not measured for this trial; the space's objectives and "
                "constraints should name metrics every trial measures"
            )
        for c in space.constraints:
            trial.set_constraint(str(c), c.violation(float(outcome.metrics[c.metric])))
        study.tell(trial, [float(outcome.metrics[o.metric]) for o in space.objectives])
    elif outcome.state == "pruned":
        # The sampler reads how far a pruned trial missed (TPE ranks infeasible trials by it).
        for name, violation in outcome.violations.items():
            trial.set_constraint(name, violation)
        study.tell(trial, state=TrialState.PRUNED)
    else:
        study.tell(trial, state=TrialState.FAIL)


def _sweep(study: optuna.Study, trial: optuna.Trial, plan: TrialPlan, loaded: LoadedSpace) -> None:
    """Queue the same fine-tune through every other chain and ONNX-side choice the target allows.

    These trials are cheap (the fine-tune and merge come from the cache) and show what each
    precision, block size or quantizer option costs this very model.
    """
    for params in sweep_variants(loaded, plan, trial.params):
        study.enqueue_trial(params, skip_if_exists=True)


def run_study(
    loaded: LoadedSpace,
    *,
    out_dir: Path,
    storage: str | None = None,
    target: Target,
    reporter: Reporter,
    cache_dir: Path | None = None,
    study: optuna.Study | None = None,
) -> StudyRun:
    """Run the study of ``loaded`` (``study``, when the caller opened it already) until done."""
    space = loaded.space
    out_dir.mkdir(parents=True, exist_ok=True)
    if study is None:
        study = open_study(loaded, storage or default_storage(out_dir), target)
    fail_lost_trials(study, space.study.heartbeat.max_retry)
    start = time.perf_counter()
    cache = Cache(cache_dir or out_dir / "cache")
    runner: TrialRunner | None = None

    def get_runner() -> TrialRunner:
        nonlocal runner
        if runner is None:
            runner = make_runner(loaded, study, cache, reporter)
        return runner

    new = 0
    if trial_tally(study).finished < space.study.n_trials:
        new, interrupted, fatal = _loop(study, loaded, target, get_runner(), reporter, start)
        if interrupted or fatal:
            return StudyRun(study, target, time.perf_counter() - start, new, interrupted, fatal)
    confirm_front(study, space, target, get_runner, reporter)
    return StudyRun(study, target, time.perf_counter() - start, new)


def make_runner(loaded: LoadedSpace, study: optuna.Study, cache: Cache, reporter: Reporter) -> TrialRunner:
    space = loaded.space
    source = space.model.model_dump(exclude_none=True, exclude_defaults=True)
    # cheap and checked first: before a model is made
    data = load_task_data(space.data, loaded.base_dir, space.task)
    reporter.message(f"preparing model {next(iter(source))}: {str(next(iter(source.values())))[:60]}")
    model = prepare_model(space.model, cache, loaded.base_dir)
    study.set_user_attr("labels", list(data.labels))
    study.set_user_attr("model_path", model.path)
    reporter.message(f"data: {data_summary(data, space.task)}")
    return TrialRunner(
        space=space, model=model, data=data, cache=cache, seed=space.study.seed, reporter=reporter
    )


def _loop(
    study: optuna.Study,
    loaded: LoadedSpace,
    target: Target,
    runner: TrialRunner,
    reporter: Reporter,
    start: float,
) -> tuple[int, bool, str | None]:
    """Ask, run, tell until n_trials or the timeout; (new trials, interrupted, the reason of an
    error that ended the study at once or None)."""
    space = loaded.space
    varying = searched_names(loaded)
    shown = _shown(space)
    reporter.study_started(trial_tally(study).counted, space.study.n_trials)
    new = errors = 0
    last_error = ""
    run_key = f"{SPENT_PREFIX}{socket.gethostname()}:{os.getpid()}:{int(time.time())}"
    ending: Ending = "n_trials"
    told: list[int] = []  # the stop rule was met with trials still queued (said once)
    waited: set[int] = set()  # other workers' running trials this run has said it waits for
    while True:
        # a worker lost on any machine: its trial is failed and queued again
        fail_lost_trials(study, space.study.heartbeat.max_retry)
        tally = trial_tally(study)
        if tally.finished >= space.study.n_trials:
            break
        if getattr(study.sampler, "exhausted", False):
            reporter.message("every combination of the grid has run: no new trial")
            ending = "grid"
            break
        study.set_user_attr(run_key, round(time.perf_counter() - start, 1))
        if space.study.timeout and budget_spent(study) > space.study.timeout:
            reporter.message(
                f"timeout of {space.study.timeout:g} s reached (the study's whole budget, every run "
                "and worker counted): no new trial"
            )
            ending = "timeout"
            break
        if tally.counted >= space.study.n_trials:  # the last trials run elsewhere
            _wait_for_others(study, space, reporter, waited)
            continue
        if space.study.stop and _converged(study, space, reporter, told):
            ending = "converged"
            break
        trial = study.ask()
        t0 = time.perf_counter()
        outcome: TrialOutcome | None = None
        try:
            with heartbeat(study, trial):
                for key, value in process_identity().items():  # whether it is lost: autotune.study.liveness
                    trial.set_user_attr(key, value)
                plan = plan_trial(trial, loaded, target)
                trial.set_user_attr("plan", plan.to_dict())
                reporter.trial_started(trial.number, plan.describe(varying))
                outcome = runner.run(plan, _promoter(study, trial, space))
                trial.set_user_attr("seconds", round(time.perf_counter() - t0, 2))
                _tell(study, trial, space, outcome)
        except KeyboardInterrupt:
            study.set_user_attr(run_key, round(time.perf_counter() - start, 1))
            trial.set_user_attr(INTERRUPTED, True)
            trial.set_user_attr("reason", "interrupted by the user")
            study.tell(trial, state=TrialState.FAIL)
            study.enqueue_trial(trial.params, skip_if_exists=False)
            _record_ending(study, space, "interrupted")
            return new, True, None
        except StudyFatal as exc:  # the model, the data or the machine: every trial would fail so
            reason = _fail(study, trial, exc)
            reporter.trial_finished(trial.number, f"failed: {reason}", _front_lines(study, shown))
            reporter.message(f"no new trial: every trial would fail so ({exc})")
            _record_ending(study, space, "fatal", str(exc))
            return new + 1, False, str(exc)
        except Exception as exc:  # planning or telling broke: this trial fails with it, the study goes on
            reason = _fail(study, trial, exc)
            new += 1
            reporter.trial_finished(trial.number, f"failed: {reason}", _front_lines(study, shown))
        else:
            new += 1
            reporter.trial_finished(
                trial.number,
                f"{_summary(outcome, shown)} ({time.perf_counter() - t0:.1f} s)",
                _front_lines(study, shown),
            )
            reason = str(outcome.reason) if outcome.crashed else ""
        # the same error, trial after trial, is a bug or a broken environment: stop spending on it
        errors, last_error = (errors + 1 if reason == last_error else 1) if reason else 0, reason
        if errors >= REPEATED_ERRORS:
            reporter.message(f"{errors} trials in a row failed with: {reason}; no new trial")
            ending = "errors"
            break
        if outcome is None:
            continue
        if (
            space.study.build_sweep
            and outcome.state == "complete"
            and outcome.steps
            and not outcome.steps[0].cache_hit
        ):
            _sweep(study, trial, plan, loaded)
    study.set_user_attr(run_key, round(time.perf_counter() - start, 1))
    _record_ending(study, space, ending, last_error if ending == "errors" else None)
    return new, False, None


# How often a run whose last trials run on other workers looks at them again.
WAIT_POLL_S = 1.0


def _wait_for_others(study: optuna.Study, space: Space, reporter: Reporter, waited: set[int]) -> None:
    """n_trials are asked but some still run on other workers: the study is not done until they
    finish, or until their worker is lost and they are run again (here, if this run is first)."""
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    new = [t for t in running if t.number not in waited]
    if new:
        beat = space.study.heartbeat
        reporter.message(
            "waiting for "
            + ", ".join(
                f"trial {t.number} (host {t.user_attrs.get('host', '?')}, pid {t.user_attrs.get('pid', '?')})"
                for t in new
            )
            + f": the study ends when it finishes; if its worker is lost, it runs again (a database "
            f"storage notices after {beat.grace} s without a heartbeat)"
        )
        waited.update(t.number for t in new)
    time.sleep(WAIT_POLL_S)


def _fail(study: optuna.Study, trial: optuna.Trial, exc: Exception) -> str:
    """Record ``exc`` on ``trial`` and fail it (if nothing told it yet); the one-line reason."""
    first = (str(exc).strip().splitlines() or [""])[0]
    reason = f"error: {type(exc).__name__}: {first}" if first else f"error: {type(exc).__name__}"
    try:
        trial.set_user_attr("reason", reason)
        trial.set_user_attr("traceback", traceback.format_exc()[-4000:])
    except Exception:  # told already: the error came after it
        return reason
    study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
    return reason


def _promoter(study: optuna.Study, trial: optuna.Trial, space: Space) -> Promote | None:
    """The promotion rule of the space's fidelity, judged against every trial at the same rung
    (stored on the trials, so workers sharing the storage judge against each other)."""
    fidelity = space.study.fidelity
    if fidelity is None:
        return None

    def promote(rung: int, value: float, outcomes: PerExample) -> tuple[bool, str]:
        attr = f"{RUNG_ATTR}{rung}"
        this = RungResult(trial.number, value, outcomes)
        trial.set_user_attr(attr, this.to_attr())
        peers = [
            RungResult.from_attr(t.number, t.user_attrs[attr])
            for t in study.get_trials(deepcopy=False)
            if attr in t.user_attrs and t.number != trial.number
        ]
        return promotion(this, peers, fidelity.eta, space.preference.significance)

    return promote


def _progress(study: optuna.Study, space: Space) -> Progress:
    rows = build_report(study, space).rows
    return progress(rows, space.objectives, space.preference, space.study.stop)


def _converged(study: optuna.Study, space: Space, reporter: Reporter, told: list[int]) -> bool:
    """Whether the stop rule ends the study now. It ends between fine-tunes: trials already
    queued (a trained fine-tune's builds, each a fraction of the fine-tune that was paid for;
    warm-start seeds) run first, within the timeout. ``told``: the loop's record that the rule
    was met with trials still queued, so that is said once."""
    p = _progress(study, space)
    queued = len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
    if p.converged and queued:
        if not told:
            told.append(p.since)
            reporter.message(
                f"the stop rule is met (the winner has not moved beyond noise in {p.since} trials); "
                f"the {queued} trial(s) already queued run first"
            )
        return False
    if p.converged:
        reporter.message(
            f"converged: the winner has not moved beyond noise in {p.since} trials "
            f"(last moved by trial {p.last_improvement}); no new trial"
        )
    return p.converged


def _record_ending(study: optuna.Study, space: Space, ending: Ending, reason: str | None = None) -> None:
    """How the loop ended (with the error that ended it), with the winner's progress, for the report."""
    p = _progress(study, space)
    tally = trial_tally(study)
    study.set_user_attr(
        ENDED_ATTR,
        {
            "why": ending,
            "finished": tally.finished,
            "states": tally.states(),
            "last_improvement": p.last_improvement,
            "since": p.since,
            "improvements": p.improvements,
            "rule": space.study.stop.model_dump() if space.study.stop else None,
            "rule_met": p.converged,
            **({"reason": reason} if reason else {}),
        },
    )


def _shown(space: Space) -> list[str]:
    """The metrics progress lines show: the objectives', then the constraints'."""
    return list(dict.fromkeys([o.metric for o in space.objectives] + [c.metric for c in space.constraints]))


def _front_lines(study: optuna.Study, shown: list[str]) -> list[str]:
    """The feasible Pareto front so far, one short line per trial."""
    try:
        front = study.best_trials
    except (RuntimeError, ValueError):
        return []
    return [
        f"trial {t.number}: {metrics_text(t.user_attrs.get('metrics', {}), shown)}"
        for t in sorted(front, key=lambda t: t.number)
        if all(v <= 0 for v in t.constraints.values())
    ]


def _summary(outcome: TrialOutcome, shown: list[str]) -> str:
    hits = sum(s.cache_hit for s in outcome.steps)
    cached = f", {hits}/{len(outcome.steps)} steps cached" if outcome.steps else ""
    if outcome.state != "complete":
        return f"{outcome.state}: {outcome.reason}{cached}"
    return f"{metrics_text(outcome.metrics, shown)}{cached}"
