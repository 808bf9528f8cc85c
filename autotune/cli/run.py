"""``autotune [run] --space SPACE`` (or ``--config OLIVE.json``): run a study and report it."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["cmd_run"]


def _run_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="autotune",
        description="Search fine-tuning, ONNX build and quantization settings of a small language "
        "model; report the feasible Pareto front. Subcommands: report, export, predict, validate, "
        "worker, status.",
    )
    p.add_argument(
        "--space",
        help="a space YAML file, or the name of a shipped space (e.g. smollm2-emotion)",
    )
    p.add_argument(
        "--out",
        type=Path,
        help="output folder (default: autotune-out/<space name>); rerun with the same folder to resume",
    )
    p.add_argument("--n-trials", type=int, help="total trials of the study (overrides study.n_trials)")
    p.add_argument(
        "--timeout",
        type=float,
        help="the study's budget in seconds, every resume and worker counted: no new trial starts "
        "once it is spent (overrides study.timeout)",
    )
    p.add_argument(
        "--storage",
        help="Optuna storage URL (default: SQLite in the output folder; postgresql://... or "
        "journal:PATH to share a study)",
    )
    p.add_argument(
        "--cache",
        type=Path,
        help="the step cache's folder (default: OUT/cache); a path every worker reaches shares it",
    )
    p.add_argument(
        "--target",
        help="hardware target (default: the first of the space's targets this machine runs)",
    )
    p.add_argument(
        "--from",
        dest="warm_from",
        type=Path,
        metavar="OUT",
        help="warm start: queue the feasible front of the finished study in OUT as this study's "
        "first trials (values this space does not allow are dropped and sampled)",
    )
    p.add_argument("--quiet", action="store_true", help="print only warnings and the final report")
    olive = p.add_argument_group("Olive configs (autotune run --config FILE.json)")
    olive.add_argument(
        "--config", type=Path, help="an Olive workflow config (JSON) to run instead of a space"
    )
    olive.add_argument(
        "--model",
        help="replaces the config's input model: a local folder, a GGUF file, "
        "a hub id, or smollm2-135m-instruct",
    )
    olive.add_argument(
        "--data-root",
        type=Path,
        help="folder that relative data paths resolve against (default: the config's folder)",
    )
    g = olive.add_mutually_exclusive_group()
    g.add_argument(
        "--search", dest="search", action="store_true", default=None, help="search every list value"
    )
    g.add_argument("--no-search", dest="search", action="store_false", help="run the config once, as written")
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="space overrides, e.g. passes.lora.steps=20",
    )
    return p


def cmd_run(argv: list[str]) -> int:
    from autotune.cli.boundary import log_to, writable_folder
    from autotune.load.space_file import load_space
    from autotune.study.loop import pick_target
    from autotune.study.storage import absolute_storage, default_storage
    from autotune.trial.progress import plain_console

    parser = _run_parser()
    args = parser.parse_args(argv)
    if (args.space is None) == (args.config is None):
        parser.error("give --space SPACE or --config OLIVE.json")
    console = plain_console()
    olive = None
    if args.config is not None:
        from autotune.olive import olive_space

        args.space, args.out, olive = olive_space(
            args.config,
            out=args.out,
            model=args.model,
            data_root=args.data_root,
            search=args.search,
            log=lambda t: console.print(t, markup=False, highlight=False),
        )
    overrides = list(args.overrides)
    if args.n_trials is not None:
        overrides.append(f"study.n_trials={args.n_trials}")
    if args.timeout is not None:
        overrides.append(f"study.timeout={args.timeout}")
    loaded = load_space(args.space, overrides)
    target = pick_target(loaded, args.target)
    out = writable_folder("--out", args.out or Path("autotune-out") / loaded.space.name)
    cache = None if args.cache is None else writable_folder("--cache", args.cache)
    log_to(out)
    storage = absolute_storage(args.storage) if args.storage else default_storage(out)
    queue: list[Callable[[Any], object]] = []
    if args.warm_from is not None:
        from autotune.study.warm_start import warm_start

        queue.append(warm_start(args.warm_from.resolve(), out, loaded, target, console.print))
    if olive is not None:
        from autotune.olive import queue_builds

        queue.append(lambda study: queue_builds(loaded, study))  # each build once, as written
    from autotune.study.run import run_and_report

    outcome = run_and_report(
        loaded, target, out, storage, console, quiet=args.quiet, cache=cache, before=queue
    )
    if olive is not None:
        from autotune.export.olive_output import write_output_models

        attrs = dict(outcome.run.study.user_attrs)
        write_output_models(olive, outcome.report, loaded, attrs, out, console.print)
    return outcome.exit_status(out)
