"""The record a metric is declared with: name, unit, direction, aggregation and who measures it.

Kept apart from the registry (``autotune.space.metrics``) so that a task kind declares its own metrics
next to its code without importing the registry that collects them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Aggregation", "MetricSpec", "Source", "interval"]

Source = Literal["eval-onnx", "eval-torch", "eval-confirm", "latency", "size"]
# proportion: a share of 0/1 outcomes (Wilson interval, exact paired test); mean: the mean of
# per-example scores (bootstrap interval, paired bootstrap); quantile/value: a measured figure.
Aggregation = Literal["proportion", "mean", "quantile", "value"]


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
    # The trial detail holding per-example outcomes for paired comparisons: "0110..." for a
    # proportion, a list of floats for a mean.
    paired: str | None = None
    aggregation: Aggregation = "value"
    # The task kinds that measure it (autotune.task_kinds); None: every kind.
    kinds: frozenset[str] | None = None

    def pick(self, output: Mapping[str, Any]) -> float | None:
        value = output.get(self.key)
        if value is not None and self.index is not None:
            value = value[self.index]
        return None if value is None else float(value)

    def measured_by(self, kind: str) -> bool:
        return self.kinds is None or kind in self.kinds


def interval(
    prefix: str, unit: str, source: Source, key: str, what: str, searchable: bool, how: str, **kw: Any
) -> list[MetricSpec]:
    """A metric with the two ends of its 95% interval (``key`` and ``key_ci95`` in the output)."""
    agg = kw.pop("aggregation", "mean")
    return [
        MetricSpec(prefix, unit, "maximize", source, key, what, searchable=searchable, aggregation=agg, **kw),
        *(
            MetricSpec(
                f"{prefix}_{end}", unit, "maximize", source, f"{key}_ci95",
                f"{word} end of the 95% {how} interval of the {what}", i, searchable, aggregation=agg,
                kinds=kw.get("kinds"),
            )
            for i, (end, word) in enumerate((("low", "lower"), ("high", "upper")))
        ),
    ]  # fmt: skip
