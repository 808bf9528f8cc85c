"""The CLI side of ``autotune run --config``: where results go, the input-model baseline, and
the Olive-like output folder of a run without search."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from autotune.olive._read import OliveWorkflow, read_olive_config

__all__ = ["finish", "olive_space"]


def _out_dir(args: argparse.Namespace) -> Path:
    if args.out is not None:
        return Path(args.out).resolve()
    wf = read_olive_config(args.config, model=args.model, data_root=args.data_root, search=args.search)
    if wf.output_dir:
        return (wf.path.parent / str(wf.output_dir)).resolve()
    return (Path("autotune-out") / str(args.config.stem)).resolve()


def _baseline(out: Path) -> Callable[[Path, set[str]], dict[str, float]]:
    def measure(space_path: Path, wanted: set[str]) -> dict[str, float]:
        """The input model's PyTorch accuracy and eager latency on the eval split (kept on disk)."""
        from autotune.cache import Cache
        from autotune.data import load_task_data
        from autotune.models import prepare_model
        from autotune.runner import TrialRunner
        from autotune.space_file import load_space
        from evaluators import AccuracyEvaluator, LatencyEvaluator, ModelArtifact

        stored = out / "baseline.json"
        known: dict[str, float] = json.loads(stored.read_text()) if stored.is_file() else {}
        if wanted <= set(known):
            return known
        loaded = load_space(str(space_path))
        cache = Cache(out / "cache")
        model = prepare_model(loaded.space.model, cache, loaded.base_dir)
        data = load_task_data(loaded.space.data, loaded.base_dir)
        task = TrialRunner(space=loaded.space, model=model, data=data, cache=cache, seed=0).eval_task()
        artifact = ModelArtifact(Path(model.path), "hf")
        known["accuracy"] = float(AccuracyEvaluator().evaluate(artifact, task)["accuracy"])
        if any(m.startswith("latency") for m in wanted):
            ev = loaded.space.evaluation
            lat = LatencyEvaluator(
                warmup=ev.latency_warmup, repeats=ev.latency_repeats, max_prompts=ev.latency_prompts
            ).evaluate(artifact, task)
            known.update(
                latency_p50_ms=lat["p50_ms"], latency_p90_ms=lat["p90_ms"], latency_mean_ms=lat["mean_ms"]
            )
        stored.write_text(json.dumps(known, indent=1))
        return known

    return measure


def olive_space(args: argparse.Namespace, log: Callable[[str], None]) -> tuple[str, Path, OliveWorkflow]:
    """(space path, output folder, workflow) for ``args.config``."""
    from autotune.olive import prepare_olive_space

    out = _out_dir(args)
    space_path, wf = prepare_olive_space(
        args.config,
        out,
        model=args.model,
        data_root=args.data_root,
        search=args.search,
        baseline=_baseline(out),
        log=log,
    )
    for line in wf.ignored:
        log(f"warning: {line}")
    mode = "search" if wf.search else "one run, as written"
    log(f"olive config {wf.path.name} ({mode}) -> {space_path}")
    return str(space_path), out, wf


def finish(
    wf: OliveWorkflow, report: Any, loaded: Any, attrs: dict[str, Any], out: Path, log: Callable[[str], None]
) -> None:
    """Without search, the output folder holds the built model, as Olive's output_dir does."""
    from autotune.export import export_trial

    if wf.search or report.winner is None:
        return
    dest = out / "output_model"
    if not dest.exists():
        export_trial(report, loaded, attrs, report.winner, dest)
    log(f'model: {dest} (autotune predict --model {dest} "some phrase")')
