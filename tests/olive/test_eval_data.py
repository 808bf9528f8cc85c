"""Olive's eval data becomes the search split; a phrase it shares with the training data is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from autotune.cli import main
from autotune.olive import OliveConfigError, read_olive_config
from autotune.olive._build import build_space

ASSETS = Path(__file__).parent / "assets"
TRAIN = ASSETS / "dataset" / "dataset-classification.json"


def _config(tmp_path: Path, eval_rows: list[dict[str, str]] | None, **lora: Any) -> Path:
    """The current-schema asset with its data copied to ``tmp_path``, plus an eval data config."""
    cfg = json.loads((ASSETS / "current-config.json").read_text())
    (tmp_path / "dataset").mkdir(exist_ok=True)
    (tmp_path / "dataset" / TRAIN.name).write_text(TRAIN.read_text())
    if eval_rows is not None:
        (tmp_path / "dataset" / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in eval_rows))
        tone_eval = json.loads(json.dumps(cfg["data_configs"][0]))
        tone_eval["name"] = "tone_eval"
        tone_eval["load_dataset_config"]["data_files"] = "dataset/eval.jsonl"
        cfg["data_configs"].append(tone_eval)
        cfg["passes"]["lora"]["eval_data_config"] = "tone_eval"
    cfg["passes"]["lora"].update(lora)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(cfg))
    return path


def _space(path: Path) -> dict[str, Any]:
    wf = read_olive_config(path, model="x")
    return build_space(wf, {n: 120 for n in wf.data})


def _fresh_rows(n: int) -> list[dict[str, str]]:
    return [{"phrase": f"a new phrase for the eval file, number {i}", "tone": "joy"} for i in range(n)]


def test_eval_data_config_is_the_search_file(tmp_path: Path) -> None:
    data = _space(_config(tmp_path, _fresh_rows(24)))["data"]
    assert data["eval"] == {"path": str((tmp_path / "dataset" / "eval.jsonl").resolve()), "seed": 0}
    assert "confirm" not in data  # the default: a fraction of the training data


def test_without_eval_size_the_default_fraction_is_left_unset(tmp_path: Path) -> None:
    path = _config(tmp_path, None)
    cfg = json.loads(path.read_text())
    del cfg["passes"]["lora"]["eval_dataset_size"]
    path.write_text(json.dumps(cfg))
    assert _space(path)["data"]["eval"] == {"seed": 0}  # so that small data may raise it


def test_eval_rows_shared_with_training_are_refused(tmp_path: Path) -> None:
    shared = [json.loads(x) for x in TRAIN.read_text().splitlines()[5:8]]
    shared[0]["phrase"] = "  " + shared[0]["phrase"].upper()
    path = _config(tmp_path, [*_fresh_rows(10), *shared])
    with pytest.raises(OliveConfigError) as info:
        _space(path)
    msg = str(info.value)
    assert msg.startswith(
        f"passes.lora.eval_data_config ('tone_eval'): {(tmp_path / 'dataset' / 'eval.jsonl').resolve()} "
        "row 11 ("
    )
    assert "is also in train_data_config 'tone_train' (dataset-classification.json); 3 of its 13" in msg
    assert "remove them from one of the two files" in msg and "\n" not in msg


def test_cli_prints_the_overlap_as_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shared = [json.loads(x) for x in TRAIN.read_text().splitlines()[:1]]
    path = _config(tmp_path, [*shared, *_fresh_rows(30)])
    assert main(["run", "--config", str(path), "--model", "x", "--out", str(tmp_path / "out")]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith(
        "autotune: error: passes.lora.eval_data_config ('tone_eval'): "
    )
    assert "row 1 (" in err[0]


def test_unknown_eval_data_config(tmp_path: Path) -> None:
    path = _config(tmp_path, None, eval_data_config="nope")
    with pytest.raises(
        OliveConfigError, match=r"^passes\.lora\.eval_data_config: no data config named 'nope'$"
    ):
        _space(path)
