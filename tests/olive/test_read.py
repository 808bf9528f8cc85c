"""Olive configs of both schemas map to the same plan; what cannot run says so in one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from autotune.olive import OliveConfigError, read_olive_config
from autotune.olive._build import build_space
from autotune.olive._goals import needs_baseline, resolve_goals

ASSETS = Path(__file__).parent / "assets"
SEED = ASSETS / "seed-config.json"
CURRENT = ASSETS / "current-config.json"


def _space(path: Path, **kw: Any) -> dict[str, Any]:
    wf = read_olive_config(path, model="/nonexistent/model-id", **kw)
    return build_space(wf, {name: 32 for name in wf.data})


def test_both_schemas_map_to_the_same_plan() -> None:
    old, new = _space(SEED), _space(CURRENT)
    assert old["chains"] == new["chains"] == [["lora", "merge", "build"]]
    lora_old = {k: v for k, v in old["passes"]["lora"].items() if k != "max_length"}
    lora_new = {k: v for k, v in new["passes"]["lora"].items() if k != "max_length"}
    assert (
        lora_old
        == lora_new
        == {
            "target_modules": ["o_proj", "qkv_proj"],
            "rank": 64,
            "alpha": 64,
            "dropout": 0.1,
            "learning_rate": 0.0001,
            "batch_size": 4,
            "steps": 10,
            "max_grad_norm": 0.3,
            "warmup_ratio": 0.03,  # not in the config: Olive's own default, not autotune's 0.1
            "compile": False,  # not in the config: torch_compile's default
        }
    )
    assert old["passes"]["build"] == new["passes"]["build"]
    assert old["passes"]["build"] == {
        "precision": "int4",
        "block_size": 32,
        "accuracy_level": 4,
        "is_symmetric": True,
        "algo_config": "default",
        "matmul_mixed_precision": "none",
        "nodes_to_exclude": "none",
        "kv_cache_quant": "none",
        "enable_cuda_graph": False,
        "intra_op_threads": 0,  # Olive has no thread setting: the runtime's default
    }
    for key in ("text_column", "label_column", "template"):
        assert old["data"][key] == new["data"][key], key
    assert old["data"]["eval"] == {"fraction": 0.3, "seed": 42}  # training_args.data_seed
    assert old["study"]["seed"] == 0
    assert new["data"]["eval"] == {"fraction": 0.3, "seed": 0}
    assert old["targets"] == new["targets"] == ["cpu"]
    assert old["model"] == {"id": "/nonexistent/model-id"}


def test_accepted_but_ignored_keys_are_listed() -> None:
    wf = read_olive_config(SEED, model="x")
    build_space(wf, {"dataset_default_train": 32})
    text = "\n".join(wf.ignored)
    for key in (
        "corpus_strategy",
        "pad_to_max_len",
        "use_attention_mask",
        "systems.aml",
        "engine.cache_dir",
        "passes.lora.double_quant",
        "training_args.adam_beta2",
        "training_args.group_by_length",
        "input_model: replaced by --model",
    ):
        assert key in text, key


def test_model_without_override(tmp_path: Path) -> None:
    wf = read_olive_config(CURRENT)
    assert wf.model == {"id": "microsoft/Phi-3-mini-4k-instruct"}
    wf = read_olive_config(SEED)
    assert wf.model == {"id": "model-cache/microsoft/phi-3-mini", "trust_remote_code": True}


def _bad(tmp_path: Path, change: Any, model: str | None = "x") -> str:
    cfg = json.loads(SEED.read_text())
    change(cfg)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(cfg))
    (tmp_path / "dataset").mkdir(exist_ok=True)
    (tmp_path / "dataset" / "dataset-classification.json").write_text(
        (ASSETS / "dataset" / "dataset-classification.json").read_text()
    )
    with pytest.raises(OliveConfigError) as info:
        wf = read_olive_config(path, model=model)
        build_space(wf, {n: 32 for n in wf.data})
    assert "\n" not in str(info.value)
    return str(info.value)


def test_bad_configs_each_field(tmp_path: Path) -> None:
    def host_aml(c: dict) -> None:
        c["engine"]["host"] = "aml"

    def datastore(c: dict) -> None:
        c["data_configs"][0]["load_dataset_config"]["params"]["data_files"] = {
            "type": "azureml_datastore",
            "config": {},
        }

    def registry(c: dict) -> None:
        c["input_model"]["config"]["model_path"] = {"type": "azureml_registry_model", "config": {"name": "m"}}

    def unknown_pass(c: dict) -> None:
        c["passes"]["q"] = {"type": "OnnxStaticQuantization"}

    def no_template(c: dict) -> None:
        del c["data_configs"][0]["pre_process_data_config"]["params"]["text_template"]

    def list_without_search(c: dict) -> None:
        c["passes"]["builder"]["config"]["precision"] = ["int4", "fp32"]

    def wrong_data_name(c: dict) -> None:
        c["passes"]["lora"]["config"]["train_data_config"] = "nope"

    def hub_dataset(c: dict) -> None:
        c["data_configs"][0]["load_dataset_config"]["params"]["data_name"] = "dair-ai/emotion"

    assert "AzureML systems cannot run here; use a LocalSystem" in _bad(tmp_path, host_aml)
    assert "azure ml datastore cannot be read here" in _bad(tmp_path, datastore).lower()
    assert "pass --model with a local folder" in _bad(_fresh(tmp_path, 1), registry, model=None)
    msg = _bad(_fresh(tmp_path, 2), unknown_pass)
    assert "OnnxStaticQuantization" in msg and "LoRA, QLoRA, MergeAdapterWeights, ModelBuilder" in msg
    assert "needs text_cols (text, label) and text_template" in _bad(_fresh(tmp_path, 3), no_template)
    assert "needs search" in _bad(_fresh(tmp_path, 4), list_without_search)
    assert "no data config named 'nope'" in _bad(_fresh(tmp_path, 5), wrong_data_name)
    assert "only local json or csv" in _bad(_fresh(tmp_path, 6), hub_dataset)


def _fresh(tmp_path: Path, i: int) -> Path:
    d = tmp_path / str(i)
    d.mkdir()
    return d


def test_malformed_json_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "c.json"
    bad.write_text('{\n  "passes": {,\n}')
    with pytest.raises(OliveConfigError, match=r"c\.json line 2: malformed JSON"):
        read_olive_config(bad)


def test_goals_resolve_against_the_input_model() -> None:
    metrics = [
        {
            "name": "acc",
            "type": "accuracy",
            "sub_types": [
                {"name": "accuracy_score", "priority": 1, "goal": {"type": "max-degradation", "value": 0.05}}
            ],
        },
        {
            "name": "lat",
            "type": "latency",
            "sub_types": [
                {"name": "avg", "priority": 2, "goal": {"type": "percent-min-improvement", "value": 20}},
                {"name": "p90", "priority": 3, "goal": {"type": "threshold", "value": 150}},
            ],
        },
    ]
    assert needs_baseline(metrics) == {"accuracy", "latency_mean_ms"}
    base = {"accuracy": 0.8, "latency_mean_ms": 200.0}
    goals = resolve_goals(metrics, base.__getitem__)
    assert [(g["metric"], g["direction"], g["op"], g["value"]) for g in goals] == [
        ("accuracy", "maximize", ">=", 0.75),
        ("latency_mean_ms", "minimize", "<=", 160.0),
        ("latency_p90_ms", "minimize", "<=", 150.0),
    ]
    with pytest.raises(OliveConfigError, match="latency/p99 is not measured"):
        resolve_goals([{"type": "latency", "sub_types": [{"name": "p99"}]}], base.__getitem__)


def test_keys_a_config_omits_take_olives_defaults(tmp_path: Path) -> None:
    """A LoRA pass with only its type and data: it runs as Olive would run it (r 64, alpha 16,
    dropout 0.05, learning rate 2e-4, warm-up 0.03, batch 8, 3 epochs, seed 42), and what autotune
    does differently whatever the config says is warned about."""
    import shutil

    folder = tmp_path / "assets"
    shutil.copytree(ASSETS, folder)
    cfg = json.loads(CURRENT.read_text())
    cfg["passes"]["lora"] = {"type": "LoRA", "train_data_config": "tone_train"}
    (folder / "bare.json").write_text(json.dumps(cfg))
    wf = read_olive_config(folder / "bare.json", model="/nonexistent/model-id")
    space = build_space(wf, {"tone_train": 100})
    lora = space["passes"]["lora"]
    olive = {"rank": 64, "alpha": 16, "dropout": 0.05, "learning_rate": 2e-4, "warmup_ratio": 0.03}
    assert {k: lora[k] for k in olive} == olive and lora["batch_size"] == 8
    assert lora["steps"] == 38  # ceil(100 rows x 3 epochs / batch 8)
    assert space["study"]["seed"] == 42
    assert any("lr_scheduler_type is constant" in w for w in wf.ignored)
