"""onnxruntime-genai's model builder, run as ``python -m onnxruntime_genai.models.builder ARGS``
runs it, without paying for its imports on every build.

A fresh interpreter spends about 5.5 s of a 9.5 s int4 build of SmolLM2 importing torch,
transformers and the builder (2 cores). So one server process per autotune process imports
them once and forks a child per build. The child keeps what a subprocess gives: its own
address space, so a crash, a leak or a changed global ends with it; its output goes to the
build's log; the caller's environment and working directory at the time of the build. The
server never runs a model, so it forks while single-threaded. It ends when its caller does
(its stdin closes). Without ``os.fork`` (Windows) each build is a plain subprocess of this
script (``--once``). Either way the builder reads configs through ``_builder_compat.adapt``.

This file is also the server's script: it is started by path, so it imports nothing of
autotune.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import runpy
import subprocess
import sys
import threading
import traceback
import warnings
from pathlib import Path
from typing import IO, Any

MODULE = "onnxruntime_genai.models.builder"

_ONCE = "--once"  # this script's argument: run one build in this process (no server)
_lock = threading.Lock()
_server: subprocess.Popen[str] | None = None


def run_builder(argv: list[str], log: Path) -> int:
    """Run the builder with ``argv``, its stdout and stderr into ``log``; its exit status
    (negative: killed by that signal)."""
    if not hasattr(os, "fork"):
        return _subprocess(argv, log)
    request = {"argv": argv, "log": str(log), "env": dict(os.environ), "cwd": os.getcwd()}
    with _lock:
        server = _running()
        try:
            assert server.stdin is not None and server.stdout is not None
            server.stdin.write(json.dumps(request) + "\n")
            server.stdin.flush()
            reply = server.stdout.readline()
        except OSError:
            reply = ""
        if not reply:  # the server itself died: start afresh next time, run this one plainly
            _stop()
            return _subprocess(argv, log)
    code: int = json.loads(reply)["code"]
    return code


def _subprocess(argv: list[str], log: Path) -> int:
    with log.open("w") as out:
        cmd = [sys.executable, __file__, _ONCE, *argv]
        return subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False).returncode


def _running() -> subprocess.Popen[str]:
    global _server
    if _server is None or _server.poll() is not None:
        _server = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
    return _server


@atexit.register
def _stop() -> None:
    global _server
    server, _server = _server, None
    if server is not None and server.poll() is None:
        assert server.stdin is not None
        server.stdin.close()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()


def _serve() -> None:
    """Import the builder, then fork one child per request line; answer each with its status."""
    with contextlib.suppress(Exception):  # a child then fails to import it, in the build's log
        __import__(MODULE)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"code": os.waitstatus_to_exitcode(status)}), flush=True)


def _child(request: dict[str, Any]) -> None:
    """Become ``python -m MODULE argv`` with the caller's environment; never returns."""
    code = 1
    try:
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        null = os.open(os.devnull, os.O_RDONLY)
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        for fd, target in ((null, 0), (log, 1), (log, 2)):
            os.dup2(fd, target)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the process ends with os._exit
        sys.stdout = _text(1)
        sys.stderr = _text(2)
        sys.argv = [MODULE, *request["argv"]]
        _adapt_configs()
        # the server imported the module: runpy warns that it runs it again, as __main__
        warnings.filterwarnings("ignore", "'" + MODULE + "' found in sys.modules", RuntimeWarning)
        runpy.run_module(MODULE, run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
    except BaseException:  # a build's failure is reported through its log
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os._exit(code)


def _adapt_configs() -> None:
    """Make every config ``AutoConfig`` loads in this process readable by the builder
    (``_builder_compat.adapt``, a sibling file loaded by path)."""
    import importlib.util

    from transformers import AutoConfig

    spec = importlib.util.spec_from_file_location(
        "_autotune_builder_compat", Path(__file__).with_name("_builder_compat.py")
    )
    assert spec is not None and spec.loader is not None
    compat = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compat)
    load = AutoConfig.from_pretrained

    def from_pretrained(*args: Any, **kwargs: Any) -> Any:
        return compat.adapt(load(*args, **kwargs))

    AutoConfig.from_pretrained = from_pretrained  # type: ignore[method-assign]


def _text(fd: int) -> IO[str]:
    return open(fd, "w", buffering=1, closefd=False)  # lives as long as the process


if __name__ == "__main__":
    del sys.path[0]  # this file's folder: its neighbours are not top-level modules
    if sys.argv[1:2] == [_ONCE]:
        sys.argv = [MODULE, *sys.argv[2:]]
        _adapt_configs()
        runpy.run_module(MODULE, run_name="__main__", alter_sys=True)
    else:
        _serve()
