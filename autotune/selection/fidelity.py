"""Multi-fidelity fine-tunes: which runs earn more training steps (successive halving).

A fine-tune with rungs stops at each rung of its step budget (say 20 and 60 of 180 steps), is
merged and measured in PyTorch on the search split (the task kind's gate metric: accuracy, or
the answer's log-likelihood for generation), and goes on only if it is promoted. The run
resumes from the rung's checkpoint in the cache: the steps already trained are never trained
again, and the finished run equals one trained straight through (``_training.train``).

Promotion is asynchronous successive halving made noise-aware. Among every trial of the study
that reached the same rung, a run is promoted when it ranks in the top ``1/eta`` by its PyTorch
gate metric, or when the paired test on the same search examples (``autotune.selection.paired``) does not
find it worse than the run at that cut (at the preference's significance): a run one example
behind the cut is not thrown away on noise. The first run at a rung is always promoted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from autotune.selection.paired import comparable, compare
from autotune.task_kinds import PerExample

__all__ = ["RUNG_ATTR", "RungResult", "promotion"]

# trial user attribute "rung:<steps>": {"value": ..., "outcomes": "0110..." or [scores]}
# (studies of earlier versions wrote {"accuracy": ..., "correct": "0110..."}: still read)
RUNG_ATTR = "rung:"


@dataclass(frozen=True)
class RungResult:
    """One trial's PyTorch gate metric at a rung, with its per-example outcomes."""

    number: int
    value: float
    outcomes: PerExample  # "1"/"0" or a score per search example, in the split's order

    def to_attr(self) -> dict[str, Any]:
        return {"value": self.value, "outcomes": self.outcomes}

    @classmethod
    def from_attr(cls, number: int, attr: dict[str, Any]) -> RungResult:
        value = attr.get("value", attr.get("accuracy", 0.0))
        outcomes = attr.get("outcomes", attr.get("correct", ""))
        return cls(number, float(value), outcomes if isinstance(outcomes, (str, list)) else "")


def promotion(
    this: RungResult, peers: Sequence[RungResult], eta: int, significance: float
) -> tuple[bool, str]:
    """Whether ``this`` goes on to the next rung, and why (``peers``: every trial at the rung,
    ``this`` included or not)."""
    others = [p for p in peers if p.number != this.number]
    ranked = sorted([this, *others], key=lambda r: (-r.value, r.number))
    keep = max(1, len(ranked) // eta)
    position = ranked.index(this)
    if position < keep:
        return True, f"ranks {position + 1} of {len(ranked)} at this rung (top {keep} go on)"
    cut = ranked[keep - 1]
    if comparable(cut.outcomes, this.outcomes):
        test = compare(cut.outcomes, this.outcomes)
        how = "paired exact test" if isinstance(this.outcomes, str) else "paired bootstrap"
        if test.p_worse >= significance:
            return True, (
                f"ranks {position + 1} of {len(ranked)}, but is not significantly worse than trial "
                f"{cut.number} at the cut ({how} p = {test.p_worse:.3f})"
            )
        return False, (
            f"ranks {position + 1} of {len(ranked)} at this rung, significantly worse than trial "
            f"{cut.number} at the top-{keep} cut ({this.value:.3f} vs {cut.value:.3f}, "
            f"{how} p = {test.p_worse:.3f})"
        )
    return False, f"ranks {position + 1} of {len(ranked)} at this rung (top {keep} go on)"
