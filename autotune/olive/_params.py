"""One Olive pass entry (with its alternatives) in autotune's words: the parameters of the
autotune pass it maps to, with Olive's own defaults for what the entry leaves out."""

from __future__ import annotations

import math
from typing import Any

from autotune.errors import AutotuneError
from autotune.olive._read import OliveConfigError, OlivePass, OliveWorkflow
from autotune.passes import OliveMapping, get_pass

__all__ = ["fill_defaults", "mapping", "merge_alternatives", "pass_values"]

_TRAINING_IGNORED = {
    "per_device_eval_batch_size": "evaluation runs one phrase at a time",
    "gradient_checkpointing": "it saves memory only; the result is the same",
    "logging_steps": "autotune logs the loss itself",
    "evaluation_strategy": "the eval split is measured once, after training",
    "eval_strategy": "the eval split is measured once, after training",
    "eval_steps": "the eval split is measured once, after training",
    "group_by_length": "batches are drawn at random; padding is per batch",
    "adam_beta2": "AdamW runs with its default betas (0.9, 0.999)",
    "num_train_epochs": "max_steps decides the length when it is set",
    "save_steps": "only the final adapter is kept",
    "output_dir": "adapters live in autotune's cache",
    "overwrite_output_dir": "adapters live in autotune's cache",
    "lr_scheduler_type": "the schedule is linear warm-up then cosine decay",
    "bf16": "the dtype follows the target (fp32 on CPU, bf16 on CUDA)",
    "fp16": "the dtype follows the target (fp32 on CPU, bf16 on CUDA)",
}


def _value(v: Any, search: bool, key: str) -> Any:
    """A list becomes search choices when searching; without search, a list is refused."""
    if isinstance(v, list) and not key.endswith("target_modules"):
        if not search:
            raise OliveConfigError(f"{key}: a list of values needs search (--search or search_strategy)")
        return {"choices": v}
    return v


def _lora(
    p: OlivePass, conf: dict[str, Any], wf: OliveWorkflow, data: dict[str, Any], ignored: list[str]
) -> dict[str, Any]:
    key = f"passes.{p.name}"
    out: dict[str, Any] = {}
    m = mapping(p)
    names = m.read
    qlora = _mapping_of("qlora")
    qlora_only = {k for k in (qlora.read if qlora else {}) if k not in names}
    ta = m.training_args
    targs = dict(conf.get("training_args") or {})
    for k, v in conf.items():
        if k in names:
            out[names[k]] = _value(v, wf.search, f"{key}.{k}")
        elif k in (
            "train_data_config",
            "eval_data_config",
            "eval_dataset_size",
            "training_args",
            "compute_dtype",
        ):
            continue
        elif k in qlora_only:
            ignored.append(f"{key}.{k}: only QLoRA quantizes the base model")
        else:
            ignored.append(f"{key}.{k}: not used by autotune's {p.pass_name} pass")
    if (
        isinstance(out.get("target_modules"), list)
        and out["target_modules"]
        and isinstance(out["target_modules"][0], list)
    ):
        out["target_modules"] = {"choices": out["target_modules"]} if wf.search else out["target_modules"]
    if ta["learning_rate"] in targs:
        out["learning_rate"] = _value(
            targs.pop(ta["learning_rate"]), wf.search, f"{key}.training_args.{ta['learning_rate']}"
        )
    batch = int(targs.pop(ta["batch_size"], m.olive_defaults.get("batch_size", 8))) * int(
        targs.pop("gradient_accumulation_steps", 1)
    )
    out["batch_size"] = batch
    max_steps = targs.pop(ta["steps"], -1)
    epochs = targs.get("num_train_epochs", 3)  # transformers.TrainingArguments' default
    if isinstance(max_steps, int) and max_steps > 0:
        out["steps"] = max_steps
    else:
        rows = data["train_rows"]
        out["steps"] = max(1, math.ceil(rows * float(epochs) / batch))
        targs.pop("num_train_epochs", None)
    for param in ("max_grad_norm", "warmup_ratio"):
        if ta[param] in targs:
            out[param] = float(targs.pop(ta[param]))
    for k in ("seed", "data_seed"):
        targs.pop(k, None)
    if data.get("max_len"):
        out["max_length"] = int(data["max_len"])
    for k in targs:
        why = _TRAINING_IGNORED.get(k, "not used by autotune's training loop")
        ignored.append(f"{key}.training_args.{k}: {why}")
    return out


def _mapping_of(name: str) -> OliveMapping | None:
    try:
        return get_pass(name).olive
    except AutotuneError:
        return None


def mapping(p: OlivePass) -> OliveMapping:
    m = _mapping_of(p.pass_name)
    assert m is not None  # the reader only accepts types some pass declares
    return m


def _mapped(p: OlivePass, conf: dict[str, Any], search: bool, ignored: list[str]) -> dict[str, Any]:
    key = f"passes.{p.name}"
    m = mapping(p)
    names = m.read
    out: dict[str, Any] = {}
    for k, v in conf.items():
        if k == "extra_options" and isinstance(v, dict):
            for ek, ev in v.items():
                if ek in names:
                    out[names[ek]] = m.from_olive(names[ek], _value(ev, search, f"{key}.extra_options.{ek}"))
                else:
                    ignored.append(f"{key}.extra_options.{ek}: not searched by autotune's builder pass")
        elif k in names:
            out[names[k]] = _value(v, search, f"{key}.{k}")
        elif k in m.fixed and str(v).lower() not in (f.lower() for f in m.fixed[k]):
            raise OliveConfigError(f"{key}.{k}: {v!r}; autotune's {p.pass_name} pass writes {m.fixed[k][0]}")
        else:
            ignored.append(f"{key}.{k}: not used by autotune's {p.pass_name} pass")
    return out


def _alternatives(p: OlivePass, search: bool) -> list[dict[str, Any]]:
    if isinstance(p.config, list):
        if not search:
            raise OliveConfigError(f"passes.{p.name}: a list of alternative configs needs search")
        return [dict(c) for c in p.config]
    return [dict(p.config or {})]


def merge_alternatives(params: list[dict[str, Any]]) -> dict[str, Any]:
    """Alternatives become choices per parameter (their cross product is searched)."""
    out: dict[str, Any] = {}
    for key in dict.fromkeys(k for p in params for k in p):
        values = []
        for p in params:
            v = p.get(key)
            for item in v["choices"] if isinstance(v, dict) and "choices" in v else [v]:
                if item is not None and item not in values:
                    values.append(item)
        out[key] = values[0] if len(values) == 1 else {"choices": values}
    return out


def fill_defaults(passes: dict[str, Any], ignored: list[str]) -> None:
    """What the config does not set takes Olive's own default where its pass has one (so the
    config runs as Olive would run it), else the autotune pass's; Olive searches only what it lists.
    What autotune does differently whatever the config says is added to the warnings."""
    for name, params in passes.items():
        cls = get_pass(name)
        mapping = cls.olive
        olive_defaults = mapping.olive_defaults if mapping else {}
        for spec in cls.params:
            params.setdefault(spec.name, olive_defaults.get(spec.name, spec.default))
        for note in mapping.differences if mapping else ():
            ignored.append(f"passes ({name}): {note}")


def pass_values(
    p: OlivePass, wf: OliveWorkflow, train_rows: dict[str, int], ignored: list[str]
) -> tuple[dict[str, Any], str | None]:
    """(the autotune parameters of entry ``p``, the data config it trains on if it fine-tunes);
    ``train_rows`` (rows per data config) sizes epoch-based runs."""
    alts = _alternatives(p, wf.search)
    m = mapping(p)
    data_name = None
    if m.fine_tunes:
        data_name = alts[0].get("train_data_config") or next(iter(wf.data), None)
        if data_name not in wf.data:
            raise OliveConfigError(f"passes.{p.name}.train_data_config: no data config named {data_name!r}")
        data = {**wf.data[data_name], "train_rows": train_rows.get(data_name, 100)}
        params = [_lora(p, a, wf, data, ignored) for a in alts]
    elif m.read or m.fixed:
        params = [_mapped(p, a, wf.search, ignored) for a in alts]
    else:
        params = [{}]
        for a in alts:
            ignored += [f"passes.{p.name}.{k}: {p.pass_name} takes no parameters" for k in a]
    return merge_alternatives(params), data_name
