"""One machine's run of a study: open (or join) it in its storage, run the loop, confirm the
front, write the report into the output folder; and read a finished folder back."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import optuna

from autotune.errors import StudyFailed
from autotune.load.space_file import LoadedSpace, loaded_from_raw
from autotune.report.build import Report, build_report, print_report, write_report
from autotune.study.run_record import RUN_FILE, RunRecord, read_record
from autotune.study.storage import open_study
from autotune.targets import Target, get_target

if TYPE_CHECKING:
    from rich.console import Console

    from autotune.study.loop import StudyRun

__all__ = ["RunOutcome", "check_outcome", "open_output", "run_and_report"]


@dataclass(frozen=True)
class RunOutcome:
    """What a run left: how the loop ended (``run``) and the report it wrote."""

    run: StudyRun
    report: Report

    def exit_status(self, out: Path) -> int:
        """130 when interrupted (resumable), 0 when the study ran as asked; a StudyFailed
        otherwise (see ``check_outcome``)."""
        if self.run.interrupted:
            return 130
        check_outcome(self.report, self.run.fatal, out)
        return 0


def run_and_report(
    loaded: LoadedSpace,
    target: Target,
    out: Path,
    storage: str,
    console: Console,
    *,
    quiet: bool,
    cache: Path | None = None,
    before: Sequence[Callable[[optuna.Study], object]] = (),
) -> RunOutcome:
    """Run (or join) the study of ``loaded`` on ``target`` in ``storage`` with ``out`` as this
    machine's folder (run.json, cache, reports); print and write the report. Each of ``before``
    runs on the opened study before its first trial (to queue trials)."""
    from autotune.load.preflight import preflight
    from autotune.report.html import write_html_report
    from autotune.study.loop import run_study
    from autotune.study.run_record import claim_folder, write_record
    from autotune.study.storage import study_name
    from autotune.trial.progress import make_reporter

    console.print(f"autotune: space {loaded.path} -> {out} (target {target.name}, storage {storage})")
    name = study_name(loaded.space, target.name)
    claim_folder(out, name, storage)  # the folder holds another study: refused before any write
    out.mkdir(parents=True, exist_ok=True)
    preflight(loaded, cache or out / "cache")  # the data and the model, before the storage is touched
    study = open_study(loaded, storage, target)  # refuses a different space before run.json changes
    write_record(out, loaded.raw, loaded.path, storage, target.name, cache or out / "cache", name)
    for queue in before:
        queue(study)
    reporter = make_reporter(console, quiet=quiet)
    try:
        result = run_study(
            loaded, out_dir=out, target=target, reporter=reporter, cache_dir=cache, study=study
        )
    finally:
        reporter.close()
    report = build_report(result.study, loaded.space)
    write_report(report, out)
    write_html_report(report, result.study, loaded.space, out)
    print_report(report, console, out)
    console.print(
        f"{result.new_trials} new trial(s) in {result.seconds:.0f} s; "
        f"report: {out / 'report.html'}, {out / 'report.json'}, {out / 'trials.csv'}"
    )
    if result.interrupted:
        console.print("interrupted: rerun the same command to resume")
    return RunOutcome(result, report)


def check_outcome(report: Report, fatal: str | None, out: Path) -> None:
    """A StudyFailed when an error every trial would meet ended the study, or when no trial of it
    has completed (with the reason most of its failed trials share)."""
    kept = f"the trials so far stay in {out}; fix it and rerun the same command"
    if fatal is not None:
        raise StudyFailed(f"the study stopped: {fatal}; {kept}")
    ended = report.ended or {}
    if any(r.state == "complete" for r in report.rows):
        if ended.get("why") == "errors":  # the budget was left short: never behind exit 0
            raise StudyFailed(
                f"the study stopped after {ended.get('finished')} finished trial(s), the last ones "
                f"failing in a row with: {ended.get('reason')}; {kept}"
            )
        return
    reasons = Counter(r.reason or r.state for r in report.rows)
    if not reasons:
        raise StudyFailed(f"no trial ran (n_trials or the timeout is spent); {kept}")
    reason, count = reasons.most_common(1)[0]
    raise StudyFailed(f"no trial completed ({count} of {reasons.total()} failed with: {reason}); {kept}")


def open_output(out: Path, storage: str | None) -> tuple[LoadedSpace, optuna.Study, Report, RunRecord]:
    """(loaded space, study, report, run record) of an output folder."""
    record = read_record(out)
    fix = "rerun the study's autotune command to write it again"
    loaded = loaded_from_raw(record.raw, record.space_path, f"{out / RUN_FILE}: the recorded space", fix)
    study = open_study(loaded, storage or record.storage, get_target(record.target), create=False)
    return loaded, study, build_report(study, loaded.space), record
