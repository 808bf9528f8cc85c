"""The metrics every task kind measures: per-request latency, memory and size on disk.

Registered before the built-in kinds (``autotune.task_kinds``), so that a kind or a plug-in's
metric of the same name is refused where it is registered.
"""

from __future__ import annotations

from .metric_spec import MetricSpec

__all__ = ["SHARED_METRICS"]

SHARED_METRICS: tuple[MetricSpec, ...] = (
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
)  # fmt: skip
