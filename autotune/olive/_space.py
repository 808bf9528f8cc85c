"""An Olive config as an autotune space: ``olive-space.yaml``, with relative goals measured first."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from autotune.inputs.data import read_rows
from autotune.olive._build import build_space
from autotune.olive._goals import needs_baseline, resolve_goals
from autotune.olive._read import OliveWorkflow, read_olive_config
from autotune.passes import get_pass

__all__ = ["prepare_olive_space"]

_SAMPLERS = {
    "tpe": "tpe",
    "random": "random",
    "exhaustive": "grid",
    "grid": "grid",
    "nsga2": "nsga2",
    "nsgaii": "nsga2",
}


def _grid_size(chains: list[list[str]], passes: dict[str, Any]) -> int:
    """How many distinct configurations the lists of a config span, over its chains."""
    total = 0
    for chain in chains:
        # values a later pass forces (quantize: the fp32 build) are not searched in that chain
        forced = {(up, k) for n in chain for up, fixed in get_pass(n).upstream_fixed.items() for k in fixed}
        size = 1
        for name in chain:
            for k, v in passes.get(name, {}).items():
                if isinstance(v, dict) and "choices" in v and (name, k) not in forced:
                    size *= len(v["choices"])
        total += size
    return total


def _search_settings(strategy: Any, grid: int) -> dict[str, Any]:
    """Olive's search_strategy: true searches the whole grid of lists (up to 10 trials) with TPE."""
    if not isinstance(strategy, dict):
        return {"n_trials": min(10, grid), "sampler": "grid" if grid <= 10 else "tpe"}
    algo = str(strategy.get("search_algorithm", "tpe")).lower()
    return {
        "n_trials": int(strategy.get("num_samples") or strategy.get("max_samples") or 10),
        "sampler": _SAMPLERS.get(algo, "tpe"),
        **({"seed": int(strategy["seed"])} if "seed" in strategy else {}),
    }


def _train_rows(wf: OliveWorkflow) -> dict[str, int]:
    return {
        name: len(read_rows(Path(d["path"]), f"data_configs ({name}).data_files"))
        for name, d in wf.data.items()
    }


def prepare_olive_space(
    config: Path,
    out: Path,
    *,
    model: str | None,
    data_root: Path | None,
    search: bool | None,
    baseline: Callable[[Path, set[str]], dict[str, float]],
    log: Callable[[str], None],
) -> tuple[Path, OliveWorkflow]:
    """Write ``out/olive-space.yaml`` for ``config``; ``baseline`` measures the input model."""
    wf = read_olive_config(config, model=model, data_root=data_root, search=search)
    rows = _train_rows(wf)
    out.mkdir(parents=True, exist_ok=True)
    space_path = out / "olive-space.yaml"
    raw = build_space(wf, rows)
    wanted = needs_baseline(wf.metrics)
    measured: dict[str, float] = {}
    if wanted:
        space_path.write_text(yaml.safe_dump(raw, sort_keys=False))
        log(f"measuring the input model for relative goals ({', '.join(sorted(wanted))})")
        measured = baseline(space_path, wanted)
    goals = resolve_goals(wf.metrics, lambda m: measured[m])
    raw = build_space(wf, rows, goals)
    if goals:
        raw["preference"] = {"metric": goals[0]["metric"]}
    if wf.search:
        grid = _grid_size(raw["chains"], raw["passes"])
        raw["study"] = {"seed": raw["study"]["seed"], **_search_settings(wf.strategy, grid)}
    wf.ignored[:] = list(dict.fromkeys(wf.ignored))
    raw["olive"] = {
        **(raw.get("olive") or {}),
        "config": str(wf.path),
        "search": wf.search,
        "baseline": measured,
        "goals": goals,
        "ignored": wf.ignored,
    }
    space_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return space_path, wf
