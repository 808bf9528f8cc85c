"""Reading an Olive workflow config (the older schema of the Phi-3 cookbook, and the current one)
into plain pieces autotune understands, noting every key it accepts but does not use."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autotune.errors import AutotuneError
from autotune.olive._builds import OliveBuild, agreed, build_providers, check_chain, read_builds
from autotune.olive._shape import AZURE_TYPES, OliveConfigError, check_types, one_line
from autotune.olive._shape import at as _at
from autotune.passes import get_pass, pass_names

__all__ = ["OliveConfigError", "OlivePass", "OliveWorkflow", "pass_types", "read_olive_config"]


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
    builds: list[OliveBuild] = field(default_factory=list)  # the config's named pipelines, if any
    strategy: Any = None  # the search_strategy every build runs with


def _is_azure(value: Any) -> bool:
    return isinstance(value, dict) and str(value.get("type", "")) in AZURE_TYPES


def _model(cfg: dict[str, Any], wf_dir: Path, override: str | None, ignored: list[str]) -> dict[str, Any]:
    from autotune.inputs.models import PACKAGED

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


def read_olive_config(
    path: Path, *, model: str | None = None, data_root: Path | None = None, search: bool | None = None
) -> OliveWorkflow:
    """Read ``path`` (JSON); raise OliveConfigError with a one-line message on what cannot run."""
    with one_line(path, "an entry does not have the JSON shape Olive's schema gives it"):
        return _read_olive_config(path, model=model, data_root=data_root, search=search)


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
    check_types(cfg)
    wf_dir = path.parent.resolve()
    ignored: list[str] = []
    engine = cfg.get("engine") or {}
    top = {**cfg, **engine}  # the current schema moved the engine's keys to the top level
    systems = cfg.get("systems") or {}
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
    builds = read_builds(cfg, passes_cfg, wf_dir, ignored)
    passes = []
    types = pass_types()
    for name, p in passes_cfg.items():
        if builds and not any(name in b.pipeline for b in builds):
            continue  # Olive runs only the passes a build names
        kind = p.get("type") if isinstance(p, dict) else None
        if kind not in types:
            raise _at(f"passes.{name}.type", f"{kind!r} is not supported; supported: {', '.join(types)}")
        conf = p.get("config", {k: v for k, v in p.items() if k != "type"})
        passes.append(OlivePass(name, kind, types[kind], conf))
    for b in builds:
        check_chain(b, {p.name: p.pass_name for p in passes})
    providers = build_providers(top, systems, builds)
    used = {top.get("host"), top.get("target")}
    used |= {b.settings.get(role) for b in builds for role in ("host", "target")}
    unused = [n for n in systems if n not in used]
    ignored += [f"systems.{n}: not the engine's host or target" for n in unused]
    strategy = agreed(builds, "search_strategy", top.get("search_strategy"), lambda v, _key: v)
    metrics = []
    evaluators = cfg.get("evaluators") or {}

    def evaluator(chosen: Any, key: str) -> Any:  # a build's evaluator: a name, or one inline
        if isinstance(chosen, str) and chosen not in evaluators:
            raise _at(key, f"no evaluator named {chosen!r} in evaluators")
        return evaluators.get(chosen) if isinstance(chosen, str) else chosen

    chosen = top.get("evaluator")
    ev = evaluators.get(chosen) if isinstance(chosen, str) else chosen
    ev = agreed(builds, "evaluator", ev, evaluator)
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
        "builds",
        "max_concurrent_builds",
    }
    for k in cfg:
        if k not in known_top:
            ignored.append(f"{k}: unknown key, ignored")
    for k in ("pass_flows", "packaging_config", "auto_optimizer_config", "output_name"):
        if k in top:
            ignored.append(f"{k}: not supported; the chain is the order of passes (or a build's pipeline)")
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
        builds=builds,
        strategy=strategy,
    )
