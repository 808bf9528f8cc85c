"""The ``autotune`` command: run a study, report it, export a trial, predict, validate a space."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autotune.errors import AutotuneError

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console

    from autotune.olive import OliveWorkflow
    from autotune.report import Report
    from autotune.run_record import RunRecord
    from autotune.space_file import LoadedSpace
    from autotune.targets import Target

SUBCOMMANDS = ("run", "report", "export", "predict", "validate", "worker", "status", "cp")


def _quiet_libraries() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("ORT_LOGGING_LEVEL", "3")
    warnings.filterwarnings("ignore")
    logging.getLogger("kernels").setLevel(logging.ERROR)  # offline: "skipping publisher trust check"


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


def _cmd_run(argv: list[str]) -> int:
    from autotune.boundary import log_to, writable_folder
    from autotune.progress import plain_console
    from autotune.space_file import load_space
    from autotune.storage import absolute_storage, default_storage
    from autotune.study import pick_target

    parser = _run_parser()
    args = parser.parse_args(argv)
    if (args.space is None) == (args.config is None):
        parser.error("give --space SPACE or --config OLIVE.json")
    console = plain_console()
    olive = None
    if args.config is not None:
        from autotune.olive import olive_space

        args.space, args.out, olive = olive_space(
            args, lambda t: console.print(t, markup=False, highlight=False)
        )
    overrides = list(args.overrides)
    if args.n_trials is not None:
        overrides.append(f"study.n_trials={args.n_trials}")
    if args.timeout is not None:
        overrides.append(f"study.timeout={args.timeout}")
    loaded = load_space(args.space, overrides)
    target = pick_target(loaded, args.target)
    out = writable_folder("--out", args.out or Path("autotune-out") / loaded.space.name)
    if args.cache is not None:
        args.cache = writable_folder("--cache", args.cache)
    log_to(out)
    storage = absolute_storage(args.storage) if args.storage else default_storage(out)
    seeds = None
    if args.warm_from is not None:
        seeds = _warm_start(args.warm_from.resolve(), out, loaded, target, console.print)
    return run_and_report(
        loaded, target, out, storage, console, quiet=args.quiet, olive=olive, cache=args.cache, seeds=seeds
    )


def _warm_start(
    source: Path, out: Path, loaded: LoadedSpace, target: Target, log: Callable[[str], None]
) -> Callable[[Any], None]:
    """Read the finished study in ``source`` now (a bad folder fails before anything runs); the
    returned function queues its front into the new study once it is open."""
    from autotune.warm_start import WARM_START_ATTR, plan_seeds, queue_seeds

    if source == out:
        raise AutotuneError(
            f"--from {source}: that is this study's own folder; rerun without --from to resume it"
        )
    _, old, report, _ = open_output(source, None)
    plans = {t.number: t.user_attrs.get("plan") or {} for t in old.get_trials(deepcopy=False)}
    seeds, skipped = plan_seeds(report, plans, loaded, target)
    if not seeds:
        why = "; ".join(skipped) or "it has no complete trial"
        raise AutotuneError(f"--from {source}: nothing to seed this study with ({why})")

    def queue(study: Any) -> None:
        if not queue_seeds(study, seeds, str(source)):
            before = study.user_attrs[WARM_START_ATTR]["from"]
            log(f"warm start: this study was seeded from {before} when it began; not again")
            return
        log(
            f"warm start: {len(seeds)} trial(s) queued from {source}: "
            + ", ".join(f"trial {s.source}" for s in seeds)
        )
        for line in skipped + [f"trial {s.source}: {d}, sampled instead" for s in seeds for d in s.dropped]:
            log(f"  {line}")

    return queue


def run_and_report(
    loaded: LoadedSpace,
    target: Target,
    out: Path,
    storage: str,
    console: Console,
    *,
    quiet: bool,
    olive: OliveWorkflow | None = None,
    cache: Path | None = None,
    seeds: Callable[[Any], None] | None = None,
) -> int:
    """Run (or join) the study of ``loaded`` on ``target`` in ``storage`` with ``out`` as this
    machine's folder (run.json, cache, reports); print and write the report."""
    from autotune.preflight import preflight
    from autotune.report import build_report, print_report, write_report
    from autotune.report_html import write_html_report
    from autotune.run_record import claim_folder, write_record
    from autotune.storage import open_study, study_name
    from autotune.study import run_study

    console.print(f"autotune: space {loaded.path} -> {out} (target {target.name}, storage {storage})")
    name = study_name(loaded.space, target.name)
    claim_folder(out, name, storage)  # the folder holds another study: refused before any write
    out.mkdir(parents=True, exist_ok=True)
    preflight(loaded, cache or out / "cache")  # the data and the model, before the storage is touched
    study = open_study(loaded, storage, target)  # refuses a different space before run.json changes
    write_record(out, loaded.raw, loaded.path, storage, target.name, cache or out / "cache", name)
    if seeds is not None:
        seeds(study)
    if olive is not None:
        from autotune.olive import queue_builds

        queue_builds(loaded, study)  # an Olive config's builds, each once as written (without search)
    from autotune.progress import make_reporter

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
    if olive is not None:
        _olive_output(olive, report, loaded, dict(result.study.user_attrs), out, console.print)
    if result.interrupted:
        console.print("interrupted: rerun the same command to resume")
        return 130
    _check_outcome(report, result.fatal, out)
    return 0


def _check_outcome(report: Report, fatal: str | None, out: Path) -> None:
    """A StudyFailed when an error every trial would meet ended the study, or when no trial of it
    has completed (with the reason most of its failed trials share)."""
    from collections import Counter

    from autotune.errors import StudyFailed

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


def _olive_output(
    wf: OliveWorkflow,
    report: Report,
    loaded: LoadedSpace,
    attrs: dict[str, Any],
    out: Path,
    log: Callable[[str], None],
) -> None:
    """An Olive config run without search leaves the winner's model in OUT/output_model, or each
    build's model in its output_dir/output_model (a model already there is left as it is)."""
    from autotune.export import export_trial
    from autotune.olive._output import output_models

    for what, number, dest in output_models(wf, report, out):
        if number is None:
            log(f"{what}: no complete trial, so no model in {dest}")
            continue
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            export_trial(report, loaded, attrs, number, dest)
        log(f'{what}: trial {number} in {dest} (autotune predict --model {dest} "some phrase")')


def open_output(out: Path, storage: str | None) -> tuple[Any, Any, Any, RunRecord]:
    """(loaded space, study, report, run record) of an output folder."""
    from pydantic import ValidationError

    from autotune.report import build_report
    from autotune.run_record import RUN_FILE, read_record
    from autotune.space import Space
    from autotune.space_file import LoadedSpace, resolve_pass_values
    from autotune.storage import open_study
    from autotune.targets import get_target

    record = read_record(out)
    fix = "rerun the study's autotune command to write it again"
    try:
        space = Space.model_validate(record.raw)
        values = resolve_pass_values(space)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise AutotuneError(
            f"{out / RUN_FILE}: the recorded space is not valid ({where}: {err['msg']}); {fix}"
        ) from None
    except (KeyError, ValueError) as exc:  # a pass parameter's search values
        why = exc.args[0] if exc.args else type(exc).__name__
        raise AutotuneError(f"{out / RUN_FILE}: the recorded space is not valid ({why}); {fix}") from None
    loaded = LoadedSpace(space, record.space_path, record.raw, values)
    study = open_study(loaded, storage or record.storage, get_target(record.target), create=False)
    return loaded, study, build_report(study, space), record


def _cmd_report(argv: list[str]) -> int:
    from autotune.progress import plain_console
    from autotune.report import print_report, write_report

    p = argparse.ArgumentParser(prog="autotune report", description="Print (and rewrite) a study's report.")
    p.add_argument("out", type=Path, help="the study's output folder")
    p.add_argument("--storage", help="storage URL, if not the one recorded in the folder")
    p.add_argument("--html", action="store_true", help="also write report.html (self-contained, offline)")
    args = p.parse_args(argv)
    from autotune.boundary import log_to

    log_to(args.out)
    loaded, study, report, _info = open_output(args.out, args.storage)
    write_report(report, args.out)
    if args.html:
        from autotune.report_html import write_html_report

        print(f"wrote {write_html_report(report, study, loaded.space, args.out)}")
    print_report(report, plain_console(), args.out)
    return 0


def _cmd_export(argv: list[str]) -> int:
    from autotune.export import export_trial, export_trials

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
    from autotune.boundary import log_to, writable_folder

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


def _cmd_predict(argv: list[str]) -> int:
    from autotune.predict import predict

    p = argparse.ArgumentParser(
        prog="autotune predict", description="Classify phrases with an exported model."
    )
    p.add_argument("--model", type=Path, required=True, help="an exported folder (autotune export)")
    p.add_argument("phrases", nargs="+", help="phrase(s) to classify")
    args = p.parse_args(argv)
    for phrase, label in zip(args.phrases, predict(args.model, args.phrases), strict=True):
        print(label if len(args.phrases) == 1 else f"{label}\t{phrase}")
    return 0


def _cmd_cp(argv: list[str]) -> int:
    from autotune.copy_space import copy_space, list_shipped

    p = argparse.ArgumentParser(
        prog="autotune cp",
        description="Copy a shipped space, with the data it refers to, to edit it: autotune cp phi3 "
        "spaces/phi3.yaml, then autotune --space spaces/phi3.yaml.",
    )
    p.add_argument("space", nargs="?", help="a shipped space's name (autotune cp --list)")
    p.add_argument("dest", nargs="?", type=Path, help="the copy: a .yaml file, or a folder")
    p.add_argument("--list", action="store_true", help="list the shipped spaces")
    p.add_argument("--force", action="store_true", help="overwrite files that exist")
    args = p.parse_args(argv)
    if args.list:
        for name, description in list_shipped():
            print(f"{name:24} {description}")
        return 0
    if args.space is None or args.dest is None:
        p.error("give SPACE and DEST, or --list")
    written = copy_space(args.space, args.dest, force=args.force)
    also = f" with {', '.join(map(str, written[1:]))}" if written[1:] else ""
    print(f"copied {args.space} to {written[0]}{also}")
    print(f"  edit it, then: autotune validate {written[0]} && autotune --space {written[0]}")
    return 0


def _cmd_worker(argv: list[str]) -> int:
    from autotune.progress import plain_console
    from autotune.workers import join

    job = join(argv)
    from autotune.boundary import log_to

    log_to(job.out)
    console = plain_console()
    return run_and_report(
        job.loaded, job.target, job.out, job.storage, console, quiet=job.quiet, cache=job.cache
    )


def _cmd_validate(argv: list[str]) -> int:
    from autotune.planning import target_values
    from autotune.space_file import load_space
    from autotune.targets import get_target

    p = argparse.ArgumentParser(prog="autotune validate", description="Check a space without running it.")
    p.add_argument("space", help="a space file or shipped space name")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    args = p.parse_args(argv)
    from autotune.data import data_summary, load_task_data

    loaded = load_space(args.space, args.overrides)
    s = loaded.space
    data = load_task_data(s.data, loaded.base_dir, s.task)  # rows, labels and split sizes, checked
    print(f"{loaded.path}: valid space {s.name!r} (task {s.task})")
    print(f"  data: {data_summary(data, s.task)}")
    print(
        f"  targets: {', '.join(t.name for t in s.targets)}; "
        f"chains: {'; '.join(' > '.join(c) for c in s.chains)}"
    )
    target = get_target(s.targets[0].name)
    for name, values in loaded.values.items():
        shown = {k: target_values(loaded, target, name, k, v) for k, v in values.items()}
        print(f"  {name}: " + ", ".join(f"{k}={_fmt(v)}" for k, v in shown.items()))
    print(
        f"  objectives: {', '.join(f'{o.direction} {o.metric}' for o in s.objectives)}; "
        f"constraints: {', '.join(map(str, s.constraints)) or 'none'}"
    )
    return 0


def _fmt(values: Any) -> str:
    from autotune.params import Choice, Fixed, FloatRange, IntRange

    if isinstance(values, Fixed):
        return str(values.value)
    if isinstance(values, Choice):
        return "{" + "|".join(map(str, values.choices)) + "}"
    if isinstance(values, (IntRange, FloatRange)):
        return f"[{values.low:g}..{values.high:g}{' log' if values.log else ''}]"
    return str(values)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _quiet_libraries()
    from autotune.workers import cmd_status

    commands = {
        "report": _cmd_report,
        "export": _cmd_export,
        "predict": _cmd_predict,
        "validate": _cmd_validate,
        "run": _cmd_run,
        "worker": _cmd_worker,
        "cp": _cmd_cp,
        "status": cmd_status,
    }
    from autotune.boundary import guarded

    if argv and argv[0] in commands:
        return guarded(commands[argv[0]], argv[1:])
    return guarded(_cmd_run, argv)


if __name__ == "__main__":
    sys.exit(main())
