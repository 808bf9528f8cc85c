"""The Optuna loop: ask for a plan, hand it to the runner, tell the outcome. Nothing else."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from autotune.cache import Cache
from autotune.confirm import confirm_front
from autotune.data import load_task_data
from autotune.errors import AutotuneError
from autotune.models import prepare_model
from autotune.planning import TrialPlan, plan_trial, searched_names, sweep_variants
from autotune.progress import Reporter
from autotune.runner import TrialOutcome, TrialRunner
from autotune.sampler import make_sampler
from autotune.space import Space
from autotune.space_file import LoadedSpace
from autotune.targets import TARGETS, Target, get_target

__all__ = ["StudyRun", "default_storage", "open_study", "pick_target", "run_study"]

INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class StudyRun:
    study: optuna.Study
    target: Target
    seconds: float
    new_trials: int
    interrupted: bool = False


def default_storage(out_dir: Path) -> str:
    return f"sqlite:///{(out_dir / 'study.db').resolve()}"


def pick_target(loaded: LoadedSpace, name: str | None) -> Target:
    names = [t.name for t in loaded.space.targets]
    if name is not None:
        if name not in names:
            raise AutotuneError(f"--target {name}: the space declares only {', '.join(names)}")
        target = get_target(name)
        if not target.available():
            raise AutotuneError(
                f"--target {name}: not available on this machine (no {target.execution_provider})"
            )
        return target
    for n in names:  # the first declared target this machine can run
        if TARGETS[n].available():
            return TARGETS[n]
    raise AutotuneError(f"none of the space's targets ({', '.join(names)}) runs on this machine")


def _space_digest(loaded: LoadedSpace) -> str:
    # What the trials depend on; study.*, the preference and the texts may change on resume.
    report_only = ("study", "description", "evaluation", "preference", "olive")
    shape = {k: v for k, v in loaded.raw.items() if k not in report_only}
    return hashlib.sha256(json.dumps(shape, sort_keys=True, default=str).encode()).hexdigest()[:16]


def open_study(loaded: LoadedSpace, storage: str, target: Target, *, create: bool = True) -> optuna.Study:
    space = loaded.space
    name = space.study.name or f"{space.name}-{target.name}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for attempt in range(5):
        try:
            if not create:
                return optuna.load_study(study_name=name, storage=storage, sampler=make_sampler(space))
            study = optuna.create_study(
                study_name=name,
                storage=storage,
                sampler=make_sampler(space),
                load_if_exists=True,
                directions=[o.direction for o in space.objectives],
            )
            break
        except (ImportError, ModuleNotFoundError) as exc:
            raise AutotuneError(
                f"storage {storage}: driver missing ({exc}); for PostgreSQL: pip install 'autotune[postgres]'"
            ) from None
        except KeyError:
            raise AutotuneError(f"storage {storage}: no study named {name!r}") from None
        except Exception as exc:
            # Workers starting together on an empty PostgreSQL database race to create Optuna's
            # tables; the loser gets a unique violation and finds the tables on a second try.
            if type(exc).__name__ == "IntegrityError" and attempt < 4:
                time.sleep(0.5 * (attempt + 1))
                continue
            if "OperationalError" in type(exc).__name__ or "sqlalchemy" in type(exc).__module__:
                first = str(exc).splitlines()[0]
                raise AutotuneError(f"storage {storage}: cannot open it ({first})") from None
            raise
    digest = _space_digest(loaded)
    stored = study.user_attrs.get("space_digest")
    if stored is None:
        study.set_user_attr("space_digest", digest)
        study.set_user_attr("space", loaded.raw)
        study.set_user_attr("space_path", str(loaded.path))
        study.set_user_attr("target", target.name)
    elif stored != digest:
        raise AutotuneError(
            f"study {name!r} in {storage} was made from a different space; change only study.* to "
            "resume it, or use another --out / study.name"
        )
    return study


def _recover(study: optuna.Study) -> None:
    """Mark trials left RUNNING by a dead process of this host as failed (interrupted)."""
    host = socket.gethostname()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = t.user_attrs.get("pid")
        if t.user_attrs.get("host") != host or not isinstance(pid, int) or _alive(pid):
            continue
        # Optuna has no public way to annotate another process's trial; attrs go first, since a
        # finished trial can no longer be written.
        study._storage.set_trial_user_attr(t._trial_id, INTERRUPTED, True)
        study._storage.set_trial_user_attr(t._trial_id, "reason", "interrupted (process ended)")
        study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
        study.enqueue_trial(t.params, skip_if_exists=False)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def counted_trials(study: optuna.Study) -> int:
    """Trials that count towards n_trials: finished or running, not those cut by an interruption."""
    return sum(
        1
        for t in study.get_trials(deepcopy=False)
        if t.state != TrialState.WAITING and not t.user_attrs.get(INTERRUPTED)
    )


def _tell(study: optuna.Study, trial: optuna.Trial, space: Space, outcome: TrialOutcome) -> None:
    for key, value in outcome.to_attrs().items():
        trial.set_user_attr(key, value)
    trial.set_user_attr("metrics", outcome.metrics)
    if outcome.state == "complete":
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
) -> StudyRun:
    space = loaded.space
    out_dir.mkdir(parents=True, exist_ok=True)
    storage = storage or default_storage(out_dir)
    study = open_study(loaded, storage, target)
    _recover(study)
    start = time.perf_counter()
    cache = Cache(out_dir / "cache")
    runner: TrialRunner | None = None

    def get_runner() -> TrialRunner:
        nonlocal runner
        if runner is None:
            runner = _make_runner(loaded, study, cache, reporter)
        return runner

    new = 0
    if counted_trials(study) < space.study.n_trials:
        new, interrupted = _loop(study, loaded, target, get_runner(), reporter, start)
        if interrupted:
            return StudyRun(study, target, time.perf_counter() - start, new, interrupted=True)
    confirm_front(study, space, target, get_runner, reporter)
    return StudyRun(study, target, time.perf_counter() - start, new)


def _make_runner(loaded: LoadedSpace, study: optuna.Study, cache: Cache, reporter: Reporter) -> TrialRunner:
    space = loaded.space
    source = space.model.model_dump(exclude_none=True, exclude_defaults=True)
    reporter.message(f"preparing model {next(iter(source))}: {str(next(iter(source.values())))[:60]}")
    model = prepare_model(space.model, cache, loaded.base_dir)
    data = load_task_data(space.data, loaded.base_dir)
    study.set_user_attr("labels", list(data.labels))
    study.set_user_attr("model_path", model.path)
    reporter.message(
        f"data: {len(data.train)} train / {len(data.eval)} search / {len(data.confirm)} confirm rows, "
        f"labels {', '.join(data.labels)}"
    )
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
) -> tuple[int, bool]:
    """Ask, run, tell until n_trials or the timeout; (new trials, interrupted)."""
    space = loaded.space
    varying = searched_names(loaded)
    reporter.study_started(counted_trials(study), space.study.n_trials)
    new = 0
    while counted_trials(study) < space.study.n_trials:
        if getattr(study.sampler, "exhausted", False):
            reporter.message("every combination of the grid has run: no new trial")
            break
        if space.study.timeout and time.perf_counter() - start > space.study.timeout:
            reporter.message(f"timeout of {space.study.timeout:g} s reached: no new trial")
            break
        trial = study.ask()
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        try:
            plan = plan_trial(trial, loaded, target)
            trial.set_user_attr("plan", plan.to_dict())
            reporter.trial_started(trial.number, plan.describe(varying))
            t0 = time.perf_counter()
            outcome = runner.run(plan)
            trial.set_user_attr("seconds", round(time.perf_counter() - t0, 2))
            _tell(study, trial, space, outcome)
        except KeyboardInterrupt:
            trial.set_user_attr(INTERRUPTED, True)
            trial.set_user_attr("reason", "interrupted by the user")
            study.tell(trial, state=TrialState.FAIL)
            study.enqueue_trial(trial.params, skip_if_exists=False)
            return new, True
        new += 1
        reporter.trial_finished(
            trial.number, f"{_summary(outcome)} ({time.perf_counter() - t0:.1f} s)", _front_lines(study)
        )
        if (
            space.study.build_sweep
            and outcome.state == "complete"
            and outcome.steps
            and not outcome.steps[0].cache_hit
        ):
            _sweep(study, trial, plan, loaded)
    return new, False


def _front_lines(study: optuna.Study) -> list[str]:
    """The feasible Pareto front so far, one short line per trial."""
    try:
        front = study.best_trials
    except (RuntimeError, ValueError):
        return []
    lines = []
    for t in sorted(front, key=lambda t: t.number):
        if all(v <= 0 for v in t.constraints.values()):
            m = t.user_attrs.get("metrics", {})
            lines.append(
                f"trial {t.number}: accuracy {m.get('accuracy', 0):.3f}, "
                f"p90 {m.get('latency_p90_ms', 0):.1f} ms, {m.get('size_mb', 0):.0f} MB"
            )
    return lines


def _summary(outcome: TrialOutcome) -> str:
    hits = sum(s.cache_hit for s in outcome.steps)
    cached = f", {hits}/{len(outcome.steps)} steps cached" if outcome.steps else ""
    if outcome.state != "complete":
        return f"{outcome.state}: {outcome.reason}{cached}"
    m = outcome.metrics
    return (
        f"accuracy {m['accuracy']:.3f} [{m['accuracy_low']:.2f}-{m['accuracy_high']:.2f}] "
        f"(PyTorch {m.get('torch_accuracy', float('nan')):.3f}), "
        f"p90 {m['latency_p90_ms']:.1f} ms, "
        f"{m.get('decode_passes_per_s', float('nan')):.0f} decode passes/s, "
        f"{m['size_mb']:.0f} MB{cached}"
    )
