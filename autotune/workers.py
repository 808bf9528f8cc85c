"""A study shared by several machines: ``autotune worker`` joins one, ``autotune status`` shows it.

The study's storage (PostgreSQL, or a journal file on a shared path) holds everything a worker
needs: the space, the target and the trials. A worker runs the same loop as ``autotune --space``
with its own output folder and cache; Optuna's heartbeats fail and re-queue the trial of a worker
that died (see autotune.storage).
"""

from __future__ import annotations

import argparse
import socket
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from autotune.errors import AutotuneError
from autotune.space import Space
from autotune.space_file import LoadedSpace, resolve_pass_values
from autotune.storage import JOURNAL, absolute_storage, budget_spent, make_storage, retried_numbers
from autotune.targets import Target, get_target

__all__ = ["WorkerJob", "cmd_status", "join", "load_shared_study", "workers_seen"]


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"autotune {prog}", description=description)
    p.add_argument("--storage", required=True, help="the study's storage: postgresql://... or journal:PATH")
    p.add_argument("--study", required=True, help="the study's name (autotune status lists it)")
    return p


def load_shared_study(storage: str, name: str) -> tuple[optuna.Study, LoadedSpace, Target]:
    """The study ``name`` in ``storage`` with the space and target it was made from."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:  # the study exists already: a missing storage file is an error, never created
        study = optuna.load_study(study_name=name, storage=make_storage(storage, create=False))
    except KeyError:
        known = optuna.get_all_study_names(storage=make_storage(storage, create=False))
        raise AutotuneError(
            f"storage {storage}: no study named {name!r} (studies there: {', '.join(known) or 'none'})"
        ) from None
    except AutotuneError:
        raise
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise AutotuneError(f"storage {storage}: cannot open it ({first})") from None
    attrs = study.user_attrs
    if "space" not in attrs or "target" not in attrs:
        raise AutotuneError(f"study {name!r} in {storage} was not made by autotune (no space recorded)")
    space = Space.model_validate(attrs["space"])
    path = Path(str(attrs.get("space_path", "space.yaml")))
    loaded = LoadedSpace(space, path, attrs["space"], resolve_pass_values(space))
    return study, loaded, get_target(str(attrs["target"]))


def _refuse_remote_sqlite(storage: str, study: optuna.Study) -> None:
    """SQLite is one machine's file: a worker on another host must not share it."""
    if not storage.startswith("sqlite"):
        return
    here = socket.gethostname()
    hosts = {t.user_attrs.get("host") for t in study.get_trials(deepcopy=False)} - {None, here}
    if hosts:
        raise AutotuneError(
            f"study in {storage} is run from {', '.join(sorted(map(str, hosts)))}, not this host: SQLite "
            f"is one machine's file; share the study through PostgreSQL or {JOURNAL}PATH instead"
        )


@dataclass(frozen=True)
class WorkerJob:
    """What ``autotune worker`` runs: the shared study's space and target, and this machine's folders."""

    loaded: LoadedSpace
    target: Target
    out: Path
    storage: str
    cache: Path | None
    quiet: bool


def join(argv: list[str]) -> WorkerJob:
    """Parse ``autotune worker`` and check this machine can join the study."""
    p = _parser("worker", "Join a study another machine started: run its trials until it is done.")
    p.add_argument("--out", type=Path, help="this machine's folder (default: autotune-out/STUDY)")
    p.add_argument("--cache", type=Path, help="the step cache (default: OUT/cache); share one by path")
    p.add_argument("--quiet", action="store_true", help="print only warnings and the final report")
    args = p.parse_args(argv)
    from autotune.boundary import writable_folder

    out = writable_folder("--out", args.out or Path("autotune-out") / args.study)
    cache = None if args.cache is None else writable_folder("--cache", args.cache)
    storage = absolute_storage(args.storage)  # as `autotune --storage` records it
    study, loaded, target = load_shared_study(storage, args.study)
    _refuse_remote_sqlite(storage, study)
    if not loaded.base_dir.is_dir():
        raise AutotuneError(
            f"study {args.study!r} was made from {loaded.path}, which this machine lacks (its data paths "
            "are relative to it): copy the space's folder to the same path, or run autotune --space "
            f"FILE --storage {storage} with the same space"
        )
    if lacks := target.missing():
        raise AutotuneError(f"study {args.study!r} runs on {target.name}; this machine lacks it: {lacks}")
    return WorkerJob(loaded, target, out, storage, cache, args.quiet)


def workers_seen(trials: list[FrozenTrial]) -> list[dict[str, Any]]:
    """Each worker (host, pid) that ran trials: how many, which are running, when last active."""
    seen: dict[tuple[str, int], dict[str, Any]] = {}
    for t in trials:
        host, pid = t.user_attrs.get("host"), t.user_attrs.get("pid")
        if host is None or pid is None:
            continue
        w = seen.setdefault((str(host), int(pid)), {"host": host, "pid": pid, "trials": 0, "running": []})
        w["trials"] += 1
        if t.state == TrialState.RUNNING:
            w["running"].append(t.number)
        times = [d for d in (t.datetime_start, t.datetime_complete) if d is not None]
        if times and (w.get("last") is None or max(times) > w["last"]):
            w["last"] = max(times)
    return sorted(seen.values(), key=lambda w: w.get("last") or datetime.min, reverse=True)


def cmd_status(argv: list[str]) -> int:
    from autotune.progress import plain_console
    from autotune.report import build_report, print_report

    args = _parser("status", "Trials by state, the workers seen and the front of a study.").parse_args(argv)
    study, loaded, target = load_shared_study(args.storage, args.study)
    trials = study.get_trials(deepcopy=False)
    states = Counter(t.state.name.lower() for t in trials)
    lost = retried_numbers(trials)
    spec = loaded.space.study
    console = plain_console()
    console.print(
        f"study {args.study} ({loaded.space.name} on {target.name}) in {args.storage}: "
        f"{len(trials) - states.get('waiting', 0)} of {spec.n_trials} trials asked"
    )
    console.print("  " + ", ".join(f"{n} {s}" for s, n in sorted(states.items())))
    if lost:
        console.print(f"  {len(lost)} trial(s) lost with their worker and run again: {sorted(lost)}")
    beat = (
        "none (a journal has no heartbeat)"
        if args.storage.startswith(JOURNAL)
        else (
            f"every {spec.heartbeat.interval} s, lost after {spec.heartbeat.grace} s, "
            f"re-run up to {spec.heartbeat.max_retry} time(s)"
        )
    )
    console.print(f"  heartbeats: {beat}")
    spent = budget_spent(study)
    budget = f"{spec.timeout:g} s" if spec.timeout else "no timeout"
    console.print(f"  budget: {spent:.0f} s spent of {budget} (every resume and worker counted)")
    console.print("workers seen (most recent first):")
    for w in workers_seen(trials):
        running = f", running trial {', '.join(map(str, w['running']))}" if w["running"] else ""
        last = w["last"].strftime("%Y-%m-%d %H:%M:%S") if w.get("last") else "?"
        console.print(f"  {w['host']} pid {w['pid']}: {w['trials']} trial(s){running}, last active {last}")
    if any(t.state == TrialState.COMPLETE for t in trials):
        print_report(build_report(study, loaded.space), console, None)
    return 0
