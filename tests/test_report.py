"""The report is built from frozen trials only: front, winner by preference, closest if infeasible."""

from __future__ import annotations

from pathlib import Path

import optuna

from autotune.report import build_report, write_report
from autotune.space import Space
from tests.conftest import tiny_raw

optuna.logging.set_verbosity(optuna.logging.ERROR)


def _study(space: Space, results: list[dict[str, float]]) -> optuna.Study:
    study = optuna.create_study(directions=[o.direction for o in space.objectives])
    study.set_user_attr("target", "cpu")
    for m in results:
        t = study.ask()
        t.suggest_categorical("build.precision", ["int4", "fp32"])
        t.set_user_attr("metrics", m)
        t.set_user_attr(
            "plan",
            {
                "chain": ["lora", "merge", "build"],
                "target": "cpu",
                "params": {"build": {"precision": "int4"}},
            },
        )
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
