"""When to stop searching: the winner has not moved beyond noise for ``patience`` trials.

Replaying the finished trials in order, the winner (the feasible front's pick, see
``autotune.selection.winner``) is recomputed after each one. The search improved at a trial when its
winner replaced the previous one for a reason that is not noise: the old winner is now
significantly less accurate (the paired exact test on the same search phrases, at the
preference's significance), or, still tied on accuracy, it is beaten on the preference's
``then`` metric by more than ``stop.min_improvement`` (relative). A winner that only swaps with a
tied trial of about the same speed is not progress. The study stops when ``patience`` trials in
a row brought none and at least ``min_trials`` have run; the report says whether the search
converged, or was cut by its trial count or its timeout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from autotune.selection.winner import choose_winner
from autotune.space.metrics import get_metric, higher_is_better
from autotune.space.schema import Objective, Preference, StopRule

__all__ = ["ENDED_ATTR", "REPEATED_ERRORS", "Ending", "Progress", "progress"]

ENDED_ATTR = "ended"  # study user attribute: how the last run of the loop ended (Ended.as_dict)

# a study stops when this many trials in a row fail with the same internal error
REPEATED_ERRORS = 3
Ending = Literal["converged", "n_trials", "timeout", "grid", "interrupted", "errors", "fatal"]


@dataclass(frozen=True)
class Progress:
    """The winner's history over the finished trials."""

    winner: int | None  # the current winner (None before any feasible trial)
    last_improvement: int | None  # the trial whose arrival last moved the winner beyond noise
    since: int  # finished trials after that one (all of them when there was none)
    improvements: list[int]  # every trial that moved the winner beyond noise, in order
    converged: bool  # the rule says stop (False when no rule is set)


def _dominates(a: dict[str, Any], b: dict[str, Any], objectives: Sequence[Objective]) -> bool:
    better = False
    for o in objectives:
        x, y = float(a[o.metric]), float(b[o.metric])
        if o.direction == "maximize":
            x, y = -x, -y
        if x > y:
            return False
        better = better or x < y
    return better


def _front(rows: Sequence[Any], objectives: Sequence[Objective]) -> list[Any]:
    return [
        r for r in rows if not any(_dominates(o.metrics, r.metrics, objectives) for o in rows if o is not r)
    ]


def _beyond_noise(old: Any, new: Any, pref: Preference, min_improvement: float) -> bool:
    """Whether ``new`` replacing ``old`` as winner is more than noise."""
    choice = choose_winner([old, new], pref)
    tie = next(t for t in choice.ties if t.number == old.number)
    if not tie.tied:  # the old winner is now significantly worse on the preference's metric
        return True
    if pref.then is None:
        return False
    a, b = float(old.metrics[pref.then]), float(new.metrics[pref.then])
    gain = (b - a) if higher_is_better(pref.then) else (a - b)
    return gain > min_improvement * max(abs(a), 1e-12)


def progress(
    rows: Sequence[Any], objectives: Sequence[Objective], pref: Preference, rule: StopRule | None
) -> Progress:
    """Replay ``rows`` (finished trials with ``number``, ``state``, ``feasible``, ``metrics``,
    ``details``; any order) and say where the winner stands and whether the rule says stop."""
    get_metric(pref.metric)  # a typo in the preference fails here, not halfway through
    done = sorted((r for r in rows if r.state in ("complete", "pruned", "fail")), key=lambda r: r.number)
    min_improvement = rule.min_improvement if rule else 0.0
    feasible: list[Any] = []
    winner: Any = None
    improvements: list[int] = []
    for r in done:
        if r.state != "complete" or not r.feasible:
            continue
        feasible.append(r)
        front = _front(feasible, objectives)
        new = next(x for x in front if x.number == choose_winner(front, pref).winner)
        if winner is None or (new is not winner and _beyond_noise(winner, new, pref, min_improvement)):
            improvements.append(r.number)
        winner = new
    last = improvements[-1] if improvements else None
    since = sum(1 for r in done if last is None or r.number > last)
    converged = rule is not None and len(done) >= rule.min_trials and since >= rule.patience
    return Progress(winner.number if winner is not None else None, last, since, improvements, converged)
