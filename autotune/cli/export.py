"""``autotune export OUT``: a trial's model as a self-contained folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from autotune.errors import AutotuneError

__all__ = ["cmd_export"]


def cmd_export(argv: list[str]) -> int:
    from autotune.export.trials import export_trial, export_trials

    p = argparse.ArgumentParser(
        prog="autotune export", description="Export a trial's model as a self-contained folder."
    )
    p.add_argument("out", type=Path, help="the study's output folder")
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--trial",
        type=int,
        action="append",
        help="trial number; give it again to export several trials (each in DEST/trial-N)",
    )
    g.add_argument("--best", action="store_true", help="the report's winner (default)")
    g.add_argument(
        "--front", action="store_true", help="every trial of the feasible front (each in DEST/trial-N)"
    )
    p.add_argument(
        "--dest",
        type=Path,
        help="destination folder (default: OUT/export/trial-N; several trials: OUT/export/front or "
        "OUT/export/trials)",
    )
    p.add_argument(
        "--format",
        choices=("autotune", "olive"),
        default="autotune",
        help="olive: also write olive-config.json (Olive's current schema) beside autotune.yaml; for "
        "several trials also DEST/olive-config.json, one Olive build per trial",
    )
    p.add_argument("--storage", help="storage URL, if not the one recorded in the folder")
    p.add_argument("--cache", type=Path, help="a cache folder holding the trial's model, if not OUT's")
    args = p.parse_args(argv)
    from autotune.cli.boundary import log_to, writable_folder
    from autotune.study.run import open_output

    log_to(args.out)
    if args.dest is not None:
        args.dest = writable_folder("--dest", args.dest)
    loaded, study, report, record = open_output(args.out, args.storage)
    caches = [c for c in (args.cache, record.cache, args.out / "cache") if c]
    if args.front and not report.front:
        raise AutotuneError("--front: no trial meets every constraint; export the closest with --best")
    numbers = report.front if args.front else list(dict.fromkeys(args.trial or []))
    if args.front or len(numbers) > 1:
        dest = args.dest or args.out / "export" / ("front" if args.front else "trials")
        attrs = dict(study.user_attrs)
        for path in export_trials(report, loaded, attrs, numbers, dest, args.format, caches):
            print(f"exported {path}")
        if args.format == "olive":
            print(f"  one Olive build per trial: autotune run --config {dest / 'olive-config.json'}")
        return 0
    number = numbers[0] if numbers else report.winner
    dest = args.dest or args.out / "export" / f"trial-{number}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    path = export_trial(report, loaded, dict(study.user_attrs), number, dest, args.format, caches)
    print(f"exported trial {number} to {path}")
    print(f'  predict:   autotune predict --model {path} "some phrase"')
    print(f"  reproduce: autotune --space {path / 'autotune.yaml'}")
    return 0
