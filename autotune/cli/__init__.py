"""The ``autotune`` command: a module per verb, each parsing its own arguments and calling the
library; :mod:`autotune.cli.boundary` turns whatever a verb raises into one line and an exit status.

Only this package parses arguments (argparse) or prints to the terminal for a verb.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Callable

__all__ = ["SUBCOMMANDS", "main"]

SUBCOMMANDS = ("run", "report", "export", "predict", "validate", "worker", "status", "cp")


def _quiet_libraries() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("ORT_LOGGING_LEVEL", "3")
    warnings.filterwarnings("ignore")
    logging.getLogger("kernels").setLevel(logging.ERROR)  # offline: "skipping publisher trust check"


def _commands() -> dict[str, Callable[[list[str]], int]]:
    from autotune.cli import cp, export, predict, report, run, validate, worker

    return {
        "run": run.cmd_run,
        "report": report.cmd_report,
        "export": export.cmd_export,
        "predict": predict.cmd_predict,
        "validate": validate.cmd_validate,
        "worker": worker.cmd_worker,
        "status": worker.cmd_status,
        "cp": cp.cmd_cp,
    }


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _quiet_libraries()
    from autotune.cli.boundary import guarded

    commands = _commands()
    assert set(commands) == set(SUBCOMMANDS)
    if argv and argv[0] in commands:
        return guarded(commands[argv[0]], argv[1:])
    return guarded(commands["run"], argv)
