"""Bad input gets one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TINY_DATA, call_main, tiny_raw, write_space


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """``autotune ARGS`` in its own process, as a user runs it: the installed console script
    (``python -m autotune.cli`` where none is installed). Kept for two smoke tests; the others
    call ``main(argv)`` in this process."""
    script = Path(sys.executable).with_name("autotune")
    cmd = [str(script)] if script.is_file() else [sys.executable, "-m", "autotune.cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, check=False)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``autotune ARGS`` called in this process through ``main(argv)``: what ``run`` returns."""

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        capsys.readouterr()
        code = call_main(list(args))
        out = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), code, out.out, out.err)

    return call


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("autotune: error: ")
    return lines[0]


def test_malformed_space(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    assert "malformed YAML" in one_line_error(run("--space", str(bad), "--out", str(tmp_path / "o")))


def test_unknown_pass(tmp_path: Path, cli: Any) -> None:
    space = write_space(tmp_path / "s.yaml", tiny_raw(chains=[["lora", "merge", "onnx"]]))
    assert "unknown pass 'onnx'" in one_line_error(cli("--space", str(space), "--out", str(tmp_path / "o")))


def test_missing_data_file(tmp_path: Path, cli: Any) -> None:
    raw = tiny_raw()
    raw["data"]["path"] = "missing.jsonl"
    space = write_space(tmp_path / "s.yaml", raw)
    msg = one_line_error(cli("--space", str(space), "--out", str(tmp_path / "o")))
    assert "data file not found" in msg and "missing.jsonl" in msg


def test_data_missing_column(tmp_path: Path, cli: Any) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text(
        "".join(
            json.dumps({"text": r["phrase"], "tone": r["tone"]}) + "\n"
            for r in map(json.loads, TINY_DATA.read_text().splitlines())
        )
    )
    raw = tiny_raw()
    raw["data"]["path"] = str(data)
    msg = one_line_error(
        cli("--space", str(write_space(tmp_path / "s.yaml", raw)), "--out", str(tmp_path / "o"))
    )
    assert "no column 'phrase'" in msg


def test_unknown_label(tmp_path: Path, cli: Any) -> None:
    rows = [json.loads(x) for x in TINY_DATA.read_text().splitlines()]
    rows[5]["tone"] = "anger"
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    raw = tiny_raw()
    raw["data"]["path"] = str(data)
    msg = one_line_error(
        cli("--space", str(write_space(tmp_path / "s.yaml", raw)), "--out", str(tmp_path / "o"))
    )
    assert "row 6: label 'anger'" in msg


def test_bad_override_and_target(tmp_path: Path, cli: Any) -> None:
    space = str(write_space(tmp_path / "s.yaml", tiny_raw()))
    out = str(tmp_path / "o")
    assert "expected key.path=value" in one_line_error(cli("--space", space, "--out", out, "oops"))
    assert "declares only cpu" in one_line_error(cli("--space", space, "--out", out, "--target", "cuda"))


def test_a_target_this_machine_lacks_is_named_with_what_is_missing(tmp_path: Path, cli: Any) -> None:
    from autotune.targets import TARGETS

    if TARGETS["cuda"].available():
        pytest.skip("this machine runs the cuda target")
    space = str(write_space(tmp_path / "s.yaml", tiny_raw(targets=["cuda"])))
    msg = one_line_error(cli("--space", space, "--out", str(tmp_path / "o")))
    assert "none of the space's targets runs on this machine (cuda: " in msg
    assert "CUDAExecutionProvider (pip install onnxruntime-gpu" in msg


def test_report_and_predict_on_wrong_folders(tmp_path: Path, cli: Any) -> None:
    assert "not an autotune output folder" in one_line_error(cli("report", str(tmp_path)))
    assert "not an exported model" in one_line_error(cli("predict", "--model", str(tmp_path), "hi"))


def test_validate_prints_the_space(tmp_path: Path) -> None:
    proc = run("validate", str(write_space(tmp_path / "s.yaml", tiny_raw(name="small"))))
    assert proc.returncode == 0 and "valid space 'small'" in proc.stdout
    assert "precision={int4|int8|fp32}" in proc.stdout
