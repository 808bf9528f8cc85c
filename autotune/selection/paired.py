"""Whether one trial is worse than another on the same examples, whatever the metric's kind.

Per-example outcomes come as "0110..." (right/wrong: the exact McNemar test on the discordant
pairs) or as a list of scores (ROUGE-L, a log-probability: the paired bootstrap of the mean
difference). The winner, the stop rule and the rungs all compare trials through this one door.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Comparison", "comparable", "compare"]


@dataclass(frozen=True)
class Comparison:
    p_worse: float  # one-sided p-value that ``b`` is worse than ``a``
    text: str  # how it was tested, for the report
    discordant: tuple[int, int] | None = None  # (a right & b wrong, a wrong & b right): 0/1 only


def comparable(a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b`` are per-example outcomes of the same examples."""
    if isinstance(a, str) and isinstance(b, str):
        return bool(a) and len(a) == len(b)
    return isinstance(a, list) and isinstance(b, list) and bool(a) and len(a) == len(b)


def compare(a: str | list[float], b: str | list[float]) -> Comparison:
    """How ``b`` compares with ``a`` on the same examples (see ``comparable``)."""
    if isinstance(a, str) and isinstance(b, str):
        from evaluators import paired_test

        test = paired_test([c == "1" for c in a], [c == "1" for c in b])
        text = (
            f"paired exact test on {len(a)} examples: best right/it wrong {test.b}, best wrong/it right "
            f"{test.c}, p = {test.p_worse:.3f}"
        )
        return Comparison(test.p_worse, text, (test.b, test.c))
    if isinstance(a, list) and isinstance(b, list):
        from evaluators import paired_bootstrap

        boot = paired_bootstrap([float(x) for x in a], [float(x) for x in b])
        text = (
            f"paired bootstrap on {boot.n} examples: mean {boot.mean_b:.3f} vs {boot.mean_a:.3f}, "
            f"p = {boot.p_worse:.3f}"
        )
        return Comparison(boot.p_worse, text)
    raise ValueError("per-example outcomes must both be 0/1 strings or both lists of scores")
