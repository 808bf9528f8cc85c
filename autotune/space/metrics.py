"""Every metric a trial reports, declared once: name, unit, direction and who measures it.

The metrics every task kind shares (latency, memory, size) are declared here; each task kind
declares its own (accuracy, ROUGE-L, ...) next to its code in ``autotune.task_kinds``, and this
registry collects them all. The space schema (which metrics an objective, constraint or
preference may name), the runner (which evaluator output becomes which metric), the report
(better-is-higher, units) and the Olive goal mapping read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from autotune.task_kinds import TASK_KINDS
from autotune.task_kinds.metric_spec import MetricSpec, Source

__all__ = [
    "METRICS",
    "MetricSpec",
    "collect",
    "get_metric",
    "higher_is_better",
    "olive_metric",
    "olive_pairs",
    "searchable_metrics",
]

_COMMON: list[MetricSpec] = [
    MetricSpec(
        "latency_p50_ms", "ms", "minimize", "latency", "p50_ms",
        "median time per request (what the task kind's request does: the prompt's prefill, then "
        "scoring the labels or generating the answer)",
        olive=(("latency", "p50"),), aggregation="quantile",
    ),
    MetricSpec(
        "latency_p90_ms", "ms", "minimize", "latency", "p90_ms",
        "90th percentile time per request (the prompt's prefill, then scoring the labels or "
        "generating the answer)",
        olive=(("latency", "p90"),), aggregation="quantile",
    ),
    MetricSpec(
        "latency_mean_ms", "ms", "minimize", "latency", "mean_ms", "mean time per request",
        olive=(("latency", "avg"), ("latency", "mean")),
    ),
    MetricSpec(
        "prefill_tokens_per_s", "tokens/s", "maximize", "latency", "prefill_tokens_per_s",
        "prompt tokens per second of the prefill",
    ),
    MetricSpec(
        "peak_rss_mb", "MB", "minimize", "latency", "peak_rss_mb",
        "peak resident memory of the inference session's process",
    ),
    MetricSpec("size_mb", "MB", "minimize", "size", "size_mb", "model folder size on disk"),
]  # fmt: skip

METRICS: dict[str, MetricSpec] = {}
for _m in [*_COMMON, *(m for kind in TASK_KINDS.values() for m in kind.metrics)]:
    if _m.name in METRICS:
        raise ValueError(f"metric {_m.name!r} is declared twice")
    METRICS[_m.name] = _m

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


def collect(source: Source, output: Mapping[str, Any]) -> dict[str, float]:
    """The metrics that ``source``'s output provides, by name."""
    out = {}
    for m in METRICS.values():
        if m.source == source:
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
