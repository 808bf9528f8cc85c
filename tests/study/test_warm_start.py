"""Warm start: a new study begins with the front of a finished one (``--from OUT``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml

from autotune.cli import main
from autotune.report.build import Report
from autotune.study.warm_start import plan_seeds
from autotune.targets import get_target
from tests.conftest import load_tiny, tiny_raw, write_space


def _report(front: list[int], winner: int | None = None) -> Report:
    return Report(
        study_name="old",
        target="cpu",
        objectives=[],
        constraints=[],
        rows=[],
        front=front,
        winner=winner if winner is not None else (front[0] if front else None),
        winner_feasible=bool(front),
        note="",
    )


def _plan(chain: list[str], **params: dict[str, Any]) -> dict[str, Any]:
    return {"chain": chain, "target": "cpu", "params": params}


LORA = {"rank": 8, "alpha": 16, "learning_rate": 0.005, "target_modules": "all-linear", "steps": 3}


def test_seeds_keep_what_the_new_space_allows_and_drop_the_rest(tmp_path: Path) -> None:
    loaded = load_tiny(
        tmp_path,
        passes__lora__learning_rate={"low": 1.0e-3, "high": 4.0e-3, "log": True},  # narrowed
        passes__build__precision=["int4", "int8"],  # fp32 is no longer searched
    )
    plans = {
        0: _plan(["lora", "merge", "build"], lora=LORA, build={"precision": "int8", "block_size": 32}),
        1: _plan(["lora", "merge", "build"], lora={**LORA, "rank": 4}, build={"precision": "fp32"}),
        2: _plan(["lora", "merge", "gptq"], lora=LORA),  # a chain this space does not have
    }
    seeds, skipped = plan_seeds(_report([0, 1, 2]), plans, loaded, get_target("cpu"))

    assert [s.source for s in seeds] == [0, 1]
    first, second = seeds
    assert first.params["chain"] == "lora>merge>build"
    assert first.params["lora.rank"] == 8
    assert first.params["lora.target_modules"] == "all-linear"
    assert first.params["build.precision"] == "int8"
    assert "lora.learning_rate" not in first.params  # 0.005 lies outside 1e-3..4e-3: sampled
    assert any(d.startswith("lora.learning_rate=0.005") for d in first.dropped)
    assert "lora.steps" not in first.params  # fixed by the new space, not the old one's to choose
    assert second.params["lora.rank"] == 4
    assert "build.precision" not in second.params  # fp32 is not one of int4, int8
    assert any("build.precision=fp32" in d for d in second.dropped)
    assert skipped == ["trial 2: its chain lora>merge>gptq is not one of this space's chains"]


def test_no_front_seeds_the_closest_trial(tmp_path: Path) -> None:
    loaded = load_tiny(tmp_path)
    plans = {3: _plan(["lora", "merge", "build"], lora=LORA, build={"precision": "int4", "block_size": 32})}
    seeds, _ = plan_seeds(_report([], winner=3), plans, loaded, get_target("cpu"))
    assert [s.source for s in seeds] == [3]
    assert seeds[0].params["build.precision"] == "int4"


def _study(out: Path) -> optuna.Study:
    return optuna.load_study(study_name="tiny-cpu", storage=f"sqlite:///{out / 'study.db'}")


def test_a_new_study_starts_from_the_old_front(
    tiny_study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import copy_study

    tiny_study = copy_study(tiny_study, tmp_path)  # its cache is reused, and so written to
    old = json.loads((tiny_study / "report.json").read_text())
    front = old["front"] or [old["winner"]]
    old_params = {r["number"]: r["params"] for r in old["rows"]}
    # the same task under a changed latency constraint, reusing the old study's cache
    # the old study's seed: it is the fine-tune's training seed, part of its cache key
    seed = yaml.safe_load((tiny_study.parent / "tiny.yaml").read_text())["study"]["seed"]
    raw = tiny_raw(study__build_sweep=False, study__seed=seed)
    raw["constraints"][1]["value"] = 1500
    space = write_space(tmp_path / "changed.yaml", raw)
    out = tmp_path / "new"
    argv = ["--space", str(space), "--out", str(out), "--from", str(tiny_study)]
    argv += ["--cache", str(tiny_study / "cache"), "--n-trials", str(len(front))]
    assert main(argv) == 0
    printed = " ".join(capsys.readouterr().out.split())  # the console wraps long paths
    assert f"warm start: {len(front)} trial(s) queued from" in printed

    trials = _study(out).get_trials()
    assert len(trials) == len(front)
    for trial, source in zip(trials, front, strict=True):
        assert trial.user_attrs["seeded_from"] == f"{tiny_study} trial {source}"
        ran = {
            f"{p}.{k}": v for p, vals in trial.user_attrs["plan"]["params"].items() for k, v in vals.items()
        }
        assert ran == old_params[source]  # the very configuration of the old front trial
        assert trial.user_attrs["steps"][0]["cache_hit"]  # its fine-tune came from the old cache
    report = json.loads((out / "report.json").read_text())
    assert {r["seeded_from"] for r in report["rows"]} == {f"{tiny_study} trial {n}" for n in front}

    # resuming with --from again queues nothing new
    assert main([*argv[:-1], str(len(front) + 1)]) == 0
    assert "was seeded from" in " ".join(capsys.readouterr().out.split())
    seeded = [t for t in _study(out).get_trials() if "seeded_from" in t.user_attrs]
    assert len(seeded) == len(front)


def test_from_a_folder_that_is_no_study_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    space = write_space(tmp_path / "tiny.yaml", tiny_raw())
    code = main(["--space", str(space), "--out", str(tmp_path / "o"), "--from", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith(f"autotune: error: {tmp_path}: not an autotune output folder")
    assert "\n" not in err
    assert not (tmp_path / "o" / "study.db").exists()  # refused before anything was created
