"""``autotune report OUT``: print (and rewrite) a study's report."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["cmd_report"]


def cmd_report(argv: list[str]) -> int:
    from autotune.report.build import print_report, write_report
    from autotune.trial.progress import plain_console

    p = argparse.ArgumentParser(prog="autotune report", description="Print (and rewrite) a study's report.")
    p.add_argument("out", type=Path, help="the study's output folder")
    p.add_argument("--storage", help="storage URL, if not the one recorded in the folder")
    p.add_argument("--html", action="store_true", help="also write report.html (self-contained, offline)")
    args = p.parse_args(argv)
    from autotune.cli.boundary import log_to
    from autotune.study.run import open_output

    log_to(args.out)
    loaded, study, report, _info = open_output(args.out, args.storage)
    write_report(report, args.out)
    if args.html:
        from autotune.report.html import write_html_report

        print(f"wrote {write_html_report(report, study, loaded.space, args.out)}")
    print_report(report, plain_console(), args.out)
    return 0
