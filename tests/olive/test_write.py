"""`autotune export --format olive` writes the trial in Olive's current schema, which reads back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autotune.cli import main
from autotune.olive import read_olive_config
from autotune.olive._build import build_space

pytestmark = pytest.mark.integration


def test_export_as_olive_config_round_trips(tiny_study: Path, tmp_path: Path) -> None:
    dest = tmp_path / "olive-export"
    assert main(["export", str(tiny_study), "--dest", str(dest), "--format", "olive"]) == 0
    cfg = json.loads((dest / "olive-config.json").read_text())
    assert cfg["input_model"]["type"] == "HfModel" and Path(cfg["input_model"]["model_path"]).is_dir()
    assert (dest / "autotune.yaml").is_file()
    trial = json.loads((dest / "metrics.json").read_text())["params"]
    wf = read_olive_config(dest / "olive-config.json")
    space = build_space(wf, {"train": 32})
    lora = space["passes"]["lora"]
    assert (lora["rank"], lora["alpha"], lora["steps"]) == (
        trial["lora.rank"],
        trial["lora.alpha"],
        trial["lora.steps"],
    )
    assert lora["learning_rate"] == pytest.approx(trial["lora.learning_rate"])
    assert space["passes"]["build"]["precision"] == trial["build.precision"]
    assert space["data"]["template"].endswith("{tone}")
