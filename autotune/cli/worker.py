"""``autotune worker`` joins a study another machine started; ``autotune status`` shows one."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from optuna.trial import TrialState

__all__ = ["cmd_status", "cmd_worker"]


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"autotune {prog}", description=description)
    p.add_argument("--storage", required=True, help="the study's storage: postgresql://... or journal:PATH")
    p.add_argument("--study", required=True, help="the study's name (autotune status lists it)")
    return p


def cmd_worker(argv: list[str]) -> int:
    """``autotune worker``: run the shared study's trials until it is done."""
    from autotune.cli.boundary import log_to, writable_folder
    from autotune.study.run import run_and_report
    from autotune.study.shared import join_study
    from autotune.study.storage import absolute_storage
    from autotune.trial.progress import plain_console

    p = _parser("worker", "Join a study another machine started: run its trials until it is done.")
    p.add_argument("--out", type=Path, help="this machine's folder (default: autotune-out/STUDY)")
    p.add_argument("--cache", type=Path, help="the step cache (default: OUT/cache); share one by path")
    p.add_argument("--quiet", action="store_true", help="print only warnings and the final report")
    args = p.parse_args(argv)
    out = writable_folder("--out", args.out or Path("autotune-out") / args.study)
    cache = None if args.cache is None else writable_folder("--cache", args.cache)
    storage = absolute_storage(args.storage)  # as `autotune --storage` records it
    _study, loaded, target = join_study(storage, args.study)
    log_to(out)
    outcome = run_and_report(loaded, target, out, storage, plain_console(), quiet=args.quiet, cache=cache)
    return outcome.exit_status(out)


def cmd_status(argv: list[str]) -> int:
    """``autotune status``: trials by state, the workers seen and the front of a shared study."""
    from autotune.report.build import build_report, print_report
    from autotune.study.shared import load_shared_study, workers_seen
    from autotune.study.storage import JOURNAL, budget_spent
    from autotune.trial.progress import plain_console
    from autotune.trial.record import retried_numbers

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
