"""Exact match after SQuAD's answer normalisation, per example (0 or 1), and their mean.

An ``evaluate`` metric module loaded by path (``evaluate.load(dir)``), so it works offline.
Keep one import per line: ``evaluate`` parses this file's imports.
"""

import re
import string
from typing import Any

import datasets
import evaluate

_DESCRIPTION = """
1.0 where the normalised prediction equals the normalised reference, else 0.0. Normalised as
SQuAD v1.1's evaluation script does (Rajpurkar et al. 2016): lowercased, ASCII punctuation
removed, the articles a/an/the removed, whitespace collapsed to single spaces.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: generated texts.
    references: one gold text per prediction.
Returns:
    exact_match (float, the fraction that match), scores ([0.0 or 1.0] per example), n (int).
Examples:
    >>> m = evaluate.load("evaluators/metrics/exact_match")
    >>> m.compute(predictions=["The Paris."], references=["paris"])["exact_match"]
    1.0
"""

_PUNCTUATION = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """SQuAD v1.1's normalize_answer."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


class ExactMatch(evaluate.Metric):  # type: ignore[misc]
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Rajpurkar, P. et al. (2016). SQuAD: 100,000+ Questions for Machine Comprehension.",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions: list[str], references: list[str]) -> dict[str, Any]:
        if len(predictions) != len(references):
            raise ValueError("predictions and references differ in length")
        if not references:
            raise ValueError("no predictions to score")
        scores = [
            float(normalize_answer(pred) == normalize_answer(ref))
            for pred, ref in zip(predictions, references, strict=True)
        ]
        return {"exact_match": sum(scores) / len(scores), "scores": scores, "n": len(scores)}
