"""Sentence-level chrF of each prediction against its reference, on a 0-1 scale, and their mean.

An ``evaluate`` metric module loaded by path (``evaluate.load(dir)``), so it works offline.
Keep one import per line: ``evaluate`` parses this file's imports.
"""

from typing import Any

import datasets
import evaluate
from sacrebleu.metrics.chrf import CHRF

_DESCRIPTION = """
chrF (Popovic 2015): the F-score (beta 2) of character n-grams up to 6 between a prediction
and its reference, computed per sentence by sacrebleu and divided by 100. The figure returned
is the MEAN OF THE PER-EXAMPLE SCORES, not sacrebleu's corpus chrF (which pools n-gram counts
over all examples first), so that each example carries the same weight and the per-example
scores can be bootstrapped and compared pairwise.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: generated texts.
    references: one gold text per prediction.
    word_order: word n-gram order (default 0: chrF; 2 gives chrF++).
Returns:
    chrf (float, the mean of the per-example scores, 0-1), scores ([float] per example, 0-1),
    n (int).
Examples:
    >>> m = evaluate.load("evaluators/metrics/chrf")
    >>> m.compute(predictions=["abc"], references=["abc"])["chrf"]
    1.0
"""


class Chrf(evaluate.Metric):  # type: ignore[misc]
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Popovic, M. (2015). chrF: character n-gram F-score for automatic MT evaluation.",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions: list[str], references: list[str], word_order: int = 0) -> dict[str, Any]:
        if len(predictions) != len(references):
            raise ValueError("predictions and references differ in length")
        if not references:
            raise ValueError("no predictions to score")
        chrf = CHRF(word_order=word_order)
        scores = [
            chrf.sentence_score(pred, [ref]).score / 100
            for pred, ref in zip(predictions, references, strict=True)
        ]
        return {"chrf": sum(scores) / len(scores), "scores": scores, "n": len(scores)}
