"""Writing a trial back as an Olive workflow config (current schema), so a result can go to Olive."""

from __future__ import annotations

from typing import Any

from autotune.targets import get_target

__all__ = ["olive_config"]


def olive_config(
    params: dict[str, Any], chain: list[str], space: dict[str, Any], model_path: str, target: str, seed: int
) -> dict[str, Any]:
    """The Olive config that runs this trial's chain with its values (the data path is absolute)."""
    data = space["data"]
    passes: dict[str, Any] = {}
    for name in chain:
        p = {k.split(".", 1)[1]: v for k, v in params.items() if k.startswith(name + ".")}
        if name in ("lora", "qlora"):
            modules = p.get("target_modules", "all-linear")
            passes[name] = {
                "type": "QLoRA" if name == "qlora" else "LoRA",
                "r": p.get("rank"),
                "alpha": p.get("alpha"),
                "lora_dropout": p.get("dropout"),
                "target_modules": modules if modules == "all-linear" else str(modules).split(","),
                "train_data_config": "train",
                "training_args": {
                    "learning_rate": p.get("learning_rate"),
                    "max_steps": p.get("steps"),
                    "per_device_train_batch_size": p.get("batch_size"),
                    "max_grad_norm": p.get("max_grad_norm"),
                    "warmup_ratio": p.get("warmup_ratio"),
                    "seed": seed,
                },
            }
            if name == "qlora":
                passes[name].update(quant_type=p.get("quant_type"), double_quant=p.get("double_quant"))
        elif name == "merge":
            passes[name] = {"type": "MergeAdapterWeights"}
        elif name == "build":
            passes[name] = {"type": "ModelBuilder", "precision": p.get("precision")}
            if "block_size" in p:
                passes[name].update(
                    int4_block_size=p["block_size"], int4_accuracy_level=p.get("accuracy_level")
                )
        elif name == "quantize":
            passes[name] = {
                "type": "OnnxDynamicQuantization",
                "weight_type": "QInt8",
                "per_channel": p.get("per_channel"),
                "reduce_range": p.get("reduce_range"),
            }
    lora = passes.get("lora") or passes.get("qlora") or {}
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
                    "max_seq_len": params.get("lora.max_length", params.get("qlora.max_length", 256)),
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
            "note": "written by autotune export --format olive" + ("" if lora else "; no fine-tuning pass")
        },
    }
