from __future__ import annotations

import json
from pathlib import Path

import pytest

from autotune.data import PromptFormat, load_task_data
from autotune.errors import DataError
from autotune.space import DataSpec
from tests.conftest import TINY_DATA

TEMPLATE = "### Text: {phrase}\n### The tone is:\n{tone}"


def spec(path: Path | str, **kw: object) -> DataSpec:
    return DataSpec(path=str(path), template=TEMPLATE, **kw)  # type: ignore[arg-type]


def test_loads_and_splits_stratified() -> None:
    data = load_task_data(spec(TINY_DATA, eval={"fraction": 0.25, "seed": 0}), Path("."))
    assert len(data.train) + len(data.eval) == 32
    assert set(data.labels) == {"sadness", "joy", "fear", "surprise"}
    assert {e.label for e in data.eval} == set(data.labels)  # every label in the eval split
    assert len(data.eval) == 8
    again = load_task_data(spec(TINY_DATA, eval={"fraction": 0.25, "seed": 0}), Path("."))
    assert again.eval == data.eval and again.fingerprint == data.fingerprint
    other = load_task_data(spec(TINY_DATA, eval={"fraction": 0.25, "seed": 1}), Path("."))
    assert other.fingerprint != data.fingerprint


def test_prompt_ends_where_the_label_starts() -> None:
    fmt = PromptFormat("phrase", "tone", TEMPLATE, None)
    assert fmt.render("I won!") == "### Text: I won!\n### The tone is:\n"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="data file not found"):
        load_task_data(spec("nope.jsonl"), tmp_path)


def test_missing_column(tmp_path: Path) -> None:
    f = tmp_path / "d.jsonl"
    f.write_text(json.dumps({"text": "a", "tone": "joy"}) + "\n")
    with pytest.raises(DataError, match=r"no column 'phrase' \(columns: text, tone\)"):
        load_task_data(spec(f), tmp_path)


def test_unknown_label_names_the_row(tmp_path: Path) -> None:
    f = tmp_path / "d.jsonl"
    rows = [{"phrase": "a", "tone": "joy"}, {"phrase": "b", "tone": "anger"}]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DataError, match=r"row 2: label 'anger' is not in data\.labels"):
        load_task_data(spec(f, labels=["joy", "fear"]), tmp_path)


def test_empty_text_and_bad_json(tmp_path: Path) -> None:
    f = tmp_path / "d.jsonl"
    f.write_text(json.dumps({"phrase": "  ", "tone": "joy"}) + "\n")
    with pytest.raises(DataError, match="row 1: empty or missing 'phrase'"):
        load_task_data(spec(f), tmp_path)
    f.write_text('{"phrase": "a", "tone": \n')
    with pytest.raises(DataError, match="cannot be read as json"):
        load_task_data(spec(f), tmp_path)


def test_csv_and_eval_file(tmp_path: Path) -> None:
    train = tmp_path / "t.csv"
    train.write_text("phrase,tone\nI won,joy\nOh no,fear\nYay,joy\nHelp,fear\n")
    ev = tmp_path / "e.csv"
    ev.write_text("phrase,tone\nGreat,joy\nScary,fear\n")
    data = load_task_data(spec(train, eval={"path": str(ev)}), tmp_path)
    assert len(data.train) == 4 and [e.text for e in data.eval] == ["Great", "Scary"]
