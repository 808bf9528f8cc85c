"""Write the Olive config (current schema) both tools run: LoRA, MergeAdapterWeights, ModelBuilder int4."""

from __future__ import annotations

import json
import sys
from pathlib import Path

model_dir, data_file, out_dir = sys.argv[1], sys.argv[2], Path(sys.argv[3])
config = {
    "input_model": {"type": "HfModel", "model_path": model_dir},
    "systems": {
        "local_system": {
            "type": "LocalSystem",
            "accelerators": [{"device": "cpu", "execution_providers": ["CPUExecutionProvider"]}],
        }
    },
    "data_configs": [
        {
            "name": "train",
            "type": "HuggingfaceContainer",
            "load_dataset_config": {"data_name": "json", "data_files": data_file, "split": "train"},
            "pre_process_data_config": {
                "strategy": "line-by-line",
                "max_seq_len": 64,
                "text_cols": ["phrase", "tone"],
                "text_template": "### Text: {phrase}\n### The tone is:\n{tone}",
            },
        }
    ],
    "passes": {
        "lora": {
            "type": "LoRA",
            "r": 16,
            "alpha": 32,
            "lora_dropout": 0.05,
            "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
            "train_data_config": "train",
            "training_args": {
                "learning_rate": 0.0005,
                "max_steps": 60,
                "per_device_train_batch_size": 8,
                "seed": 0,
            },
        },
        "merge": {"type": "MergeAdapterWeights"},
        "builder": {"type": "ModelBuilder", "precision": "int4"},
    },
    "host": "local_system",
    "target": "local_system",
    "cache_dir": str(out_dir / "olive-cache"),
    "output_dir": str(out_dir / "olive-output"),
}
(out_dir / "config.json").write_text(json.dumps(config, indent=2))
print(out_dir / "config.json")
