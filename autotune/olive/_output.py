"""Where the models of an Olive config run without search go, placed as Olive's ``output_dir``
places them (the CLI exports them: autotune.olive does not import autotune.export)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from autotune.olive._read import OliveWorkflow
    from autotune.report import Report

__all__ = ["output_models"]


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
