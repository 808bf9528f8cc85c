"""A real study of the tiny model end to end: runs, resumes, recovers, prunes, reuses the cache."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import time
from pathlib import Path

import optuna
import pytest

from autotune.cli import main
from tests.conftest import copy_study, read_until, spawn_autotune, tiny_raw, write_space

pytestmark = pytest.mark.integration


def test_study_reports_a_front(tiny_study: Path) -> None:
    report = json.loads((tiny_study / "report.json").read_text())
    assert len(report["rows"]) == 3
    complete = [r for r in report["rows"] if r["state"] == "complete"]
    assert complete, report["rows"]
    for r in complete:
        m = r["metrics"]
        assert 0.0 <= m["accuracy"] <= 1.0 and 0.0 <= m["torch_accuracy"] <= 1.0
        assert 0 < m["latency_p50_ms"] <= m["latency_p90_ms"]
        assert m["size_mb"] > 1 and m["peak_rss_mb"] > 10
        if r["details"]["latency"]["label_passes"] == "one":  # every label scored in the prefill
            assert r["details"]["latency"]["passes_per_request"] == 1 and "decode_passes_per_s" not in m
        else:
            assert m["decode_passes_per_s"] > 0
        assert m["accuracy_low"] <= m["accuracy"] <= m["accuracy_high"]
        assert len(r["details"]["correct"]) == r["details"]["eval_rows"]
        assert [s["name"] for s in r["steps"]][:2] == ["lora", "merge"]
        assert r["details"]["confusion"]["labels"] == ["sadness", "joy", "fear", "surprise"]
    assert report["front"] and report["winner"] in report["front"] and report["winner_feasible"]
    assert [t["number"] for t in report["ties"]] == report["front"]
    # The front, and only the front, is measured on the confirm split after the study.
    for r in report["rows"]:
        confirmed = "confirm_accuracy" in r["metrics"]
        assert confirmed == r["on_front"], r
        if confirmed:
            assert r["details"]["confirm"]["n"] == len(r["details"]["confirm"]["correct"]) > 0
    with (tiny_study / "trials.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and "lora_cached" in rows[0] and "build_s" in rows[0] and "reason" in rows[0]


def _stored_trials(out: Path) -> list[optuna.trial.FrozenTrial]:
    storage = f"sqlite:///{out / 'study.db'}"
    return optuna.load_study(study_name="tiny-cpu", storage=storage).get_trials(deepcopy=True)


def test_rerun_resumes_without_new_trials(
    tiny_study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = copy_study(tiny_study, tmp_path)
    before = _stored_trials(out)
    space = out.parent / "tiny.yaml"
    assert main(["--space", str(space), "--out", str(out), "--n-trials", "3"]) == 0
    assert "0 new trial(s)" in capsys.readouterr().out
    after = _stored_trials(out)
    # The very same trials, untouched: nothing added (not even queued), re-run or re-told.
    assert [(t.number, t.state, t.values, t.params) for t in after] == [
        (t.number, t.state, t.values, t.params) for t in before
    ]
    assert [(t.datetime_start, t.datetime_complete) for t in after] == [
        (t.datetime_start, t.datetime_complete) for t in before
    ]
    assert [t.user_attrs for t in after] == [t.user_attrs for t in before]
    assert len(before) == 3 and all(t.state.is_finished() for t in before)
    rows = json.loads((out / "report.json").read_text())["rows"]
    assert [r["number"] for r in rows] == [t.number for t in before]


def test_report_command_rewrites_the_files(
    tiny_study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = copy_study(tiny_study, tmp_path, cache=False)
    (out / "trials.csv").unlink()
    assert main(["report", str(out)]) == 0
    assert "Feasible Pareto front" in capsys.readouterr().out
    assert (out / "trials.csv").is_file()


def test_changed_space_is_refused_on_resume(
    tiny_study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = copy_study(tiny_study, tmp_path, cache=False)
    space = out.parent / "tiny.yaml"
    run_json = (out / "run.json").read_text()
    assert main(["--space", str(space), "--out", str(out), "passes.lora.steps=9"]) == 2
    err = capsys.readouterr().err
    assert "made with a different space" in err and "change only study.*, description or preference" in err
    assert main(["--space", str(space), "--out", str(out), "evaluation.latency_repeats=9"]) == 2
    assert "made with a different evaluation settings" in capsys.readouterr().err
    assert (out / "run.json").read_text() == run_json  # a refused rerun changes nothing


def test_only_the_free_sections_may_change_on_a_resume(tmp_path: Path) -> None:
    from autotune.study.identity import RESUME_FREE, study_identity
    from tests.conftest import load_tiny

    assert [f.key for f in RESUME_FREE] == ["study", "description", "preference", "olive"]
    base = study_identity(load_tiny(tmp_path))
    free = load_tiny(
        tmp_path, description="another", study__n_trials=9, preference__tolerance=0.1, olive={"config": "x"}
    )
    assert study_identity(free) == base
    other = study_identity(load_tiny(tmp_path, name="other"))
    assert other["space"] != base["space"] and other["evaluation"] == base["evaluation"]


def test_a_folder_belongs_to_one_study(
    tiny_study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run of another study (another space, study name or storage) with a study's folder as
    --out is refused before anything is written: the folder's run record and reports stay the
    good study's, and report still reaches its trials. The record names the folder's own files
    relatively, so a copied folder reads its own study.db, not the original's."""
    out = copy_study(tiny_study, tmp_path, cache=False)
    kept = {f: (out / f).read_bytes() for f in ("run.json", "report.json", "trials.csv", "study.db")}
    space = out.parent / "tiny.yaml"
    other = write_space(tmp_path / "other.yaml", tiny_raw(name="other"))
    for argv in (
        ["--space", str(other), "--n-trials", "1"],
        ["--space", str(space), "--n-trials", "1", "study.name=elsewhere"],
        ["--space", str(space), "--storage", f"sqlite:///{tmp_path / 'other.db'}"],
    ):
        assert main([*argv, "--out", str(out), "--quiet"]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "it holds the study 'tiny-cpu'" in err, err
        assert {f: (out / f).read_bytes() for f in kept} == kept
    assert not (tmp_path / "other.db").exists()
    assert main(["report", str(out)]) == 0 and "Feasible Pareto front" in capsys.readouterr().out
    assert json.loads(kept["run.json"])["storage"] == "sqlite:///study.db"
    (out / "study.db").write_bytes(b"")  # the copy's own storage, emptied: the copy says so
    assert main(["report", str(out)]) == 2
    assert "no study named 'tiny-cpu'" in capsys.readouterr().err


def test_changed_data_is_refused_on_resume(
    tiny_study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = copy_study(tiny_study, tmp_path, cache=False)
    data = out.parent / "emotions.jsonl"  # the space names it relative to itself
    lines = data.read_text().splitlines()
    data.write_text("\n".join([lines[1], lines[0], *lines[2:]]) + "\n")  # the same rows, reordered
    space = out.parent / "tiny.yaml"
    assert main(["--space", str(space), "--out", str(out), "--n-trials", "4", "--quiet"]) == 2
    assert "made with a different data files" in capsys.readouterr().err
    assert len(_stored_trials(out)) == 3


def test_the_timeout_is_the_study_budget_across_resumes(tiny_study: Path, tmp_path: Path) -> None:
    out = copy_study(tiny_study, tmp_path, cache=False)
    space = out.parent / "tiny.yaml"
    study = optuna.load_study(study_name="tiny-cpu", storage=f"sqlite:///{out / 'study.db'}")
    spent = sum(v for k, v in study.user_attrs.items() if k.startswith("spent:"))
    assert spent > 0
    # a resume with more trials but a budget the first run already spent starts none
    args = ["--space", str(space), "--out", str(out), "--n-trials", "5", "--timeout", f"{spent / 2:.3f}"]
    assert main([*args, "--quiet"]) == 0
    assert len(study.get_trials()) == 3
    assert json.loads((out / "report.json").read_text())["ended"]["why"] == "timeout"


def test_pruned_when_pytorch_accuracy_misses_the_constraint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = tiny_raw(constraints=[{"metric": "accuracy", "op": ">=", "value": 0.99}])
    space = write_space(tmp_path / "s.yaml", raw)
    # no trial completed: the study exits 1 with why, the report is still written
    assert main(["--space", str(space), "--out", str(tmp_path / "o"), "--n-trials", "1"]) == 1
    assert "no trial completed" in capsys.readouterr().err
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    row = report["rows"][0]
    assert row["state"] == "pruned" and "misses accuracy >= 0.99" in row["reason"]
    assert "build" not in [s["name"] for s in row["steps"]]
    assert report["winner"] is None
    # The sampler sees how far the pruned trial missed.
    study = optuna.load_study(study_name="tiny-cpu", storage=f"sqlite:///{tmp_path / 'o' / 'study.db'}")
    (trial,) = study.trials
    assert trial.constraints == {"accuracy >= 0.99": pytest.approx(0.99 - row["metrics"]["torch_accuracy"])}


def test_invalid_combination_fails_the_trial_with_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # fp16 builds for the CPU but fails at run time there: the build pass refuses it before any work.
    raw = tiny_raw(chains=[["lora", "merge", "build"]], passes__build__precision="fp16")
    space = write_space(tmp_path / "s.yaml", raw)
    assert main(["--space", str(space), "--out", str(tmp_path / "o"), "--n-trials", "1"]) == 1
    assert "build.precision fp16 is not valid on target cpu" in capsys.readouterr().err
    row = json.loads((tmp_path / "o" / "report.json").read_text())["rows"][0]
    assert row["state"] == "fail" and row["steps"] == [], row
    assert row["reason"].startswith("invalid: build.precision fp16 is not valid on target cpu")


def _beating_study(tmp_path: Path, n_trials: int) -> tuple[list[str], Path]:
    """The tiny space with 1 s heartbeats lost after 3 s: its CLI arguments and output folder."""
    raw = tiny_raw()
    raw["study"]["heartbeat"] = {"interval": 1, "grace": 3, "max_retry": 1}
    space, out = write_space(tmp_path / "s.yaml", raw), tmp_path / "o"
    return ["--space", str(space), "--out", str(out), "--n-trials", str(n_trials)], out


def test_killed_study_resumes_and_reruns_the_cut_trial(tmp_path: Path) -> None:
    """SIGKILL mid-trial, at a known step (the merge: its fine-tune is cached, its own output is
    half written), then the same command at once, well within the heartbeat's grace period: the
    killed process is gone from this host, so its trial is failed as lost at once and run again
    (its fine-tune from the cache); the study ends with its n_trials finished and complete, none
    left RUNNING, and every cache entry matching its manifest. (Before, the rerun counted the
    RUNNING trial as done and exited 0 with a trial short.)"""
    import autotune.cache
    from autotune.cache import Cache

    args, out = _beating_study(tmp_path, 2)
    proc = spawn_autotune(args)
    read_until(proc, "merge: running")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert main([*args, "--quiet"]) == 0
    study = optuna.load_study(study_name="tiny-cpu", storage=f"sqlite:///{out / 'study.db'}")
    trials = study.get_trials()
    lost = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert len(lost) == 1 and lost[0].user_attrs["pid"] == proc.pid
    finished = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(finished) == 2 and len(trials) == 3  # nothing RUNNING, nothing else failed
    rerun = next(t for t in finished if t.system_attrs.get("retry_history") == [lost[0].number])
    assert rerun.params == lost[0].params
    steps = {s["name"]: s["cache_hit"] for s in rerun.user_attrs["steps"]}
    assert steps["lora"] is True and steps["merge"] is False  # the cut merge was made again
    report = json.loads((out / "report.json").read_text())
    rows = {r["number"]: r for r in report["rows"]}
    assert rows[lost[0].number]["reason"] == (
        f"worker lost (process {proc.pid} on {socket.gethostname()} is gone); run again"
    )
    assert report["ended"]["states"] == {"complete": 2, "pruned": 0, "fail": 0}
    autotune.cache._VERIFIED.clear()
    cache = Cache(out / "cache")
    entries = [p for p in (out / "cache").glob("*/*") if not p.name.startswith(".")]
    assert entries and all(cache.get(p.parent.name, p.name) is not None for p in entries)


def test_a_budget_left_short_by_repeated_errors_is_not_exit_0(
    tiny_study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A study with complete trials, resumed for more where every new trial meets the same
    error: it stops after three and exits 1 saying so, with n_trials not reached (before: exit 0,
    as if the budget had been spent)."""
    out = copy_study(tiny_study, tmp_path, cache=False)
    (out / "cache").mkdir()
    (out / "cache" / "lora").write_text("not a folder")
    assert main(["--space", str(out.parent / "tiny.yaml"), "--out", str(out), "--n-trials", "9"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the study stopped after 6 finished trial(s)" in err[0], err
    assert "FileExistsError" in err[0]
    ended = json.loads((out / "report.json").read_text())["ended"]
    assert ended["why"] == "errors" and ended["states"] == {"complete": 3, "pruned": 0, "fail": 3}


def test_a_trial_running_elsewhere_is_waited_for_and_run_again_once_lost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The study's last trial runs on another machine (its process cannot be seen from here):
    the run does not end while it is RUNNING; once its heartbeat lapses it is failed as lost and
    run here, and the study ends with its n_trials finished. (Before, the run counted it as done,
    ran nothing and ended at once.)"""
    from autotune.load.space_file import load_space
    from autotune.study.storage import open_study
    from autotune.targets import get_target

    args, out = _beating_study(tmp_path, 1)
    storage = f"sqlite:///{out / 'study.db'}"
    out.mkdir()
    study = open_study(load_space(args[1], []), storage, get_target("cpu"))
    elsewhere = study.ask()
    for key, value in {"host": "other-machine", "pid": 4242, "pid_space": "another-boot/pid:[1]"}.items():
        elsewhere.set_user_attr(key, value)
    study._storage.record_heartbeat(elsewhere._trial_id)  # type: ignore[attr-defined]
    assert main(args) == 0
    assert "waiting for trial 0 (host other-machine, pid 4242)" in capsys.readouterr().out
    trials = optuna.load_study(study_name="tiny-cpu", storage=storage).get_trials()
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE"]
    assert trials[1].system_attrs["retry_history"] == [0]
    row = json.loads((out / "report.json").read_text())["rows"][0]
    assert "host other-machine, pid 4242: no heartbeat within the grace period" in row["reason"]


def test_a_live_worker_in_another_pid_namespace_is_never_failed(tmp_path: Path) -> None:
    """Two containers on one host share a hostname, not their PIDs: a worker's pid can look dead
    to the other. Liveness is its heartbeat alone, so its running trial is never failed."""
    import socket

    from autotune.space.schema import Heartbeat
    from autotune.study.storage import fail_lost_trials, heartbeat, make_storage

    storage = make_storage(f"sqlite:///{tmp_path / 'study.db'}", Heartbeat(interval=1, grace=2, max_retry=1))
    study = optuna.create_study(study_name="beats", storage=storage)
    trial = study.ask()  # a worker's running trial, beating from this process
    trial.set_user_attr("host", socket.gethostname())
    trial.set_user_attr("pid", 4_000_000)  # above any pid_max: no process here has it
    with heartbeat(study, trial):
        deadline = time.monotonic() + 4  # twice the grace period, looking as the other container would
        while time.monotonic() < deadline:
            fail_lost_trials(study)
            assert study.get_trials()[trial.number].state == optuna.trial.TrialState.RUNNING
            time.sleep(0.5)
    study.tell(trial, 1.0)
    # a trial whose heartbeat stops is lost once the grace period has passed
    other = study.ask()
    storage.record_heartbeat(other._trial_id)  # type: ignore[attr-defined]
    deadline = time.monotonic() + 30
    while study.get_trials()[other.number].state == optuna.trial.TrialState.RUNNING:
        assert time.monotonic() < deadline, "a trial without heartbeats was never failed"
        fail_lost_trials(study)
        time.sleep(0.2)
    assert study.get_trials()[other.number].state == optuna.trial.TrialState.FAIL


def test_an_error_inside_a_trial_fails_it_and_repeats_stop_the_study(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A broken environment (here the cache's lora folder is a file) raises inside every trial:
    each one is failed with the error, none is left RUNNING, and the study stops after three in
    a row fail the same way instead of spending its whole budget on them."""
    out = tmp_path / "o"
    (out / "cache").mkdir(parents=True)
    (out / "cache" / "lora").write_text("not a folder")
    space = write_space(tmp_path / "s.yaml", tiny_raw())
    assert main(["--space", str(space), "--out", str(out), "--n-trials", "6", "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no trial completed (3 of 3 failed with: FileExistsError" in err[0], err
    study = optuna.load_study(study_name="tiny-cpu", storage=f"sqlite:///{out / 'study.db'}")
    trials = study.get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.FAIL] * 3
    assert all(t.user_attrs["reason"].startswith("FileExistsError: ") for t in trials)
    report = json.loads((out / "report.json").read_text())
    assert report["ended"]["why"] == "errors"
