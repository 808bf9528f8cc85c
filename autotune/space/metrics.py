"""The metric registry as the rest of autotune reads it: name, unit, direction and who measures it.

Every metric is registered once, in ``autotune.task_kinds``: the metrics every kind shares
(latency, memory, size: ``task_kinds/shared.py``), each kind's own (accuracy, ROUGE-L, ...) next
to its code, and any a plug-in adds with ``register_metric``. Nothing here is frozen at import:
each function reads the registry when called. The space schema (which metrics an objective,
constraint or preference may name), the runner (which evaluator output becomes which metric),
the report (better-is-higher, units) and the Olive goal mapping read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from autotune.task_kinds import METRICS, register_metric, unregister_metric
from autotune.task_kinds.metric_spec import MetricSpec, Source

__all__ = [
    "METRICS",
    "RENAMED",
    "MetricSpec",
    "collect",
    "get_metric",
    "higher_is_better",
    "olive_metric",
    "olive_pairs",
    "register_metric",
    "searchable_metrics",
    "unregister_metric",
]

# Names a space may still carry from older versions, and why they went.
RENAMED = {
    "decode_tokens_per_s": "decode_passes_per_s (it counted a token that costs no forward pass)",
    "prompt_tokens_per_s": "prefill_tokens_per_s",
}


def get_metric(name: str) -> MetricSpec:
    """The metric called ``name``; a ValueError naming the known ones otherwise."""
    try:
        return METRICS[name]
    except KeyError:
        if name in RENAMED:
            raise ValueError(f"metric {name!r} was renamed: use {RENAMED[name]}") from None
        raise ValueError(f"unknown metric {name!r}; known: {', '.join(searchable_metrics())}") from None


def searchable_metrics(kind: str | None = None) -> list[str]:
    """Metrics an objective, constraint or preference may name (of the task ``kind``: all kinds
    when None)."""
    return [m.name for m in METRICS.values() if m.searchable and (kind is None or m.measured_by(kind))]


def higher_is_better(name: str) -> bool:
    return get_metric(name).direction == "maximize"


def collect(source: Source, output: Mapping[str, Any], kind: str | None = None) -> dict[str, float]:
    """The metrics that ``source``'s output provides, by name (only those the task ``kind``
    measures, when given: an output key another kind reads is not its metric)."""
    out = {}
    for m in METRICS.values():
        if m.source == source and (kind is None or m.measured_by(kind)):
            value = m.pick(output)
            if value is not None:
                out[m.name] = value
    return out


def olive_pairs() -> list[tuple[str, str]]:
    """Every Olive (type, sub_type) pair autotune measures."""
    return [pair for m in METRICS.values() for pair in m.olive]


def olive_metric(mtype: str, sub_type: str) -> str | None:
    """The metric an Olive (type, sub_type) pair means, if autotune measures it."""
    for m in METRICS.values():
        if (mtype, sub_type) in m.olive:
            return m.name
    return None
