"""One study shared by two workers through a real PostgreSQL server (started here, on loopback).

Each worker has its own output folder and cache, as two machines would; the study (trials,
parameters, metrics) lives in PostgreSQL. Needs Debian's ``postgresql`` package (the README's
test command installs it) and ``psycopg`` (the ``test`` extra).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from autotune.cli import main
from tests.conftest import tiny_raw, write_space


def _server_binary(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    initdb, pg_ctl = _server_binary("initdb"), _server_binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.fail(
            "PostgreSQL server not installed: apt-get install -y postgresql (the README's test command "
            "does), or deselect these tests: pytest -m 'not postgres'"
        )
    root = Path(tempfile.mkdtemp(prefix="autotune-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: run the server as Debian's postgres user
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", _free_port()
    run = lambda *cmd: subprocess.run([*as_user, *cmd], check=True, capture_output=True)  # noqa: E731
    run(initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync")
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(pg_ctl, "-D", str(data), "-o", opts, "-l", str(root / "log"), "-w", "start")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.integration
@pytest.mark.postgres
def test_two_workers_share_one_study(postgres_url: str, tmp_path: Path) -> None:
    space = write_space(tmp_path / "tiny.yaml", tiny_raw())
    args = ["--space", str(space), "--storage", postgres_url, "--n-trials", "4", "--quiet"]
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "autotune.cli", *args, "--out", str(tmp_path / name)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in ("machine-a", "machine-b")
    ]
    outputs = [w.communicate(timeout=600)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    study = optuna.load_study(study_name="tiny-cpu", storage=postgres_url)
    trials = study.get_trials()
    # Each worker stops asking once 4 trials are counted; both may ask in the same instant.
    assert 4 <= len(trials) <= 5
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials), [t.state for t in trials]
    pids = {(t.user_attrs["host"], t.user_attrs["pid"]) for t in trials}
    assert len(pids) == 2, "both workers ran trials"
    # Either folder's report reads the whole shared study, not only its own trials.
    assert main(["report", str(tmp_path / "machine-a")]) == 0
    rows = json.loads((tmp_path / "machine-a" / "report.json").read_text())["rows"]
    assert sorted(r["number"] for r in rows) == sorted(t.number for t in trials)


def test_unreachable_server_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    space = write_space(tmp_path / "tiny.yaml", tiny_raw())
    url = f"postgresql://postgres@127.0.0.1:{_free_port()}/postgres"
    assert main(["--space", str(space), "--out", str(tmp_path / "o"), "--storage", url]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("autotune: error: storage postgresql://") and "cannot open it" in err
    assert len(err.splitlines()) == 1
