"""A real study of the tiny model end to end: runs, resumes, recovers, prunes, reuses the cache."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pytest

from autotune.cli import main
from tests.conftest import tiny_raw, write_space

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
        assert m["size_mb"] > 1 and m["peak_rss_mb"] > 10 and m["decode_passes_per_s"] > 0
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


def test_rerun_resumes_without_new_trials(tiny_study: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _stored_trials(tiny_study)
    space = tiny_study.parent / "tiny.yaml"
    assert main(["--space", str(space), "--out", str(tiny_study), "--n-trials", "3"]) == 0
    assert "0 new trial(s)" in capsys.readouterr().out
    after = _stored_trials(tiny_study)
    # The very same trials, untouched: nothing added (not even queued), re-run or re-told.
    assert [(t.number, t.state, t.values, t.params) for t in after] == [
        (t.number, t.state, t.values, t.params) for t in before
    ]
    assert [(t.datetime_start, t.datetime_complete) for t in after] == [
        (t.datetime_start, t.datetime_complete) for t in before
    ]
    assert [t.user_attrs for t in after] == [t.user_attrs for t in before]
    assert len(before) == 3 and all(t.state.is_finished() for t in before)
    rows = json.loads((tiny_study / "report.json").read_text())["rows"]
    assert [r["number"] for r in rows] == [t.number for t in before]


def test_report_command_rewrites_the_files(tiny_study: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tiny_study / "trials.csv").unlink()
    assert main(["report", str(tiny_study)]) == 0
    assert "Feasible Pareto front" in capsys.readouterr().out
    assert (tiny_study / "trials.csv").is_file()


def test_changed_space_is_refused_on_resume(tiny_study: Path, capsys: pytest.CaptureFixture[str]) -> None:
    space = tiny_study.parent / "tiny.yaml"
    run_json = (tiny_study / "run.json").read_text()
    assert main(["--space", str(space), "--out", str(tiny_study), "passes.lora.steps=9"]) == 2
    assert "made with a different space" in capsys.readouterr().err
    assert main(["--space", str(space), "--out", str(tiny_study), "evaluation.latency_repeats=9"]) == 2
    assert "made with a different evaluation settings" in capsys.readouterr().err
    assert (tiny_study / "run.json").read_text() == run_json  # a refused rerun changes nothing


def test_changed_data_is_refused_on_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import EMOTIONS

    data = tmp_path / "emotions.jsonl"
    data.write_text(EMOTIONS.read_text())
    raw = tiny_raw(data__path=str(data))
    space = write_space(tmp_path / "s.yaml", raw)
    out = tmp_path / "o"
    assert main(["--space", str(space), "--out", str(out), "--n-trials", "1", "--quiet"]) == 0
    lines = data.read_text().splitlines()
    data.write_text("\n".join([lines[1], lines[0], *lines[2:]]) + "\n")  # the same rows, reordered
    assert main(["--space", str(space), "--out", str(out), "--n-trials", "2", "--quiet"]) == 2
    assert "made with a different data files" in capsys.readouterr().err


def test_the_timeout_is_the_study_budget_across_resumes(tmp_path: Path) -> None:
    space = write_space(tmp_path / "s.yaml", tiny_raw())
    out = tmp_path / "o"
    assert main(["--space", str(space), "--out", str(out), "--n-trials", "1", "--quiet"]) == 0
    study = optuna.load_study(study_name="tiny-cpu", storage=f"sqlite:///{out / 'study.db'}")
    spent = sum(v for k, v in study.user_attrs.items() if k.startswith("spent:"))
    assert spent > 0
    # a resume with more trials but a budget the first run already spent starts none
    args = ["--space", str(space), "--out", str(out), "--n-trials", "5", "--timeout", f"{spent / 2:.3f}"]
    assert main([*args, "--quiet"]) == 0
    assert len(study.get_trials()) == 1
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


def test_build_sweep_reuses_the_fine_tune(tmp_path: Path) -> None:
    raw = tiny_raw(study__build_sweep=True, passes__build__intra_op_threads=2)
    space = write_space(tmp_path / "s.yaml", raw)
    assert main(["--space", str(space), "--out", str(tmp_path / "o"), "--n-trials", "4", "--quiet"]) == 0
    rows = json.loads((tmp_path / "o" / "report.json").read_text())["rows"]
    first, *swept = rows
    assert not first["steps"][0]["cache_hit"]
    # trials 1-3 are the first fine-tune through the other builds: int4/int8/fp32, fp32 + quantize
    assert len(swept) == 3 and all(r["steps"][0]["cache_hit"] for r in swept), rows
    assert {r["steps"][0]["key"] for r in swept} == {first["steps"][0]["key"]}
    builds = {(r["chain"], r["params"].get("build.precision")) for r in rows}
    assert len(builds) == 4, builds
    complete = [r for r in rows if r["state"] == "complete"]
    assert complete and all(r["params"]["build.intra_op_threads"] == 2 for r in complete)


def _beating_study(tmp_path: Path, n_trials: int, **lora: Any) -> tuple[list[str], Path]:
    """The tiny space with 1 s heartbeats lost after 3 s: its CLI command and output folder."""
    raw = tiny_raw()
    raw["study"]["heartbeat"] = {"interval": 1, "grace": 3, "max_retry": 1}
    raw["passes"]["lora"].update(lora)
    space, out = write_space(tmp_path / "s.yaml", raw), tmp_path / "o"
    cmd = [sys.executable, "-m", "autotune.cli", "--space", str(space), "--out", str(out)]
    return [*cmd, "--n-trials", str(n_trials)], out


def _start_until(cmd: list[str], marker: str) -> subprocess.Popen[str]:
    """Start ``cmd`` and return once it has printed ``marker``."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert proc.stdout is not None
    for line in proc.stdout:
        if marker in line:
            break
    return proc


def test_killed_study_resumes_and_reruns_the_cut_trial(tmp_path: Path) -> None:
    """SIGKILL mid-trial: the trial's heartbeat stops; after the grace period the rerun fails it,
    runs it again (its fine-tune from the cache) and still ends with the trials asked for."""
    cmd, out = _beating_study(tmp_path, 2)
    proc = _start_until(cmd, "merge: running")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(4)  # past the grace period: the killed worker's trial is lost
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    study = optuna.load_study(study_name="tiny-cpu", storage=f"sqlite:///{out / 'study.db'}")
    trials = study.get_trials()
    lost = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert len(lost) == 1
    finished = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(finished) == 2
    rerun = next(t for t in finished if t.system_attrs.get("retry_history") == [lost[0].number])
    assert rerun.params == lost[0].params
    steps = {s["name"]: s["cache_hit"] for s in rerun.user_attrs["steps"]}
    assert steps["lora"] is True  # the fine-tune finished before the kill and is reused
    rows = {r["number"]: r for r in json.loads((out / "report.json").read_text())["rows"]}
    assert rows[lost[0].number]["reason"].startswith("worker lost")


def test_a_live_worker_in_another_pid_namespace_is_never_failed(tmp_path: Path) -> None:
    """Two containers on one host share a hostname, not their PIDs: a worker's pid can look dead
    to the other. Liveness is its heartbeat alone, so its running trial is never failed."""
    from autotune.space import Heartbeat
    from autotune.storage import fail_lost_trials, make_storage

    cmd, out = _beating_study(tmp_path, 1, steps=40)
    proc = _start_until(cmd, "lora: running")
    storage = make_storage(f"sqlite:///{out / 'study.db'}", Heartbeat(interval=1, grace=3, max_retry=1))
    study = optuna.load_study(study_name="tiny-cpu", storage=storage)
    (running,) = study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
    dead_pid = 4_000_000  # above any pid_max: no process here has it
    study._storage.set_trial_user_attr(running._trial_id, "pid", dead_pid)
    for _ in range(5):  # longer than the grace period, looking as the other container would
        fail_lost_trials(study)
        assert study.get_trials()[running.number].state == optuna.trial.TrialState.RUNNING
        time.sleep(1)
    rest = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, rest
    assert study.get_trials()[running.number].state == optuna.trial.TrialState.COMPLETE


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


@pytest.mark.integration
@pytest.mark.parametrize("seed", [1, 2])
def test_killed_at_random_moments_and_resumed_loses_nothing(tmp_path: Path, seed: int) -> None:
    """SIGKILL a study at random moments (seeded) and resume it each time: it ends with the trials
    asked for, none RUNNING, and every cache entry matching its manifest."""
    import random

    import autotune.cache
    from autotune.cache import Cache

    rng = random.Random(seed)
    raw = tiny_raw()
    raw["study"]["heartbeat"] = {"interval": 1, "grace": 2, "max_retry": 3}
    space = write_space(tmp_path / "s.yaml", raw)
    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "autotune.cli", "--space", str(space), "--out", str(out), "--n-trials", "3"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    kills = 0
    for _ in range(2):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        try:
            proc.wait(timeout=rng.uniform(4.0, 14.0))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            kills += 1
        time.sleep(3)  # past the grace period
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    study = optuna.load_study(study_name="tiny-cpu", storage=f"sqlite:///{out / 'study.db'}")
    states = [t.state for t in study.get_trials()]
    assert kills >= 1  # the seeds kill it at least once
    assert states.count(optuna.trial.TrialState.COMPLETE) == 3, (kills, states)
    assert optuna.trial.TrialState.RUNNING not in states
    autotune.cache._VERIFIED.clear()
    cache = Cache(out / "cache")
    entries = [p for p in (out / "cache").glob("*/*") if not p.name.startswith(".")]
    assert entries and all(cache.get(p.parent.name, p.name) is not None for p in entries)
