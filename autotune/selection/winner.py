"""Choosing one winner from the feasible front without trusting noise.

The best front trial on the search split is only the luckiest one when several are within an
example or two of it. The candidates are therefore every front trial that a paired test on the
same search examples (exact for right/wrong outcomes, a paired bootstrap for scores: see
``autotune.selection.paired``) does not find worse than the best one (or that lies within the
preference's tolerance); among them the preference's ``then`` metric decides.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from autotune.selection.paired import comparable, compare
from autotune.space.metrics import get_metric, higher_is_better
from autotune.space.schema import Preference

__all__ = ["Tie", "WinnerChoice", "choose_winner"]


class _Row(Protocol):
    number: int
    metrics: dict[str, Any]
    details: dict[str, Any]


@dataclass(frozen=True)
class Tie:
    """How a front trial compares with the best one on the preference's metric."""

    number: int
    value: float
    tied: bool
    why: str
    p_worse: float | None = None  # one-sided p-value that it is worse than the best (selection.paired)
    discordant: tuple[int, int] | None = None  # (best right & it wrong, best wrong & it right)


@dataclass(frozen=True)
class WinnerChoice:
    winner: int
    best: int
    ties: list[Tie]
    note: str


def _key(metric: str, row: _Row) -> float:
    v = float(row.metrics.get(metric, math.nan))
    return -v if higher_is_better(metric) else v


def _compare(best: _Row, row: _Row, pref: Preference) -> Tie:
    value, edge = float(row.metrics[pref.metric]), float(best.metrics[pref.metric])
    if row is best:
        return Tie(row.number, value, True, "the best on the search split")
    close = abs(value - edge) <= pref.tolerance + 1e-9
    field = get_metric(pref.metric).paired
    a = best.details.get(field) if field else None
    b = row.details.get(field) if field else None
    if not comparable(a, b):
        why = f"within tolerance {pref.tolerance:g}" if close else f"more than {pref.tolerance:g} below"
        return Tie(row.number, value, close, why)
    test = compare(a, b)  # type: ignore[arg-type]
    worse = test.p_worse < pref.significance
    why = test.text
    if close and worse:
        why += f"; within tolerance {pref.tolerance:g}"
    return Tie(row.number, value, close or not worse, why, test.p_worse, test.discordant)


def choose_winner(rows: Sequence[_Row], pref: Preference) -> WinnerChoice:
    """The winner among ``rows`` (the feasible front) by ``pref``, and how each row compared."""
    if not rows:
        raise ValueError("choose_winner needs at least one row")
    then = pref.then
    best = min(rows, key=lambda r: (_key(pref.metric, r), _key(then, r) if then else 0.0, r.number))
    ties = [_compare(best, r, pref) for r in sorted(rows, key=lambda r: r.number)]
    tied = {t.number for t in ties if t.tied}
    candidates = [r for r in rows if r.number in tied]
    if then is None:
        return WinnerChoice(best.number, best.number, ties, f"best {pref.metric} on the feasible front")
    winner = min(candidates, key=lambda r: (_key(then, r), r.number))
    others = [t.number for t in ties if t.tied and t.number != best.number]
    note = f"best {pref.metric} on the search split: trial {best.number}"
    if others:
        rule = (
            f"not significantly worse (paired test, p >= {pref.significance:g})"
            if get_metric(pref.metric).paired
            else f"within {pref.tolerance:g}"
        )
        note += f"; tied with it, {rule}: trial(s) {', '.join(map(str, others))}"
    note += f"; among these the best {then} wins"
    return WinnerChoice(winner.number, best.number, ties, note)
