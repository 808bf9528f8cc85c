"""Olive metrics and goals -> autotune objectives and constraints.

Relative goals (min-improvement, max-degradation and their percent forms) are resolved against a
measurement of the input model, as Olive does: its PyTorch accuracy on the eval split and its
PyTorch eager latency per request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from autotune.olive._read import OliveConfigError
from autotune.space.metrics import higher_is_better, olive_metric, olive_pairs

__all__ = ["needs_baseline", "resolve_goals"]

_RELATIVE = ("min-improvement", "max-degradation", "percent-min-improvement", "percent-max-degradation")


def _entries(metrics: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], str]]:
    out = []
    for i, m in enumerate(metrics):
        mtype = str(m.get("type", "")).lower()
        for j, sub in enumerate(
            m.get("sub_types") or [{"name": "accuracy_score" if mtype == "accuracy" else "avg"}]
        ):
            key = f"metrics[{i}] ({m.get('name', mtype)}).sub_types[{j}]"
            metric = olive_metric(mtype, str(sub.get("name", "")).lower())
            if metric is None:
                known = ", ".join(f"{t}/{s}" for t, s in olive_pairs())
                raise OliveConfigError(
                    f"{key}: {mtype}/{sub.get('name')} is not measured; use one of {known}"
                )
            out.append((key, sub, metric))
    return out


def needs_baseline(metrics: list[dict[str, Any]]) -> set[str]:
    """The metrics whose goals are relative to the input model."""
    return {
        metric
        for _, sub, metric in _entries(metrics)
        if str((sub.get("goal") or {}).get("type", "")) in _RELATIVE
    }


def resolve_goals(metrics: list[dict[str, Any]], baseline: Callable[[str], float]) -> list[dict[str, Any]]:
    """One goal per sub-type, in priority order: {metric, direction, [op, value]}."""
    goals = []
    for key, sub, metric in sorted(_entries(metrics), key=lambda e: e[1].get("priority", 99)):
        higher = bool(sub.get("higher_is_better", higher_is_better(metric)))
        goal: dict[str, Any] = {"metric": metric, "direction": "maximize" if higher else "minimize"}
        spec = sub.get("goal")
        if spec:
            kind, v = str(spec.get("type")), float(spec.get("value", 0))
            if kind == "threshold":
                bound = v
            elif kind in _RELATIVE:
                base = baseline(metric)
                delta = base * v / 100 if kind.startswith("percent") else v
                improve = kind.endswith("min-improvement")
                bound = base + delta if improve == higher else base - delta
                goal["baseline"] = base
            else:
                raise OliveConfigError(
                    f"{key}.goal.type: {kind!r}; use threshold or one of {', '.join(_RELATIVE)}"
                )
            goal.update(op=">=" if higher else "<=", value=round(bound, 6), olive_goal=spec)
        goals.append(goal)
    return goals
