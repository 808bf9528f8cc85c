"""Accuracy, per-label recall and confusion matrix over string labels or label indices.

An ``evaluate`` metric module loaded by path (``evaluate.load(dir)``), so it works offline.
Keep one import per line: ``evaluate`` parses this file's imports.
"""

from typing import Any

import datasets
import evaluate

_DESCRIPTION = """
Fraction of predictions equal to the reference, recall of each label (None for a label
with no reference examples) and the confusion matrix (rows = reference, columns = prediction).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: predicted labels (str) or label indices (int).
    references: gold labels of the same type.
    labels: optional order of the labels in the confusion matrix; defaults to the sorted
        union of predictions and references. Labels outside it are an error.
Returns:
    accuracy (float), n (int), per_label_recall ({label: float | None}),
    confusion ({"labels": [...], "matrix": [[int]]}).
Examples:
    >>> m = evaluate.load("evaluators/metrics/label_accuracy")
    >>> m.compute(predictions=["a", "b"], references=["a", "a"])["accuracy"]
    0.5
"""


def _features(dtype: str) -> datasets.Features:
    return datasets.Features({"predictions": datasets.Value(dtype), "references": datasets.Value(dtype)})


class LabelAccuracy(evaluate.Metric):  # type: ignore[misc]
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=[_features("string"), _features("int64")],
        )

    def _compute(
        self,
        predictions: list[Any],
        references: list[Any],
        labels: list[Any] | None = None,
    ) -> dict[str, Any]:
        if len(predictions) != len(references):
            raise ValueError("predictions and references differ in length")
        if not references:
            raise ValueError("no predictions to score")
        order = list(labels) if labels is not None else sorted(set(predictions) | set(references))
        index = {label: i for i, label in enumerate(order)}
        if len(index) != len(order):
            raise ValueError(f"labels must be distinct: {order!r}")
        outside = sorted({str(x) for x in (*predictions, *references) if x not in index})
        if outside:
            raise ValueError(f"labels {outside} are not in the label order {order!r}")
        matrix = [[0] * len(order) for _ in order]
        for pred, ref in zip(predictions, references, strict=True):
            matrix[index[ref]][index[pred]] += 1
        correct = sum(matrix[i][i] for i in range(len(order)))
        recall: dict[Any, float | None] = {}
        for i, label in enumerate(order):
            support = sum(matrix[i])
            recall[label] = matrix[i][i] / support if support else None
        return {
            "accuracy": correct / len(references),
            "n": len(references),
            "per_label_recall": recall,
            "confusion": {"labels": order, "matrix": matrix},
        }
