"""ROUGE-L F-measure of each prediction against its reference, and their mean.

An ``evaluate`` metric module loaded by path (``evaluate.load(dir)``), so it works offline.
Keep one import per line: ``evaluate`` parses this file's imports.
"""

from typing import Any

import datasets
import evaluate
from rouge_score import rouge_scorer

_DESCRIPTION = """
ROUGE-L (Lin 2004): the F-measure of the longest common subsequence of words between a
prediction and its reference, computed by Google's rouge_score (lowercased, words are runs of
letters and digits; no stemming unless asked). 0 when either side has no words.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: generated texts.
    references: one gold text per prediction.
    use_stemmer: apply the Porter stemmer to words first (default False).
Returns:
    rouge_l (float, the mean of the per-example scores), scores ([float] per example), n (int).
Examples:
    >>> m = evaluate.load("evaluators/metrics/rouge_l")
    >>> m.compute(predictions=["the cat sat"], references=["the cat sat on"])["rouge_l"]
    0.8571428571428571
"""


class RougeL(evaluate.Metric):  # type: ignore[misc]
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Lin, C.-Y. (2004). ROUGE: A Package for Automatic Evaluation of Summaries.",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(
        self, predictions: list[str], references: list[str], use_stemmer: bool = False
    ) -> dict[str, Any]:
        if len(predictions) != len(references):
            raise ValueError("predictions and references differ in length")
        if not references:
            raise ValueError("no predictions to score")
        scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=use_stemmer)
        scores = [
            scorer.score(ref, pred)["rougeL"].fmeasure
            for pred, ref in zip(predictions, references, strict=True)
        ]
        return {"rouge_l": sum(scores) / len(scores), "scores": scores, "n": len(scores)}
