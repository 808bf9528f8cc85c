"""Multi-fidelity fine-tunes: which runs earn more training steps (successive halving).

A fine-tune with rungs stops at each rung of its step budget (say 20 and 60 of 180 steps), is
merged and scored in PyTorch on the search split, and goes on only if it is promoted. The run
resumes from the rung's checkpoint in the cache: the steps already trained are never trained
again, and the finished run equals one trained straight through (``_training.train``).

Promotion is asynchronous successive halving made noise-aware. Among every trial of the study
that reached the same rung, a run is promoted when it ranks in the top ``1/eta`` by PyTorch
accuracy, or when the exact paired test on the same search phrases does not find it worse than
the run at that cut (at the preference's significance): a run one phrase behind the cut is not
thrown away on noise. The first run at a rung is always promoted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["RUNG_ATTR", "RungResult", "promotion"]

RUNG_ATTR = "rung:"  # trial user attribute "rung:<steps>": {"accuracy": ..., "correct": "0110..."}


@dataclass(frozen=True)
class RungResult:
    """One trial's PyTorch accuracy at a rung, with its per-phrase correctness."""

    number: int
    accuracy: float
    correct: str  # "1"/"0" per search phrase, in the split's order


def promotion(
    this: RungResult, peers: Sequence[RungResult], eta: int, significance: float
) -> tuple[bool, str]:
    """Whether ``this`` goes on to the next rung, and why (``peers``: every trial at the rung,
    ``this`` included or not)."""
    from evaluators import paired_test

    others = [p for p in peers if p.number != this.number]
    ranked = sorted([this, *others], key=lambda r: (-r.accuracy, r.number))
    keep = max(1, len(ranked) // eta)
    position = ranked.index(this)
    if position < keep:
        return True, f"ranks {position + 1} of {len(ranked)} at this rung (top {keep} go on)"
    cut = ranked[keep - 1]
    if len(cut.correct) == len(this.correct) and this.correct:
        test = paired_test([c == "1" for c in cut.correct], [c == "1" for c in this.correct])
        if test.p_worse >= significance:
            return True, (
                f"ranks {position + 1} of {len(ranked)}, but is not significantly worse than trial "
                f"{cut.number} at the cut (paired exact test p = {test.p_worse:.3f})"
            )
        return False, (
            f"ranks {position + 1} of {len(ranked)} at this rung, significantly worse than trial "
            f"{cut.number} at the top-{keep} cut ({this.accuracy:.3f} vs {cut.accuracy:.3f}, "
            f"paired exact test p = {test.p_worse:.3f})"
        )
    return False, f"ranks {position + 1} of {len(ranked)} at this rung (top {keep} go on)"
