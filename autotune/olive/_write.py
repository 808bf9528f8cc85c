"""Writing a trial back as an Olive workflow config (current schema), so a result can go to Olive."""

from __future__ import annotations

from typing import Any

from autotune.errors import AutotuneError
from autotune.inputs.families import GROUPS
from autotune.passes import OliveMapping, get_pass
from autotune.targets import get_target

__all__ = ["olive_builds_config", "olive_config"]


def olive_config(
    params: dict[str, Any], chain: list[str], space: dict[str, Any], model_path: str, target: str, seed: int
) -> dict[str, Any]:
    """The Olive config that runs this trial's chain with its values (the data path is absolute)."""
    data = space["data"]
    passes: dict[str, Any] = {}
    tuned = None  # the fine-tuning pass, if any
    for name in chain:
        p = {k.split(".", 1)[1]: v for k, v in params.items() if k.startswith(name + ".")}
        passes[name] = _olive_pass(name, p, seed)
        if _mapping(name).fine_tunes:
            tuned = name
    where = get_target(target)
    template = data.get("template") or ""
    return {
        "input_model": {"type": "HfModel", "model_path": model_path},
        "systems": {
            "local_system": {
                "type": "LocalSystem",
                "accelerators": [
                    {"device": where.olive_device, "execution_providers": [where.execution_provider]}
                ],
            }
        },
        "data_configs": [
            {
                "name": "train",
                "type": "HuggingfaceContainer",
                "load_dataset_config": {"data_name": "json", "data_files": data["path"], "split": "train"},
                "pre_process_data_config": {
                    "strategy": "line-by-line",
                    "max_seq_len": params.get(f"{tuned}.max_length", 256) if tuned else 256,
                    "text_cols": [data.get("text_column", "phrase"), data.get("label_column", "tone")],
                    "text_template": template,
                },
            }
        ],
        "passes": passes,
        "host": "local_system",
        "target": "local_system",
        "output_dir": "olive-output",
        "_autotune": {
            "note": "written by autotune export --format olive" + ("" if tuned else "; no fine-tuning pass")
        },
    }


def olive_builds_config(
    trials: list[tuple[str, dict[str, Any], list[str]]],
    space: dict[str, Any],
    model_path: str,
    target: str,
    seed: int,
) -> dict[str, Any]:
    """One Olive config that runs several trials, ``(build name, params, chain)`` each, as one
    build each (Olive's ``builds``). Pass entries and data configs the trials share are written
    once; differing ones get numbered names (``lora``, ``lora_2``)."""
    configs = [olive_config(params, chain, space, model_path, target, seed) for _, params, chain in trials]
    passes: dict[str, Any] = {}
    data: dict[str, Any] = {}
    builds: dict[str, Any] = {}
    for (name, _, _), cfg in zip(trials, configs, strict=True):
        train = _entry(data, "train", cfg["data_configs"][0])
        pipeline = []
        for pass_name, entry in cfg["passes"].items():
            if "train_data_config" in entry:
                entry["train_data_config"] = train
            pipeline.append(_entry(passes, pass_name, entry))
        builds[name] = {"pipeline": pipeline}
    first = configs[0]
    first["_autotune"]["note"] = "written by autotune export --format olive: one build per trial"
    return {
        **{k: v for k, v in first.items() if k not in ("data_configs", "passes", "_autotune")},
        "data_configs": [dict(d, name=n) for n, d in data.items()],
        "passes": passes,
        "builds": builds,
        "_autotune": first["_autotune"],
    }


def _entry(entries: dict[str, Any], name: str, value: dict[str, Any]) -> str:
    """The key of ``value`` in ``entries``: an equal entry's (its "name" aside), else ``name``,
    numbered if taken."""
    bare = {k: v for k, v in value.items() if k != "name"}
    for key, there in entries.items():
        if {k: v for k, v in there.items() if k != "name"} == bare:
            return key
    key, n = name, 1
    while key in entries:
        n += 1
        key = f"{name}_{n}"
    entries[key] = value
    return key


def _mapping(name: str) -> OliveMapping:
    mapping = get_pass(name).olive
    if mapping is None:
        raise AutotuneError(f"pass {name!r} has no Olive mapping; export it without --format olive")
    return mapping


def _olive_pass(name: str, p: dict[str, Any], seed: int) -> dict[str, Any]:
    """One entry of the config's "passes", in the words ``name``'s ``olive`` declaration gives."""
    m = _mapping(name)
    out: dict[str, Any] = {"type": m.type, **{k: values[0] for k, values in m.fixed.items()}}
    for param, key in m.params.items():
        if param in p or param not in m.optional:
            out[key] = p.get(param)
    defaults = {spec.name: spec.default for spec in get_pass(name).params}
    lost = [k for k, v in p.items() if v != defaults.get(k) and k not in m.written and k not in m.dropped]
    if lost:
        raise AutotuneError(
            f"{name}.{lost[0]}={p[lost[0]]} has no equivalent in Olive's {m.type} pass; "
            "export this trial without --format olive"
        )
    extra = {
        key: m.to_olive(param, p[param])
        for param, key in m.extra_options.items()
        if param in p and p[param] != defaults.get(param)
    }
    if extra:
        out["extra_options"] = extra
    if m.fine_tunes:
        modules = p.get("target_modules", "all-linear")
        groups = [g for g in str(modules).split(",") if g in GROUPS]
        if groups:  # autotune resolves them per model; Olive's LoRA takes module names
            raise AutotuneError(
                f"{name}.target_modules={modules}: {groups[0]} is autotune's group of the model's "
                "layers, which Olive's LoRA does not know; name the modules, or export this trial "
                "without --format olive"
            )
        if "target_modules" in m.params:
            out[m.params["target_modules"]] = modules if modules == "all-linear" else str(modules).split(",")
        out["train_data_config"] = "train"
        out["training_args"] = {key: p.get(param) for param, key in m.training_args.items()} | {"seed": seed}
    return out
