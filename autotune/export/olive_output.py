"""Where the models of an Olive config run without search go, placed as Olive's ``output_dir``
places them (the CLI exports them: autotune.olive does not import autotune.export.trials)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autotune.load.space_file import LoadedSpace
    from autotune.olive._read import OliveWorkflow
    from autotune.report.build import Report

__all__ = ["output_models", "write_output_models"]


def output_models(wf: OliveWorkflow, report: Report, out: Path) -> list[tuple[str, int | None, Path]]:
    """``(what, trial, folder)`` for each model to export: without builds the winner's, in
    OUT/output_model; with builds each build's trial, in its output_dir/output_model (OUT/NAME when
    it names none); trial None where a build has no complete trial. A search exports nothing (the
    choice is left to ``autotune export``)."""
    if wf.search:
        return []
    if not wf.builds:
        return [] if report.winner is None else [("model", report.winner, out / "output_model")]
    found: list[tuple[str, int | None, Path]] = []
    for b in wf.builds:
        row = next(
            (r for r in report.rows if r.state == "complete" and b.name in (r.build or "").split("|")),
            None,
        )
        dest = (b.output_dir or out / b.name) / "output_model"
        found.append((f"build {b.name}", None if row is None else row.number, dest))
    return found


def write_output_models(
    wf: OliveWorkflow,
    report: Report,
    loaded: LoadedSpace,
    attrs: dict[str, Any],
    out: Path,
    log: Callable[[str], None],
) -> None:
    """An Olive config run without search leaves the winner's model in OUT/output_model, or each
    build's model in its output_dir/output_model (a model already there is left as it is)."""
    from autotune.export.trials import export_trial

    for what, number, dest in output_models(wf, report, out):
        if number is None:
            log(f"{what}: no complete trial, so no model in {dest}")
            continue
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            export_trial(report, loaded, attrs, number, dest)
        log(f'{what}: trial {number} in {dest} (autotune predict --model {dest} "some phrase")')
