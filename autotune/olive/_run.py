"""``autotune run --config``: where an Olive config's results go and the input-model baseline (the
output models of a run without search: autotune.export.olive_output)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from autotune.errors import AutotuneError, read_json_file
from autotune.olive._read import OliveWorkflow, read_olive_config
from autotune.olive._space import prepare_olive_space

__all__ = ["olive_space"]


def _out_dir(config: Path, model: str | None, data_root: Path | None, search: bool | None) -> Path:
    wf = read_olive_config(config, model=model, data_root=data_root, search=search)
    if wf.output_dir:
        return (wf.path.parent / str(wf.output_dir)).resolve()
    return (Path("autotune-out") / str(config.stem)).resolve()


def _baseline(out: Path) -> Callable[[Path, set[str]], dict[str, float]]:
    def measure(space_path: Path, wanted: set[str]) -> dict[str, float]:
        """The input model's PyTorch accuracy and eager latency on the eval split (kept on disk)."""
        from evaluators import EvaluatorError

        stored = out / "baseline.json"
        fix = "delete it to measure the input model again"
        known: dict[str, float] = read_json_file(stored, "the baseline", fix) if stored.is_file() else {}
        if wanted <= set(known):
            return known
        try:
            known.update(_measure_input(space_path, out, wanted))
        except EvaluatorError as exc:
            raise AutotuneError(
                f"the config's relative goals ({', '.join(sorted(wanted))}) need the input model measured, "
                f"and that failed: {exc}; give absolute goals instead"
            ) from None
        stored.write_text(json.dumps(known, indent=1))
        return known

    return measure


def _measure_input(space_path: Path, out: Path, wanted: set[str]) -> dict[str, float]:
    """The input model's PyTorch accuracy and eager latency on the eval split."""
    from autotune.cache import Cache
    from autotune.inputs.data import load_task_data
    from autotune.inputs.models import prepare_model
    from autotune.load.space_file import load_space
    from autotune.trial.splits import eval_task
    from evaluators import AccuracyEvaluator, LatencyEvaluator, ModelArtifact

    loaded = load_space(str(space_path))
    model = prepare_model(loaded.space.model, Cache(out / "cache"), loaded.base_dir)
    data = load_task_data(loaded.space.data, loaded.base_dir)
    task = eval_task(loaded.space, model, data)
    artifact = ModelArtifact(Path(model.path), "hf")
    known = {"accuracy": float(AccuracyEvaluator().evaluate(artifact, task)["accuracy"])}
    if any(m.startswith("latency") for m in wanted):
        ev = loaded.space.evaluation
        lat = LatencyEvaluator(
            warmup=ev.latency_warmup, repeats=ev.latency_repeats, max_prompts=ev.latency_prompts
        ).evaluate(artifact, task)
        known.update({f"latency_{k}_ms": lat[f"{k}_ms"] for k in ("p50", "p90", "mean")})
    return known


def olive_space(
    config: Path,
    *,
    out: Path | None,
    model: str | None,
    data_root: Path | None,
    search: bool | None,
    log: Callable[[str], None],
) -> tuple[str, Path, OliveWorkflow]:
    """(space path, output folder, workflow) for the Olive config ``config``: its results go to
    ``out``, else to the config's output_dir, else to autotune-out/CONFIG."""
    out = out.resolve() if out is not None else _out_dir(config, model, data_root, search)
    space_path, wf = prepare_olive_space(
        config,
        out,
        model=model,
        data_root=data_root,
        search=search,
        baseline=_baseline(out),
        log=log,
    )
    for line in wf.ignored:
        log(f"warning: {line}")
    mode = "search" if wf.search else "one run, as written"
    if wf.builds:
        names = ", ".join(b.name for b in wf.builds)
        mode = f"builds {names}: " + ("one search over all" if wf.search else "each once, as written")
    log(f"olive config {wf.path.name} ({mode}) -> {space_path}")
    return str(space_path), out, wf
