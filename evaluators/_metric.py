"""Load the metrics shipped in this package (``metrics/<name>/``), by path, without network."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

METRICS = Path(__file__).resolve().parent / "metrics"
METRIC_DIR = METRICS / "label_accuracy"

TextMetric = Literal["rouge_l", "chrf", "exact_match"]


def _compute(name: str, **inputs: Any) -> dict[str, Any]:
    """``evaluate.load(metrics/<name>).compute(**inputs)``.

    ``evaluate`` is imported here, not at module import, so that its cache folders follow
    HF_HOME / HF_MODULES_CACHE as set when the metric is first needed.
    """
    import evaluate  # type: ignore[import-untyped]

    metric = evaluate.load(str(METRICS / name), keep_in_memory=True)
    result = metric.compute(**inputs)
    if result is None:
        raise RuntimeError(f"{name} metric returned nothing")
    return dict(result)


def label_accuracy(
    predictions: Sequence[str] | Sequence[int],
    references: Sequence[str] | Sequence[int],
    labels: Sequence[str] | Sequence[int] | None = None,
) -> dict[str, Any]:
    """Accuracy, per-label recall and confusion matrix (rows = gold, columns = predicted)."""
    return _compute(
        "label_accuracy",
        predictions=list(predictions),
        references=list(references),
        labels=None if labels is None else list(labels),
    )


def text_scores(name: TextMetric, predictions: Sequence[str], references: Sequence[str]) -> list[float]:
    """Per-example scores (0-1) of ``predictions`` against ``references`` by a text metric:
    "rouge_l" (ROUGE-L F-measure), "chrf" (sentence chrF / 100) or "exact_match" (SQuAD
    normalisation). The metric's mean is the mean of these."""
    result = _compute(name, predictions=list(predictions), references=list(references))
    return [float(s) for s in result["scores"]]
