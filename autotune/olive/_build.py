"""Turning a read Olive workflow into an autotune space (the loader then validates it as usual)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from autotune.errors import DataError
from autotune.inputs.data import check_disjoint
from autotune.olive._params import fill_defaults, mapping, merge_alternatives, pass_values
from autotune.olive._read import OliveConfigError, OliveWorkflow
from autotune.olive._shape import one_line
from autotune.passes import get_pass
from autotune.targets import target_for_providers

__all__ = ["build_space"]


def _target(providers: list[str]) -> str:
    try:
        return target_for_providers(providers).name
    except ValueError as exc:
        raise OliveConfigError(f"execution_providers: {exc}") from None


def build_space(
    wf: OliveWorkflow, train_rows: dict[str, int], goals: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The autotune space for ``wf``; ``train_rows`` (rows per data config) sizes epoch-based runs.

    Each build (or the config's one pipeline) is a chain; a pass's values are the union of what
    the builds give it (a build's own values are kept in the space's ``olive.builds``)."""
    with one_line(wf.path, "a pass setting does not have the JSON type Olive's schema gives it"):
        return _build_space(wf, train_rows, goals)


def _build_space(
    wf: OliveWorkflow, train_rows: dict[str, int], goals: list[dict[str, Any]] | None
) -> dict[str, Any]:
    ignored = wf.ignored
    by_name = {p.name: p for p in wf.passes}
    pipelines = [(b.name, [by_name[e] for e in b.pipeline]) for b in wf.builds] or [("", wf.passes)]
    converted: dict[str, dict[str, Any]] = {}  # Olive pass entry -> autotune parameters
    trains: dict[str, str] = {}  # fine-tuning entry -> its data config
    for p in wf.passes:
        converted[p.name], data_name = pass_values(p, wf, train_rows, ignored)
        if data_name is not None:
            trains[p.name] = data_name
    data_name = _one_data_set(wf, trains)
    builds: dict[str, dict[str, Any]] = {}
    chains: list[list[str]] = []
    for build, entries in pipelines:
        chain = [p.pass_name for p in entries]
        values = {p.pass_name: dict(converted[p.name]) for p in entries}
        for name in chain:  # e.g. quantize needs the builder's fp32 model
            for upstream, fixed in get_pass(name).upstream_fixed.items():
                if upstream in values:
                    values[upstream].update(fixed)
        fill_defaults(values, ignored)
        chains += [chain] if chain not in chains else []
        builds[build] = {"chain": chain, "passes": values}
    passes = {
        name: merge_alternatives([b["passes"][name] for b in builds.values() if name in b["passes"]])
        for name in dict.fromkeys(n for chain in chains for n in chain)
    }
    space = _data_section(wf, data_name, wf.data[data_name], chains, passes)
    space["objectives"], space["constraints"] = _objectives(goals)
    if wf.builds:
        for b in wf.builds:
            builds[b.name]["output_dir"] = None if b.output_dir is None else str(b.output_dir)
        space["olive"] = {"builds": builds}
        if not wf.search:  # every distinct build once (they are queued, not sampled)
            distinct = {_key(b) for b in builds.values()}
            space["study"].update(n_trials=len(distinct), sampler="random")
    return space


def _key(build: dict[str, Any]) -> str:
    return json.dumps([build["chain"], build["passes"]], sort_keys=True, default=str)


def _one_data_set(wf: OliveWorkflow, trains: dict[str, str]) -> str:
    """The data config the study trains and evaluates on: the fine-tuning passes' (one data set
    for every build: their data configs may differ in max_seq_len only), else the first."""
    if not trains:
        if not wf.data:
            raise OliveConfigError("data_configs: no data; a fine-tuning workflow needs one")
        return next(iter(wf.data))
    (first, name), *rest = trains.items()
    same = ("path", "text_cols", "template")
    for entry, other in rest:
        if any(wf.data[other][k] != wf.data[name][k] for k in same):
            raise OliveConfigError(
                f"passes.{entry}.train_data_config: trains on {other!r} but passes.{first} on {name!r}; "
                "one study has one data set: give every fine-tune the same data"
            )
    return name


def _data_section(
    wf: OliveWorkflow, data_name: str, d: dict[str, Any], chains: list[list[str]], passes: dict[str, Any]
) -> dict[str, Any]:
    template: str = d["template"]
    cols = d["text_cols"]
    label = next((c for c in reversed(cols) if ("{" + c + "}") in template), cols[-1])
    end = template.find("{" + label + "}") + len(label) + 2
    if end < len(template):
        wf.ignored.append(
            f"data_configs ({data_name}).text_template: the text after {{{label}}} is replaced "
            "by the tokenizer's end-of-sequence token"
        )
        template = template[:end]
    text = next((c for c in cols if c != label and ("{" + c + "}") in template), cols[0])
    lora = next((p for p in wf.passes if mapping(p).fine_tunes), None)
    eval_size = None
    if lora is not None and isinstance(lora.config, dict):
        eval_size = lora.config.get("eval_dataset_size")
        eval_name = lora.config.get("eval_data_config")
    else:
        eval_name = None
    targs = (
        (lora.config.get("training_args") or {}) if lora is not None and isinstance(lora.config, dict) else {}
    )
    # transformers.TrainingArguments' seed is 42 where Olive's training_args leave it out
    seed, data_seed = int(targs.get("seed", 42)), int(targs.get("data_seed", targs.get("seed", 42)))
    # The search split; the confirm split keeps its default (a fraction of the training data).
    evaluation: dict[str, Any] = {"seed": data_seed}
    if eval_name:
        assert lora is not None
        key = f"passes.{lora.name}.eval_data_config"
        if eval_name not in wf.data:
            raise OliveConfigError(f"{key}: no data config named {eval_name!r}")
        evaluation["path"] = wf.data[eval_name]["path"]
        try:
            check_disjoint(
                Path(evaluation["path"]),
                f"{key} ({eval_name!r})",
                Path(d["path"]),
                f"train_data_config {data_name!r}",
                text,
            )
        except DataError as exc:
            raise OliveConfigError(str(exc)) from None
    elif isinstance(eval_size, (int, float)) and 0 < float(eval_size) < 1:
        evaluation["fraction"] = float(eval_size)
    return {
        "name": wf.path.stem,
        "description": f"Imported from the Olive config {wf.path.name}",
        "model": wf.model,
        "data": {
            "path": d["path"],
            "text_column": text,
            "label_column": label,
            "template": template,
            "eval": evaluation,
        },
        "targets": [_target(wf.providers)],
        "chains": chains,
        "passes": passes,
        "study": {"n_trials": 1, "sampler": "random", "seed": seed},
    }


def _objectives(goals: list[dict[str, Any]] | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if not goals:
        return (
            [
                {"metric": "accuracy", "direction": "maximize"},
                {"metric": "latency_p90_ms", "direction": "minimize"},
            ],
            [],
        )
    objectives = [{"metric": g["metric"], "direction": g["direction"]} for g in goals]
    constraints = [{"metric": g["metric"], "op": g["op"], "value": g["value"]} for g in goals if "value" in g]
    return objectives, constraints
