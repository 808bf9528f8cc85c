"""Olive configs run end to end on the tiny model: once as written, and as a search."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autotune.cli import main
from autotune.export.predict import predict

pytestmark = pytest.mark.integration
ASSETS = Path(__file__).parent / "assets"


def test_seed_config_runs_once_as_written(
    tiny_hf_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    rc = main(
        [
            "run",
            "--config",
            str(ASSETS / "seed-config.json"),
            "--model",
            str(tiny_hf_dir),
            "--out",
            str(out),
        ]
    )
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert "warning: passes.lora.training_args.adam_beta2" in printed
    report = json.loads((out / "report.json").read_text())
    assert len(report["rows"]) == 1 and report["rows"][0]["state"] == "complete"
    row = report["rows"][0]
    assert row["params"]["lora.rank"] == 64 and row["params"]["lora.steps"] == 10
    assert row["params"]["build.precision"] == "int4"
    model = out / "output_model"
    assert (model / "model.onnx").is_file() and (model / "genai_config.json").is_file()
    labels = predict(model, ["I can't stop smiling today!", "The noise downstairs terrifies me."])
    assert set(labels) <= {"sadness", "joy", "fear", "surprise"}


def test_search_over_a_list_of_precisions(tiny_hf_dir: Path, tmp_path: Path) -> None:
    cfg = json.loads((ASSETS / "current-config.json").read_text())
    cfg["search_strategy"] = {"search_algorithm": "exhaustive", "num_samples": 2}
    cfg["passes"]["builder"]["precision"] = ["int4", "fp32"]
    cfg["evaluators"] = {
        "common": {
            "metrics": [
                {
                    "name": "accuracy",
                    "type": "accuracy",
                    "sub_types": [
                        {
                            "name": "accuracy_score",
                            "priority": 1,
                            "goal": {"type": "max-degradation", "value": 1.0},
                        }
                    ],
                },
                {"name": "latency", "type": "latency", "sub_types": [{"name": "p90", "priority": 2}]},
            ]
        }
    }
    (tmp_path / "dataset").mkdir()
    (tmp_path / "dataset" / "dataset-classification.json").write_text(
        (ASSETS / "dataset" / "dataset-classification.json").read_text()
    )
    config = tmp_path / "search.json"
    config.write_text(json.dumps(cfg))
    out = tmp_path / "out"
    assert main(["run", "--config", str(config), "--model", str(tiny_hf_dir), "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert sorted(r["params"]["build.precision"] for r in report["rows"]) == ["fp32", "int4"]
    assert report["front"] and report["constraints"][0].startswith("accuracy >= ")
    baseline = json.loads((out / "baseline.json").read_text())
    assert 0.0 <= baseline["accuracy"] <= 1.0
    assert not (out / "output_model").exists()  # a search leaves the choice to `autotune export`
