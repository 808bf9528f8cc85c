"""Turning a read Olive workflow into an autotune space (the loader then validates it as usual)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from autotune.data import check_disjoint
from autotune.errors import AutotuneError, DataError
from autotune.olive._read import OliveConfigError, OlivePass, OliveWorkflow
from autotune.passes import OliveMapping, get_pass
from autotune.targets import target_for_providers

__all__ = ["build_space"]

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
    m = _mapping(p)
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


def _mapping(p: OlivePass) -> OliveMapping:
    m = _mapping_of(p.pass_name)
    assert m is not None  # the reader only accepts types some pass declares
    return m


def _mapped(p: OlivePass, conf: dict[str, Any], search: bool, ignored: list[str]) -> dict[str, Any]:
    key = f"passes.{p.name}"
    m = _mapping(p)
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


def _merge_alternatives(params: list[dict[str, Any]]) -> dict[str, Any]:
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


def _fill_defaults(passes: dict[str, Any], ignored: list[str]) -> None:
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


def _target(providers: list[str]) -> str:
    try:
        return target_for_providers(providers).name
    except ValueError as exc:
        raise OliveConfigError(f"execution_providers: {exc}") from None


def build_space(
    wf: OliveWorkflow, train_rows: dict[str, int], goals: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The autotune space for ``wf``; ``train_rows`` (rows per data config) sizes epoch-based runs."""
    ignored = wf.ignored
    chain: list[str] = []
    passes: dict[str, Any] = {}
    data_name = None
    for p in wf.passes:
        name = p.pass_name
        chain.append(name)
        alts = _alternatives(p, wf.search)
        m = _mapping(p)
        if m.fine_tunes:
            data_name = alts[0].get("train_data_config") or next(iter(wf.data), None)
            if data_name not in wf.data:
                raise OliveConfigError(
                    f"passes.{p.name}.train_data_config: no data config named {data_name!r}"
                )
            data = {**wf.data[data_name], "train_rows": train_rows.get(data_name, 100)}
            params = [_lora(p, a, wf, data, ignored) for a in alts]
        elif m.read or m.fixed:
            params = [_mapped(p, a, wf.search, ignored) for a in alts]
        else:
            params = [{}]
            for a in alts:
                ignored += [f"passes.{p.name}.{k}: {name} takes no parameters" for k in a]
        passes[name] = _merge_alternatives(params)
    for name in chain:  # e.g. quantize needs the builder's fp32 model
        for upstream, fixed in get_pass(name).upstream_fixed.items():
            if upstream in passes:
                passes[upstream].update(fixed)
    _fill_defaults(passes, ignored)
    if data_name is None:
        if not wf.data:
            raise OliveConfigError("data_configs: no data; a fine-tuning workflow needs one")
        data_name = next(iter(wf.data))
    d = wf.data[data_name]
    space = _data_section(wf, data_name, d, chain, passes)
    space["objectives"], space["constraints"] = _objectives(goals)
    return space


def _data_section(
    wf: OliveWorkflow, data_name: str, d: dict[str, Any], chain: list[str], passes: dict[str, Any]
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
    lora = next((p for p in wf.passes if _mapping(p).fine_tunes), None)
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
        "chains": [chain],
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
