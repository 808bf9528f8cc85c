"""Task kinds (what a fine-tune must do) and the metrics that measure them, by name: one registry
of each in code, refusing duplicates, read at use time. A plug-in registers a kind with
``register_task_kind`` and a metric with ``register_metric``; nothing else changes."""

from ._base import AnswerSettings, EvaluationSettings, Panel, PerExample, TaskKind
from ._registry import (
    METRICS,
    TASK_KINDS,
    get_task_kind,
    register_metric,
    register_task_kind,
    unregister_metric,
    unregister_task_kind,
)
from .classification import Classification
from .generation import Generation
from .metric_spec import MetricSpec, interval
from .shared import SHARED_METRICS

__all__ = [
    "METRICS",
    "TASK_KINDS",
    "AnswerSettings",
    "Classification",
    "EvaluationSettings",
    "Generation",
    "MetricSpec",
    "Panel",
    "PerExample",
    "TaskKind",
    "get_task_kind",
    "interval",
    "register_metric",
    "register_task_kind",
    "unregister_metric",
    "unregister_task_kind",
]

for _metric in SHARED_METRICS:
    register_metric(_metric)
for _kind in (Classification(), Generation()):
    register_task_kind(_kind)
