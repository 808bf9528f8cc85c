"""The winner: the fastest of the front trials a paired test does not find less accurate."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from autotune.selection.winner import choose_winner
from autotune.space.schema import Preference


@dataclass
class Row:
    number: int
    metrics: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)


def _bits(flip_to_wrong: range, flip_to_right: range = range(0)) -> str:
    """100 examples; the reference gets the first 95 right."""
    bits = ["1"] * 95 + ["0"] * 5
    for i in flip_to_wrong:
        bits[i] = "0"
    for i in flip_to_right:
        bits[i] = "1"
    return "".join(bits)


def _row(number: int, p90: float, bits: str) -> Row:
    acc = bits.count("1") / len(bits)
    return Row(number, {"accuracy": acc, "latency_p90_ms": p90}, {"correct": bits})


BEST = _row(0, 90.0, _bits(range(0)))  # 0.95, slow
CLOSE = _row(1, 40.0, _bits(range(0, 4), range(95, 96)))  # 0.92: 4 vs 1 discordant, p = 6/32
WORSE = _row(2, 20.0, _bits(range(10, 20)))  # 0.85: 10 vs 0 discordant, p = 1/1024


def test_tied_trial_wins_on_speed_and_a_clearly_worse_one_does_not() -> None:
    pref = Preference(metric="accuracy", then="latency_p90_ms", significance=0.05)
    choice = choose_winner([BEST, CLOSE, WORSE], pref)
    assert choice.best == 0 and choice.winner == 1
    ties = {t.number: t for t in choice.ties}
    assert ties[1].tied and ties[1].discordant == (4, 1)
    assert ties[1].p_worse == pytest.approx(6 / 32)
    assert not ties[2].tied and ties[2].p_worse == pytest.approx(1 / 1024)
    assert "trial(s) 1" in choice.note and "2" not in choice.note.split("trial(s)")[1]


def test_the_level_decides() -> None:
    strict = Preference(metric="accuracy", then="latency_p90_ms", significance=0.2)
    assert choose_winner([BEST, CLOSE, WORSE], strict).winner == 0  # p = 0.1875 < 0.2: worse


def test_tolerance_still_admits_and_rows_without_examples_fall_back_to_it() -> None:
    pref = Preference(metric="accuracy", then="latency_p90_ms", tolerance=0.1)
    assert choose_winner([BEST, CLOSE, WORSE], pref).winner == 2  # 0.85 is within 0.1
    plain = [Row(r.number, r.metrics) for r in (BEST, CLOSE, WORSE)]
    assert choose_winner(plain, Preference(metric="accuracy", then="latency_p90_ms")).winner == 0
    loose = Preference(metric="accuracy", then="latency_p90_ms", tolerance=0.05)
    assert choose_winner(plain, loose).winner == 1


def test_without_then_the_best_wins() -> None:
    assert choose_winner([BEST, CLOSE], Preference(metric="accuracy")).winner == 0
