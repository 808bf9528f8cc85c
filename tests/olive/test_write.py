"""`autotune export --format olive` writes the trial in Olive's current schema, which reads back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


def _same_values(build: dict[str, Any], trial: dict[str, Any]) -> bool:
    """Whether a read-back build gives every parameter the trial's value (in autotune's words)."""
    from autotune.passes import get_pass
    from autotune.space.params import Fixed, parse_values

    for key, value in trial["params"].items():
        name, param = key.split(".", 1)
        spec = next(s for s in get_pass(name).params if s.name == param)
        if parse_values(spec, build["passes"][name].get(param)) != Fixed(value):
            return False
    return build["chain"] == trial["chain"].split(">")


def test_a_front_exported_as_builds_reads_back_as_the_same_trials(tiny_study: Path, tmp_path: Path) -> None:
    """`autotune export --front --format olive` writes one Olive config with one build per front
    trial, which reads back as those trials."""
    report = json.loads((tiny_study / "report.json").read_text())
    originals = {r["number"]: r for r in report["rows"]}
    dest = tmp_path / "front"
    assert main(["export", str(tiny_study), "--front", "--format", "olive", "--dest", str(dest)]) == 0
    cfg = json.loads((dest / "olive-config.json").read_text())
    names = [f"trial-{n}" for n in report["front"]]
    assert names and list(cfg["builds"]) == names
    assert all((dest / name / "genai_config.json").is_file() for name in names)
    wf = read_olive_config(dest / "olive-config.json")
    builds = build_space(wf, {"train": 32})["olive"]["builds"]
    assert all(_same_values(builds[f"trial-{n}"], originals[n]) for n in report["front"])


def test_trials_exported_as_builds_run_back_as_the_same_trials(tiny_study: Path, tmp_path: Path) -> None:
    """Every trial of the study (two chains, different fine-tunes) as one builds config:
    `autotune run --config` runs each build once, with the trial's values."""
    report = json.loads((tiny_study / "report.json").read_text())
    originals = {r["number"]: r for r in report["rows"] if r["state"] == "complete"}
    assert len(originals) == 3 and len({r["params"]["lora.rank"] for r in originals.values()}) > 1
    dest = tmp_path / "all"
    picked = [a for n in originals for a in ("--trial", str(n))]
    assert main(["export", str(tiny_study), *picked, "--format", "olive", "--dest", str(dest)]) == 0
    cfg = json.loads((dest / "olive-config.json").read_text())
    assert len(cfg["data_configs"]) == 1 and {"lora", "lora_2", "merge", "build"} <= set(cfg["passes"])
    out = tmp_path / "again"
    small = ["data.max_train_rows=64", "data.max_eval_rows=12", "evaluation.latency_repeats=2"]
    assert main(["run", "--config", str(dest / "olive-config.json"), "--out", str(out), *small]) == 0
    again = {r["build"]: r for r in json.loads((out / "report.json").read_text())["rows"]}
    assert sorted(again) == sorted(f"trial-{n}" for n in originals)
    for n, original in originals.items():
        row = again[f"trial-{n}"]
        assert (row["chain"], row["params"]) == (original["chain"], original["params"])
        # no output_dir of its own: below the study's folder (--out, else the config's output_dir)
        assert (out / f"trial-{n}" / "output_model" / "genai_config.json").is_file()


def test_a_lora_group_is_refused_for_olive_in_one_line() -> None:
    """Issue 34: autotune resolves attention/mlp per model; Olive's LoRA would get the word."""
    from autotune.errors import AutotuneError
    from autotune.olive._write import _olive_pass

    params = {"rank": 8, "alpha": 16, "dropout": 0.05, "learning_rate": 1e-3, "steps": 4, "batch_size": 4}
    assert _olive_pass("lora", {**params, "target_modules": "q_proj,v_proj"}, 0)["target_modules"] == [
        "q_proj",
        "v_proj",
    ]
    with pytest.raises(AutotuneError, match=r"lora.target_modules=attention: attention is autotune's group"):
        _olive_pass("lora", {**params, "target_modules": "attention"}, 0)
