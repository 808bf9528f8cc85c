"""Every metric a trial reports, declared once: name, unit, direction and who measures it.

The space schema (which metrics an objective, constraint or preference may name), the runner
(which evaluator output becomes which metric), the report (better-is-higher, units) and the Olive
goal mapping all read this registry. A new metric is one entry here and the evaluator that
produces it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

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

Source = Literal["eval-onnx", "eval-torch", "eval-confirm", "latency", "size"]


@dataclass(frozen=True)
class MetricSpec:
    """One metric: ``key`` (and ``index`` into a list value) picks it from its source's output."""

    name: str
    unit: str
    direction: Literal["maximize", "minimize"]
    source: Source
    key: str
    description: str
    index: int | None = None
    # False for figures the search must never see (the confirm split): not an objective,
    # constraint or preference.
    searchable: bool = True
    olive: tuple[tuple[str, str], ...] = ()  # Olive (metric type, sub_type) pairs that mean it
    # The trial detail holding per-example correctness ("0110..."), for paired comparisons.
    paired: str | None = None

    def pick(self, output: Mapping[str, Any]) -> float | None:
        value = output.get(self.key)
        if value is not None and self.index is not None:
            value = value[self.index]
        return None if value is None else float(value)


def _accuracy(prefix: str, source: Source, split: str, searchable: bool, **kw: Any) -> list[MetricSpec]:
    what = f"accuracy of the {split}"
    return [
        MetricSpec(
            prefix, "fraction", "maximize", source, "accuracy", what, searchable=searchable, **kw
        ),
        MetricSpec(
            f"{prefix}_low", "fraction", "maximize", source, "accuracy_ci95",
            f"lower end of the 95% Wilson interval of the {what}", 0, searchable,
        ),
        MetricSpec(
            f"{prefix}_high", "fraction", "maximize", source, "accuracy_ci95",
            f"upper end of the 95% Wilson interval of the {what}", 1, searchable,
        ),
    ]  # fmt: skip


_ALL: list[MetricSpec] = [
    *_accuracy(
        "accuracy",
        "eval-onnx",
        "built ONNX model on the search split (ONNX Runtime GenAI)",
        True,
        olive=(("accuracy", "accuracy_score"), ("accuracy", "accuracy")),
        paired="correct",
    ),
    *_accuracy(
        "torch_accuracy",
        "eval-torch",
        "merged PyTorch model on the search split",
        True,
        paired="torch_correct",
    ),
    *_accuracy("confirm_accuracy", "eval-confirm", "built ONNX model on the confirm split", False),
    MetricSpec(
        "label_margin",
        "log-prob",
        "maximize",
        "eval-onnx",
        "margin_mean",
        "mean log-probability margin of the chosen label over the runner-up (search split)",
    ),
    MetricSpec(
        "latency_p50_ms", "ms", "minimize", "latency", "p50_ms",
        "median time per request (prompt prefill + scoring the labels)",
        olive=(("latency", "p50"),),
    ),
    MetricSpec(
        "latency_p90_ms", "ms", "minimize", "latency", "p90_ms",
        "90th percentile time per request (prompt prefill + scoring the labels)",
        olive=(("latency", "p90"),),
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
        "decode_passes_per_s", "passes/s", "maximize", "latency", "decode_passes_per_s",
        "forward passes per second after the prefill (passes actually run, not tokens counted)",
    ),
    MetricSpec(
        "peak_rss_mb", "MB", "minimize", "latency", "peak_rss_mb",
        "peak resident memory of the inference session's process",
    ),
    MetricSpec("size_mb", "MB", "minimize", "size", "size_mb", "model folder size on disk"),
]  # fmt: skip

METRICS: dict[str, MetricSpec] = {}
for _m in _ALL:
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


def searchable_metrics() -> list[str]:
    """Metrics an objective, constraint or preference may name."""
    return [m.name for m in METRICS.values() if m.searchable]


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
