"""``autotune predict`` on an exported folder: task.json checked field by field, and a phrase too
long for the model's context refused in one line before the model runs."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import call_main


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    capsys.readouterr()
    code = call_main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("autotune: error: "), err
    return err


def _with_task(src: Path, dest: Path, **changes: Any) -> Path:
    """A copy of the exported folder ``src`` whose task.json has ``changes`` (None removes a key)."""
    shutil.copytree(src, dest)
    task = json.loads((dest / "task.json").read_text())
    task.update(changes)
    (dest / "task.json").write_text(json.dumps({k: v for k, v in task.items() if v is not None}))
    return dest


def test_a_phrase_longer_than_the_context_is_refused(
    tiny_export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    context = json.loads((tiny_export / "genai_config.json").read_text())["model"]["context_length"]
    long = " ".join(["word"] * context)
    err = _one_line_error(capsys, ["predict", "--model", str(tiny_export), "a short one", long])
    found = re.search(r"'word word.*' takes (\d+) tokens in its prompt, (\d+) with its longest label", err)
    assert found and context < int(found[1]) < int(found[2]), err
    assert err.endswith(f"and EOS; the model's context is {context} tokens: shorten the phrase")
    qa = _with_task(
        tiny_export, tmp_path / "qa", task="generation", max_new_tokens=8, stop=["\n"],
        labels=None, label_scoring=None, length_normalize=None,
    )  # fmt: skip
    err = _one_line_error(capsys, ["predict", "--model", str(qa), long])
    assert f"with the answer's 8 (max_new_tokens); the model's context is {context} tokens" in err


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"max_new_tokens": 0}, "max_new_tokens: Input should be greater than or equal to 1 (got 0)"),
        ({"max_new_tokens": -1}, "max_new_tokens: Input should be greater than or equal to 1"),
        ({"max_new_tokens": "x"}, 'max_new_tokens: Input should be a valid integer (got "x")'),
        ({"max_new_tokens": True}, "max_new_tokens: Input should be a valid integer (got true)"),
        ({"max_new_tokens": 1e9}, "max_new_tokens: Input should be a valid integer"),
        ({"max_new_tokens": 10**9}, "max_new_tokens: Input should be less than or equal to 2048"),
        ({"stop": "\n"}, "stop: Input should be a valid list"),
        ({"stop": [""]}, "stop.0: String should have at least 1 character"),
        ({"task": "summary"}, "task: unknown task 'summary'"),
        ({"text_column": None}, "text_column: Field required"),
    ],
)
def test_a_bad_generation_task_file_names_its_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], changes: dict[str, Any], says: str
) -> None:
    folder = tmp_path / "exported"
    folder.mkdir()
    task = {"task": "generation", "text_column": "q", "label_column": "a", "template": "Q: {q}\nA: {a}"}
    given = {k: v for k, v in {**task, **changes}.items() if v is not None}
    (folder / "task.json").write_text(json.dumps(given))
    err = _one_line_error(capsys, ["predict", "--model", str(folder), "hi"])
    assert f"{folder / 'task.json'}: {says}" in err
    assert err.endswith("export the trial again (autotune export)")


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"label_scoring": "best"}, "label_scoring: Input should be 'score' or 'greedy'"),
        ({"length_normalize": "false"}, "length_normalize: Input should be a valid boolean"),
        ({"labels": ["joy"]}, "labels: the task needs two labels or more"),
        ({"labels": ["joy", 3]}, "labels.1: Input should be a valid string"),
        ({"chat": ["hi"]}, "chat: Input should be a valid dictionary"),
        ({"template": "{phrase}"}, "template: must contain {phrase} and end with {tone}"),
        ({"provider": "tpu"}, "provider: unknown target 'tpu'"),
    ],
)
def test_a_bad_classification_task_file_names_its_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], changes: dict[str, Any], says: str
) -> None:
    folder = tmp_path / "exported"
    folder.mkdir()
    task = {
        "task": "classification", "text_column": "phrase", "label_column": "tone",
        "template": "{phrase}\n{tone}", "labels": ["joy", "fear"], "provider": "cpu",
    }  # fmt: skip
    (folder / "task.json").write_text(json.dumps({**task, **changes}))
    err = _one_line_error(capsys, ["predict", "--model", str(folder), "hi"])
    assert f"{folder / 'task.json'}: {says}" in err
