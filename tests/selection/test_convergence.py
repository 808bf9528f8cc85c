"""The stop rule: the winner must move beyond noise, or the study stops and says it converged."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import pytest

from autotune.cli import main
from autotune.selection.convergence import ENDED_ATTR, progress
from autotune.space.schema import Objective, Preference, StopRule
from tests.conftest import tiny_raw, write_space

OBJ = [
    Objective(metric="accuracy", direction="maximize"),
    Objective(metric="latency_p90_ms", direction="minimize"),
]
PREF = Preference(metric="accuracy", significance=0.05, then="latency_p90_ms")
N = 100


@dataclass
class Row:
    number: int
    accuracy_right: int  # how many of the N search phrases it gets right (the first ones)
    latency: float
    state: str = "complete"
    feasible: bool = True
    metrics: dict[str, Any] = field(init=False)
    details: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.metrics = {"accuracy": self.accuracy_right / N, "latency_p90_ms": self.latency}
        self.details = {"correct": "1" * self.accuracy_right + "0" * (N - self.accuracy_right)}


def test_only_moves_beyond_noise_count() -> None:
    rows = [
        Row(0, 70, 50.0),  # the first feasible trial: progress
        Row(1, 72, 49.0),  # 2 more right, 2% faster: a swap within noise
        Row(2, 90, 60.0),  # 18 more right on the same phrases: significant
        Row(3, 89, 40.0),  # tied with 2 and a third faster: progress
        Row(4, 10, 10.0, feasible=False),
        Row(5, 0, 0.0, state="fail"),
        Row(6, 89, 39.5),  # tied, 1% faster: noise
    ]
    p = progress(rows, OBJ, PREF, StopRule(patience=3))
    assert p.improvements == [0, 2, 3] and p.last_improvement == 3 and p.since == 3
    assert p.winner == 6 and p.converged
    assert not progress(rows, OBJ, PREF, StopRule(patience=4)).converged
    assert not progress(rows, OBJ, PREF, StopRule(patience=3, min_trials=8)).converged

    # with no threshold every faster tied winner counts; a strict one drops the third
    def moved(threshold: float) -> list[int]:
        return progress(rows, OBJ, PREF, StopRule(patience=3, min_improvement=threshold)).improvements

    assert moved(0.0) == [0, 1, 2, 3, 6] and moved(0.5) == [0, 2]
    assert not progress(rows, OBJ, PREF, None).converged  # no rule: never stops


def test_no_feasible_trial_never_improves() -> None:
    rows = [Row(i, 50, 10.0, feasible=False) for i in range(4)]
    p = progress(rows, OBJ, PREF, StopRule(patience=2))
    assert (p.winner, p.last_improvement, p.since, p.converged) == (None, None, 4, True)


@pytest.mark.integration
def test_a_study_stops_when_converged_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the tiny model is near chance: after the first feasible trial nothing moves beyond noise
    # the first fine-tune's build sweep queues its other builds: they run before the study stops
    raw = tiny_raw(
        study__n_trials=12,
        study__stop={"patience": 2, "min_trials": 3, "min_improvement": 10.0},
        study__build_sweep=True,
        passes__lora__steps=1,
        passes__build__intra_op_threads=2,
    )
    space = write_space(tmp_path / "s.yaml", raw)
    assert main(["--space", str(space), "--out", str(tmp_path / "o")]) == 0
    storage = f"sqlite:///{tmp_path / 'o' / 'study.db'}"
    study = optuna.load_study(study_name=None, storage=storage)
    ended = study.user_attrs[ENDED_ATTR]
    assert ended["why"] == "converged" and ended["since"] >= 2 and ended["rule_met"], ended
    assert 3 <= ended["finished"] < 12
    assert study.get_trials(states=(optuna.trial.TrialState.WAITING,)) == []
    swept = [t for t in study.trials if t.user_attrs["steps"][0]["cache_hit"]]
    assert len(swept) == ended["finished"] - 1  # one fine-tune, every build of it, then the stop
    # the build sweep: trials 1-3 are the first fine-tune through the other builds (int4/int8/fp32,
    # fp32 + quantize), each reusing that fine-tune's cache entry
    rows = json.loads((tmp_path / "o" / "report.json").read_text())["rows"]
    first, *rest = rows
    assert not first["steps"][0]["cache_hit"] and len(rest) >= 3
    assert all(r["steps"][0]["cache_hit"] for r in rest[:3]), rows
    assert {r["steps"][0]["key"] for r in rest[:3]} == {first["steps"][0]["key"]}
    builds = {(r["chain"], r["params"].get("build.precision")) for r in rows[:4]}
    assert len(builds) == 4, builds
    complete = [r for r in rows if r["state"] == "complete"]
    assert complete and all(r["params"]["build.intra_op_threads"] == 2 for r in complete)
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["ended"]["why"] == "converged"
    out = capsys.readouterr().out
    assert "already queued run first" in out and "Search converged" in out


@pytest.mark.parametrize(
    ("ended", "says"),
    [
        ({"why": "converged"}, "Search converged: the winner last moved beyond noise at trial 2, 16"),
        ({"why": "timeout", "rule_met": True}, "cut by its timeout after 20 trials: the winner last moved"),
        ({"why": "timeout", "rule_met": True}, "the stop rule was met (patience 16): converged."),
        (
            {"why": "timeout", "rule_met": False},
            "not converged (stop rule: patience 16), more trials may help",
        ),
    ],
)
def test_the_report_says_how_the_search_ended(ended: dict[str, object], says: str) -> None:
    from autotune.report.build import Report

    ended = {"finished": 20, "last_improvement": 2, "since": 16, "rule": {"patience": 16}, **ended}
    report = Report("s", "cpu", [], [], [], [], None, False, "", ended=ended)
    assert says in report.search_note
