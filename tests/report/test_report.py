"""The report is built from frozen trials only: front, winner by preference, closest if infeasible."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna

from autotune.report.build import CONFIRM_ATTR, build_report, write_report
from autotune.space.schema import Space
from tests.conftest import tiny_raw

optuna.logging.set_verbosity(optuna.logging.ERROR)


PLAN = {"chain": ["lora", "merge", "build"], "target": "cpu", "params": {"build": {"precision": "int4"}}}


def _study(
    space: Space,
    results: list[dict[str, float]],
    correct: list[str] | None = None,
    plans: list[dict[str, Any]] | None = None,
) -> optuna.Study:
    """Finished trials with these metrics (and per-example correctness, and plans: PLAN if None)."""
    study = optuna.create_study(directions=[o.direction for o in space.objectives])
    study.set_user_attr("target", "cpu")
    for i, m in enumerate(results):
        t = study.ask()
        t.suggest_categorical("build.precision", ["int4", "fp32"])
        t.set_user_attr("metrics", m)
        if correct:
            t.set_user_attr("details", {"correct": correct[i]})
        t.set_user_attr("plan", plans[i] if plans else PLAN)
        for c in space.constraints:
            t.set_constraint(str(c), c.violation(m[c.metric]))
        study.tell(t, [m[o.metric] for o in space.objectives])
    return study


def test_winner_is_the_fastest_within_tolerance(tmp_path: Path) -> None:
    space = Space.model_validate(
        tiny_raw(
            constraints=[{"metric": "accuracy", "op": ">=", "value": 0.8}],
            preference={"metric": "accuracy", "tolerance": 0.02, "then": "latency_p90_ms"},
        )
    )
    runs = [
        {"accuracy": 0.95, "latency_p90_ms": 90.0, "size_mb": 500.0},  # most accurate, slow
        {"accuracy": 0.94, "latency_p90_ms": 40.0, "size_mb": 90.0},  # within 0.02, fastest
        {"accuracy": 0.70, "latency_p90_ms": 10.0, "size_mb": 80.0},  # infeasible
        {"accuracy": 0.90, "latency_p90_ms": 45.0, "size_mb": 100.0},  # dominated by #1
    ]
    report = build_report(_study(space, runs), space)
    assert report.front == [0, 1] and report.winner == 1 and report.winner_feasible
    assert report.row(2).feasible is False and report.row(3).on_front is False
    write_report(report, tmp_path)
    assert (tmp_path / "report.json").is_file() and len(
        (tmp_path / "trials.csv").read_text().splitlines()
    ) == 5


def test_two_processes_writing_one_folders_report_leave_it_whole(tmp_path: Path) -> None:
    """Workers that share an output folder (two started together) write its report at the same
    moments: each writes its own temporary files, so none fails on the other's and the files
    left are whole (before, both used .report.json.tmp and one ended with FileNotFoundError)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    space = Space.model_validate(tiny_raw())
    runs = [{"accuracy": 0.9, "latency_p90_ms": 40.0 + i, "size_mb": 90.0} for i in range(40)]
    report = build_report(_study(space, runs), space)
    start = threading.Barrier(2)

    def write(_: int) -> None:
        start.wait()
        for _ in range(30):
            write_report(report, tmp_path)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(write, range(2)))  # re-raises a writer's error
    assert len(json.loads((tmp_path / "report.json").read_text())["rows"]) == 40
    assert len((tmp_path / "trials.csv").read_text().splitlines()) == 41
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json", "trials.csv"]  # no leftovers


def constrained_space(accuracy: float, p90_ms: float) -> Space:
    """The tiny space with the constraints accuracy >= ``accuracy`` and p90 <= ``p90_ms``."""
    return Space.model_validate(
        tiny_raw(
            constraints=[
                {"metric": "accuracy", "op": ">=", "value": accuracy},
                {"metric": "latency_p90_ms", "op": "<=", "value": p90_ms},
            ],
        )
    )


def test_no_feasible_trial_names_the_closest() -> None:
    space = constrained_space(accuracy=0.9, p90_ms=50)
    runs = [
        {"accuracy": 0.50, "latency_p90_ms": 40.0, "size_mb": 1.0},
        {"accuracy": 0.85, "latency_p90_ms": 52.0, "size_mb": 1.0},
    ]
    report = build_report(_study(space, runs), space)
    assert report.front == [] and report.winner == 1 and not report.winner_feasible
    assert "NO trial meets every constraint" in report.note


def test_paired_ties_confirm_figures_and_straddles(tmp_path: Path) -> None:
    space = Space.model_validate(
        tiny_raw(
            constraints=[{"metric": "accuracy", "op": ">=", "value": 0.85}],
            preference={"metric": "accuracy", "then": "latency_p90_ms", "significance": 0.05},
        )
    )
    best = "1" * 18 + "0" * 2  # 0.90 on 20 examples
    close = "00" + "1" * 17 + "0"  # 0.85: best right/it wrong 2, best wrong/it right 1; p = 0.5
    runs = [
        {
            "accuracy": 0.90,
            "accuracy_low": 0.87,
            "accuracy_high": 0.97,
            "latency_p90_ms": 90.0,
            "size_mb": 5.0,
        },
        {
            "accuracy": 0.85,
            "accuracy_low": 0.64,
            "accuracy_high": 0.95,
            "latency_p90_ms": 40.0,
            "size_mb": 5.0,
        },
    ]
    study = _study(space, runs, [best, close])
    study.set_user_attr(
        f"{CONFIRM_ATTR}1",
        {
            "metrics": {"confirm_accuracy": 0.8, "confirm_accuracy_low": 0.6, "confirm_accuracy_high": 0.9},
            "n": 20,
        },
    )
    report = build_report(study, space)
    assert report.front == [0, 1] and report.best == 0 and report.winner == 1
    assert [t["tied"] for t in report.ties] == [True, True]
    assert report.row(1).metrics["confirm_accuracy"] == 0.8 and report.row(1).details["confirm"]["n"] == 20
    assert "confirm_accuracy" not in report.row(0).metrics
    assert report.row(0).straddles == []  # 0.87-0.97 lies above 0.85
    assert report.row(1).straddles == ["accuracy >= 0.85"]  # met by the point, not by the interval
    write_report(report, tmp_path)
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["winner"] == 1 and saved["ties"][1]["discordant"] == [2, 1]
