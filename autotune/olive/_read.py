"""Reading an Olive workflow config (the older schema of the Phi-3 cookbook, and the current one)
into plain pieces autotune understands, noting every key it accepts but does not use."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autotune.errors import AutotuneError
from autotune.passes import get_pass, pass_names

__all__ = ["OliveConfigError", "OlivePass", "OliveWorkflow", "pass_types", "read_olive_config"]
AZURE_TYPES = (
    "AzureML",
    "AzureMLSystem",
    "azureml",
    "azureml_datastore",
    "azureml_registry_model",
    "azureml_model",
    "azureml_datastore_path",
)


class OliveConfigError(AutotuneError):
    """An Olive config autotune cannot run; the message names the key and what to do."""


def pass_types() -> dict[str, str]:
    """Olive pass type -> autotune pass name, from each registered pass's ``olive`` declaration."""
    types: dict[str, str] = {}
    # In chain order (adapters, then Hugging Face models, then ONNX), so an error lists them as a chain reads.
    order = {"adapter": 0, "hf": 1, "onnx": 2}
    names = sorted(
        pass_names(), key=lambda n: (order[get_pass(n).output_kind], order[get_pass(n).input_kind])
    )
    for name in names:
        mapping = get_pass(name).olive
        for kind in mapping.types if mapping is not None else ():
            if kind in types:
                raise AutotuneError(
                    f"Olive pass type {kind!r} is claimed by both {types[kind]!r} and {name!r}"
                )
            types[kind] = name
    return types


@dataclass
class OlivePass:
    name: str  # the key in the config's "passes"
    type: str  # Olive's pass type
    pass_name: str  # the autotune pass it maps to
    config: dict[str, Any] | list[dict[str, Any]]


@dataclass
class OliveWorkflow:
    path: Path
    model: dict[str, Any]  # autotune model section
    data: dict[str, dict[str, Any]]  # data config name -> normalized pieces
    passes: list[OlivePass]
    providers: list[str]
    search: bool
    output_dir: str | None
    metrics: list[dict[str, Any]]
    evaluate_input_model: bool
    ignored: list[str] = field(default_factory=list)  # "key: why", shown as warnings


def _at(key: str, msg: str) -> OliveConfigError:
    return OliveConfigError(f"{key}: {msg}")


def _is_azure(value: Any) -> bool:
    return isinstance(value, dict) and str(value.get("type", "")) in AZURE_TYPES


def _model(cfg: dict[str, Any], wf_dir: Path, override: str | None, ignored: list[str]) -> dict[str, Any]:
    from autotune.models import PACKAGED

    if override is not None:
        if "input_model" in cfg:
            ignored.append("input_model: replaced by --model")
        if override in PACKAGED:
            return {"packaged": override}
        p = Path(override)
        if p.suffix == ".gguf" and p.is_file():
            return {"gguf": str(p.resolve())}
        if p.is_dir():
            return {"path": str(p.resolve())}
        return {"id": override}
    im = cfg.get("input_model")
    if not isinstance(im, dict):
        raise _at("input_model", "missing; give it in the config or pass --model PATH_OR_ID")
    kind = im.get("type", "")
    body = im.get("config", im) if kind == "PyTorchModel" else im
    if kind not in ("PyTorchModel", "HfModel", "hfmodel", "pytorchmodel"):
        raise _at("input_model.type", f"{kind!r} is not supported; use HfModel or PyTorchModel, or --model")
    hf = body.get("hf_config") or {}
    path = body.get("model_path")
    if _is_azure(path):
        raise _at(
            "input_model.config.model_path",
            "an Azure ML registry model cannot be fetched here; pass --model with a local folder",
        )
    source = path if isinstance(path, str) else hf.get("model_name")
    if not isinstance(source, str):
        raise _at("input_model", "no model_path or hf_config.model_name; pass --model PATH_OR_ID")
    args = body.get("load_kwargs") or hf.get("from_pretrained_args") or hf.get("model_loading_args") or {}
    for k in ("task", "model_file_format"):
        if k in body or k in hf:
            ignored.append(f"input_model.{k}: autotune always loads a causal LM from Hugging Face files")
    local = wf_dir / source
    section: dict[str, Any] = {"path": str(local.resolve())} if local.is_dir() else {"id": source}
    if args.get("trust_remote_code"):
        section["trust_remote_code"] = True
    return section


def _data_config(dc: dict[str, Any], i: int, data_root: Path, ignored: list[str]) -> dict[str, Any]:
    name = dc.get("name") or f"data_configs[{i}]"
    key = f"data_configs[{i}] ({name})"
    if dc.get("type", "HuggingfaceContainer") not in ("HuggingfaceContainer", "huggingfacecontainer"):
        raise _at(f"{key}.type", f"{dc.get('type')!r} is not supported; use HuggingfaceContainer")
    load = dc.get("load_dataset_config") or {}
    load = load.get("params", load)
    pre = dc.get("pre_process_data_config") or {}
    pre = pre.get("params", pre)
    legacy = dc.get("params_config") or {}
    if legacy:
        load = {**legacy, **load}
        pre = {**(legacy.get("component_kwargs", {}).get("pre_process_data") or {}), **pre}
    files = load.get("data_files")
    if _is_azure(files):
        raise _at(
            f"{key}.data_files", "an Azure ML datastore cannot be read here; point data_files at a local file"
        )
    if isinstance(files, list) and len(files) == 1:
        files = files[0]
    if not isinstance(files, str):
        raise _at(f"{key}.data_files", "give one local json/jsonl/csv file")
    if load.get("data_name", "json") not in ("json", "csv"):
        raise _at(
            f"{key}.data_name", f"{load.get('data_name')!r}: only local json or csv files can be read here"
        )
    cols, template = pre.get("text_cols"), pre.get("text_template")
    if not isinstance(template, str) or not isinstance(cols, list) or len(cols) < 2:
        raise _at(f"{key}.pre_process_data_config", "needs text_cols (text, label) and text_template")
    for k, why in (
        (
            "corpus_strategy",
            "each row is one example with the loss on its label only (joining rows would train on prompts)",
        ),
        ("strategy", "each row is one example with the loss on its label only"),
        ("pad_to_max_len", "batches are padded to their longest example"),
        ("use_attention_mask", "the attention mask is always used"),
        ("dataset_type", "the rows are read as a labelled corpus"),
        ("split", "the file's rows are all read; the eval split comes from eval_dataset_size"),
    ):
        if k in pre or k in load:
            ignored.append(f"{key}.{k}: {why}")
    return {
        "path": str((data_root / files).resolve()),
        "text_cols": [str(c) for c in cols],
        "template": template,
        "max_len": pre.get("source_max_len") or pre.get("max_seq_len"),
    }


# The JSON type of each section autotune reads (Olive's own schema), with an example of it.
_SECTION_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "input_model": ((dict, str), '{"type": "HfModel", "model_path": "..."}'),
    "systems": ((dict,), '{"local_system": {"type": "LocalSystem"}}'),
    "data_configs": ((list,), '[{"name": "train", ...}]'),
    "passes": ((dict,), '{"lora": {"type": "LoRA"}}'),
    "engine": ((dict,), '{"host": "local_system"}'),
    "evaluators": ((dict,), '{"common_evaluator": {"metrics": [...]}}'),
    "host": ((str, dict), '"local_system"'),
    "target": ((str, dict), '"local_system"'),
    "evaluator": ((str, dict), '"common_evaluator"'),
    "output_dir": ((str,), '"models/out"'),
    "execution_providers": ((list,), '["CPUExecutionProvider"]'),
    "accelerators": ((list,), '[{"device": "cpu", "execution_providers": ["CPUExecutionProvider"]}]'),
    # inside a data config
    "name": ((str,), '"train"'),
    "load_dataset_config": ((dict,), '{"data_files": "train.json"}'),
    "pre_process_data_config": ((dict,), '{"text_cols": ["phrase"]}'),
    "params_config": ((dict,), '{"data_files": "train.json"}'),
    "params": ((dict,), '{"data_files": "train.json"}'),
    # inside a pass
    "type": ((str,), '"LoRA"'),
    "config": ((dict,), '{"r": 16}'),
}


_JSON_NAMES: dict[type, str] = {dict: "object", list: "array", str: "string"}


def _check_types(cfg: dict[str, Any]) -> None:
    """Every section autotune reads has Olive's JSON type (a list of providers, not a string...)."""

    def check(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                spec = _SECTION_TYPES.get(key)
                at = f"{where}.{key}" if where else str(key)
                if spec is not None and value is not None and not isinstance(value, spec[0]):
                    kinds = " or ".join(_JSON_NAMES[t] for t in spec[0])
                    raise _at(at, f"must be a JSON {kinds}, e.g. {spec[1]} (got {type(value).__name__})")
                if key in ("systems", "engine") or (where.startswith("systems") and isinstance(value, dict)):
                    check(value, at)
                if key == "accelerators" and isinstance(value, list):
                    for i, acc in enumerate(value):  # an object, or a device name (older schema)
                        if not isinstance(acc, (dict, str)):
                            raise _at(f"{at}[{i}]", "an accelerator is a JSON object or a device name")
                        check(acc, f"{at}[{i}]")
                if key == "execution_providers" and isinstance(value, list):
                    bad = [v for v in value if not isinstance(v, str)]
                    if bad:
                        raise _at(at, f"execution providers are names (strings), not {bad[0]!r}")
                if key == "data_configs" and isinstance(value, list):
                    for i, dc in enumerate(value):
                        if not isinstance(dc, dict):
                            raise _at(f"{at}[{i}]", "a data config is a JSON object")
                        check(dc, f"{at}[{i}]")
                        for sub in ("load_dataset_config", "pre_process_data_config"):
                            if isinstance(dc.get(sub), dict):
                                check(dc[sub], f"{at}[{i}].{sub}")
                if key == "passes" and isinstance(value, dict):
                    for name, conf in value.items():
                        if isinstance(conf, dict):
                            check(conf, f"{at}.{name}")

    check(cfg, "")


def read_olive_config(
    path: Path, *, model: str | None = None, data_root: Path | None = None, search: bool | None = None
) -> OliveWorkflow:
    """Read ``path`` (JSON); raise OliveConfigError with a one-line message on what cannot run."""
    try:
        return _read_olive_config(path, model=model, data_root=data_root, search=search)
    except (TypeError, AttributeError, KeyError, IndexError, ValueError) as exc:
        # a shape the checks above do not name (found by fuzzing): still one line, never a traceback
        first = (str(exc).strip().splitlines() or [""])[0]
        raise OliveConfigError(
            f"{path}: an entry does not have the JSON shape Olive's schema gives it "
            f"({type(exc).__name__}: {first}); check the config against Olive's schema"
        ) from None


def _read_olive_config(
    path: Path, *, model: str | None, data_root: Path | None, search: bool | None
) -> OliveWorkflow:
    try:
        cfg = json.loads(path.read_text())
    except FileNotFoundError:
        raise OliveConfigError(f"{path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise OliveConfigError(f"{path} line {exc.lineno}: malformed JSON: {exc.msg}") from None
    if not isinstance(cfg, dict):
        raise OliveConfigError(f"{path}: an Olive config is a JSON object")
    _check_types(cfg)
    wf_dir = path.parent.resolve()
    ignored: list[str] = []
    engine = cfg.get("engine") or {}
    top = {**cfg, **engine}  # the current schema moved the engine's keys to the top level
    systems = cfg.get("systems") or {}
    providers: list[str] = list(top.get("execution_providers") or [])
    for role in ("host", "target"):
        sys_name = top.get(role)
        system = systems.get(sys_name) if isinstance(sys_name, str) else sys_name
        if isinstance(system, dict):
            if system.get("type") in AZURE_TYPES:
                raise _at(
                    f"systems.{sys_name}",
                    "AzureML systems cannot run here; use a LocalSystem (autotune runs on this machine)",
                )
            for acc in system.get("config", system).get("accelerators") or []:
                if isinstance(acc, dict):
                    providers += list(acc.get("execution_providers") or [])
    unused = [n for n, s in systems.items() if n not in (top.get("host"), top.get("target"))]
    ignored += [f"systems.{n}: not the engine's host or target" for n in unused]
    for k, why in (
        ("cache_dir", "autotune keeps its own content-addressed cache in the output folder"),
        ("log_severity_level", "autotune prints its own progress"),
        ("clean_cache", "the cache is content-addressed; nothing stale is reused"),
    ):
        if k in top:
            ignored.append(f"engine.{k}: {why}")
    root = data_root.resolve() if data_root else wf_dir
    data = {}
    for i, dc in enumerate(cfg.get("data_configs") or []):
        data[dc.get("name") or f"data_configs[{i}]"] = _data_config(dc, i, root, ignored)
    passes_cfg = cfg.get("passes") or {}
    if not isinstance(passes_cfg, dict) or not passes_cfg:
        raise _at("passes", "no passes to run")
    passes = []
    types = pass_types()
    for name, p in passes_cfg.items():
        kind = p.get("type") if isinstance(p, dict) else None
        if kind not in types:
            raise _at(f"passes.{name}.type", f"{kind!r} is not supported; supported: {', '.join(types)}")
        conf = p.get("config", {k: v for k, v in p.items() if k != "type"})
        passes.append(OlivePass(name, kind, types[kind], conf))
    strategy = top.get("search_strategy")
    metrics = []
    evaluators = cfg.get("evaluators") or {}
    chosen = top.get("evaluator")
    ev = evaluators.get(chosen) if isinstance(chosen, str) else chosen
    if ev is None and evaluators:
        ev = next(iter(evaluators.values()))
    if isinstance(ev, dict):
        metrics = list(ev.get("metrics") or [])
    known_top = {
        "input_model",
        "systems",
        "data_configs",
        "passes",
        "engine",
        "evaluators",
        "host",
        "target",
        "search_strategy",
        "execution_providers",
        "cache_dir",
        "output_dir",
        "evaluator",
        "evaluate_input_model",
        "log_severity_level",
        "clean_cache",
        "output_name",
        "description",
        "workflow_id",
        "auto_optimizer_config",
        "pass_flows",
        "packaging_config",
    }
    for k in cfg:
        if k not in known_top:
            ignored.append(f"{k}: unknown key, ignored")
    for k in ("pass_flows", "packaging_config", "auto_optimizer_config", "output_name"):
        if k in top:
            ignored.append(f"{k}: not supported; the chain is the order of passes")
    return OliveWorkflow(
        path=path.resolve(),
        model=_model(cfg, wf_dir, model, ignored),
        data=data,
        passes=passes,
        providers=providers,
        search=bool(strategy) if search is None else search,
        output_dir=top.get("output_dir"),
        metrics=metrics,
        evaluate_input_model=bool(top.get("evaluate_input_model", True)),
        ignored=ignored,
    )
