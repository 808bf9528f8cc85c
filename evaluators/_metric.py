"""Load the label-accuracy metric shipped in this package, by path, without network."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

METRIC_DIR = Path(__file__).resolve().parent / "metrics" / "label_accuracy"


def label_accuracy(
    predictions: Sequence[str] | Sequence[int],
    references: Sequence[str] | Sequence[int],
    labels: Sequence[str] | Sequence[int] | None = None,
) -> dict[str, Any]:
    """Accuracy, per-label recall and confusion matrix (rows = gold, columns = predicted).

    ``evaluate`` is imported here, not at module import, so that its cache folders follow
    HF_HOME / HF_MODULES_CACHE as set when the metric is first needed.
    """
    import evaluate  # type: ignore[import-untyped]

    metric = evaluate.load(str(METRIC_DIR), keep_in_memory=True)
    result = metric.compute(
        predictions=list(predictions),
        references=list(references),
        labels=None if labels is None else list(labels),
    )
    if result is None:
        raise RuntimeError("label_accuracy metric returned nothing")
    return dict(result)
