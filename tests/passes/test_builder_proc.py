"""The model builder forked from a preloaded server: the same files as ``python -m``, the
caller's folder, failures in the log, and a server that dies is replaced."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from autotune.passes import _builder_proc
from autotune.passes._builder_proc import MODULE, run_builder


def _args(model: Path, out: str, cache: Path) -> list[str]:
    return ["-i", str(model), "-o", out, "-p", "int4", "-e", "cpu", "-c", str(cache)]


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_a_forked_build_writes_what_python_m_writes(
    tiny_hf_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = tmp_path / "plain"
    cmd = [sys.executable, "-m", MODULE, *_args(tiny_hf_dir, str(plain), tmp_path / "c0")]
    subprocess.run(cmd, check=True, capture_output=True)
    assert run_builder(_args(tiny_hf_dir, str(tmp_path / "forked"), tmp_path / "c1"), tmp_path / "1.log") == 0
    server = _builder_proc._server
    assert server is not None and server.poll() is None
    monkeypatch.chdir(tmp_path)  # after the server started: a relative folder is the caller's
    assert run_builder(_args(tiny_hf_dir, "again", tmp_path / "c2"), tmp_path / "2.log") == 0
    assert _builder_proc._server is server  # one server, one import, for every build
    expected = _files(plain)
    assert "model.onnx" in expected and "genai_config.json" in expected
    assert _files(tmp_path / "forked") == expected == _files(tmp_path / "again")
    log = (tmp_path / "1.log").read_text()
    assert "Saving GenAI config in" in log and "found in sys.modules" not in log


def test_a_failure_is_in_the_log_and_a_dead_server_is_replaced(tiny_hf_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    log = tmp_path / "bad.log"
    assert run_builder(_args(tmp_path / "empty", str(tmp_path / "bad"), tmp_path / "c"), log) != 0
    assert "Error" in log.read_text().strip().splitlines()[-1]
    server = _builder_proc._server
    assert server is not None and server.poll() is None  # a failed build ends its child only
    os.kill(server.pid, signal.SIGKILL)
    server.wait()
    ok = run_builder(_args(tiny_hf_dir, str(tmp_path / "ok"), tmp_path / "c3"), tmp_path / "ok.log")
    assert ok == 0 and (tmp_path / "ok" / "genai_config.json").is_file()
    assert _builder_proc._server is not None and _builder_proc._server.pid != server.pid


def test_a_server_that_dies_during_a_build_falls_back_to_a_subprocess(
    tiny_hf_dir: Path, tmp_path: Path
) -> None:
    _builder_proc._stop()
    # a server that reads the request and exits without answering
    dying = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.readline()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    _builder_proc._server = dying
    ok = run_builder(_args(tiny_hf_dir, str(tmp_path / "ok"), tmp_path / "c"), tmp_path / "ok.log")
    assert ok == 0 and (tmp_path / "ok" / "genai_config.json").is_file()
    assert dying.wait(timeout=5) == 0 and _builder_proc._server is None  # the next build starts one
