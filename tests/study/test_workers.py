"""A study shared through a journal file and a shared cache, as two machines would share them:
one runs it, another joins, reports and exports from its own folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from autotune.cli import main
from tests.conftest import copy_study

pytestmark = pytest.mark.integration


def test_another_machine_reports_and_exports_from_the_shared_store(
    tiny_study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the tiny study's space and data beside it; the shared cache starts as a copy of its cache, so
    # the trials' fine-tunes and builds are cache hits (what this test checks starts after them)
    root = copy_study(tiny_study, tmp_path).parent
    space = root / "tiny.yaml"
    journal, shared = f"journal:{tmp_path / 'study.log'}", root / "out" / "cache"
    a, b = tmp_path / "machine-a", tmp_path / "machine-b"
    run = ["--space", str(space), "--storage", journal, "--cache", str(shared), "--n-trials", "2", "--quiet"]
    assert main([*run, "--out", str(a)]) == 0
    # machine b joins the finished study: nothing is left to run, it writes its own report
    assert main(["worker", "--storage", journal, "--study", "tiny-cpu", "--out", str(b), "--quiet"]) == 0
    rows = [json.loads((m / "report.json").read_text())["rows"] for m in (a, b)]
    assert rows[0] == rows[1] and len(rows[0]) == 2
    # the same worker again, its journal named relative to where it is started: the same study
    monkeypatch.chdir(tmp_path)
    again = ["worker", "--storage", "journal:study.log", "--study", "tiny-cpu", "--out", str(b), "--quiet"]
    assert main(again) == 0
    capsys.readouterr()
    assert main(["status", "--storage", journal, "--study", "tiny-cpu"]) == 0
    status = capsys.readouterr().out
    assert "2 complete" in status and "heartbeats: none (a journal has no heartbeat)" in status
    # machine a is gone; the shared cache is mounted elsewhere on machine b
    shutil.rmtree(a)
    moved = tmp_path / "mounted-elsewhere"
    shutil.move(str(shared), moved)
    assert main(["export", str(b), "--trial", "0", "--dest", str(tmp_path / "x")]) == 2
    assert "no longer in the cache" in capsys.readouterr().err
    assert main(["export", str(b), "--trial", "0", "--dest", str(tmp_path / "y"), "--cache", str(moved)]) == 0
    assert (tmp_path / "y" / "model.onnx").is_file() and (tmp_path / "y" / "genai_config.json").is_file()


def test_a_sqlite_study_of_another_host_is_refused(
    tiny_study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import optuna

    out = copy_study(tiny_study, tmp_path, cache=False)
    url = f"sqlite:///{out / 'study.db'}"
    study = optuna.load_study(study_name="tiny-cpu", storage=url)
    # a trial run there by another host (a copy of the database, say)
    study.add_trial(
        optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, user_attrs={"host": "another-machine"})
    )
    capsys.readouterr()
    assert main(["worker", "--storage", url, "--study", "tiny-cpu", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip()
    assert "SQLite is one machine's file" in err and "another-machine" in err and len(err.splitlines()) == 1


def test_commands_that_read_a_study_create_no_storage(
    tiny_study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """status, worker and report given a journal or SQLite path that does not exist say so in
    one line and create neither the file nor its folder (before, a journal was created)."""
    out = copy_study(tiny_study, tmp_path, cache=False)
    missing = tmp_path / "missing"
    for url in (f"journal:{missing / 'study.log'}", f"sqlite:///{missing / 'study.db'}"):
        for argv in (
            ["status", "--storage", url, "--study", "tiny-cpu"],
            ["worker", "--storage", url, "--study", "tiny-cpu", "--out", str(tmp_path / "w")],
            ["report", str(out), "--storage", url],
        ):
            assert main(argv) == 2, argv
            err = capsys.readouterr().err.strip()
            assert len(err.splitlines()) == 1 and "does not exist" in err, err
            assert not missing.exists() and not (tmp_path / "w").exists()


def _open_at(storage: str, space: Path, start: Any, failures: Any) -> None:
    from autotune.load.space_file import load_space
    from autotune.study.storage import open_study
    from autotune.targets import get_target

    loaded = load_space(str(space), [])
    start.wait()
    try:
        open_study(loaded, storage, get_target("cpu"))
    except Exception as exc:
        failures.put(f"{type(exc).__name__}: {exc}")


def test_processes_starting_together_on_a_new_sqlite_file_both_open_the_study(tmp_path: Path) -> None:
    """Two runs started together with one new output folder both create Optuna's tables in its
    new study.db; the one that loses the race opens what the other made (before, it ended with
    "table alembic_version already exists")."""
    import multiprocessing

    from tests.conftest import tiny_raw, write_space

    space = write_space(tmp_path / "s.yaml", tiny_raw())
    ctx = multiprocessing.get_context("fork")
    failures = ctx.Queue()
    for i in range(4):
        storage, start = f"sqlite:///{tmp_path / f'study{i}.db'}", ctx.Barrier(2)
        procs = [ctx.Process(target=_open_at, args=(storage, space, start, failures)) for _ in range(2)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert [p.exitcode for p in procs] == [0, 0]
    assert failures.empty(), failures.get()
