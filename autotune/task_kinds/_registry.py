"""The two registries, in code: task kinds by name and metrics by name, each refusing a duplicate.

Both are read at use time (``TASK_KINDS`` and ``METRICS`` are live, read-only views), so a kind or
metric a plug-in registers after autotune is imported is known to the space schema, the runner
and the report alike. A task kind brings its own metrics with it; ``register_metric`` adds one
that no kind declares (a figure every kind measures, or one more of a kind's). ``unregister_*``
undo a registration (a test's fixture, a plug-in unloaded).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import get_args

from ._base import TaskKind
from .metric_spec import Aggregation, MetricSpec, Source

__all__ = [
    "METRICS",
    "TASK_KINDS",
    "get_task_kind",
    "register_metric",
    "register_task_kind",
    "unregister_metric",
    "unregister_task_kind",
]

_KINDS: dict[str, TaskKind] = {}
_METRICS: dict[str, MetricSpec] = {}
_OWNER: dict[str, str] = {}  # metric name -> the task kind that declares it ("" for register_metric)

TASK_KINDS: Mapping[str, TaskKind] = MappingProxyType(_KINDS)
METRICS: Mapping[str, MetricSpec] = MappingProxyType(_METRICS)

# A name a space file writes (task: NAME, metric: NAME): lower case, digits and "_".
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _owned_by(name: str) -> str:
    owner = _OWNER.get(name)
    return f"task kind {owner!r}" if owner else "register_metric"


def _check_metric(m: MetricSpec, what: str) -> None:
    """A ValueError naming ``what`` for a malformed metric, or one whose name is taken."""
    if not isinstance(m, MetricSpec):
        raise ValueError(f"{what}: expected a MetricSpec, got {type(m).__name__}")
    if not _NAME.match(m.name):
        raise ValueError(f"{what}: metric name {m.name!r} must be lower case letters, digits and '_'")
    if m.name in _METRICS:
        raise ValueError(f"{what}: metric {m.name!r} is registered twice (first by {_owned_by(m.name)})")
    if m.source not in get_args(Source):
        raise ValueError(f"{what}: metric {m.name!r} has source {m.source!r}; known: {get_args(Source)}")
    if m.aggregation not in get_args(Aggregation):
        raise ValueError(f"{what}: metric {m.name!r} has aggregation {m.aggregation!r}")
    if m.direction not in ("maximize", "minimize"):
        raise ValueError(f"{what}: metric {m.name!r} has direction {m.direction!r}")


def register_metric(spec: MetricSpec) -> MetricSpec:
    """Add a metric that no task kind declares (``spec.kinds``: the registered kinds that measure
    it, None for every kind); a second metric of that name is refused. Its ``source`` and ``key``
    say which evaluator output it is read from."""
    _check_metric(spec, "register_metric")
    unknown = sorted(set(spec.kinds or ()) - set(_KINDS))
    if unknown:
        raise ValueError(
            f"register_metric: metric {spec.name!r} names task kind(s) {unknown} that are not registered "
            f"(known: {', '.join(_KINDS)}); register the kind first"
        )
    _METRICS[spec.name], _OWNER[spec.name] = spec, ""
    return spec


def unregister_metric(name: str) -> MetricSpec:
    """Remove a metric ``register_metric`` added (a kind's own go with ``unregister_task_kind``)."""
    if name not in _METRICS:
        raise ValueError(f"metric {name!r} is not registered")
    if _OWNER[name]:
        raise ValueError(f"metric {name!r} belongs to task kind {_OWNER[name]!r}: unregister the kind")
    del _OWNER[name]
    return _METRICS.pop(name)


def register_task_kind(kind: TaskKind) -> TaskKind:
    """Add ``kind`` and its metrics under its name; a second kind of that name, or a metric
    name already taken, is refused (nothing is registered then)."""
    if not isinstance(kind, TaskKind):
        raise ValueError(f"register_task_kind: expected a TaskKind instance, got {type(kind).__name__}")
    name = kind.name
    if not _NAME.match(name):
        raise ValueError(f"task kind name {name!r} must be lower case letters, digits and '_'")
    if name in _KINDS:
        raise ValueError(f"task kind {name!r} is registered twice")
    own = {m.name: m for m in kind.metrics}
    if len(own) != len(kind.metrics):
        raise ValueError(f"task kind {name!r} declares a metric twice")
    missing = [m for m in (kind.quality, kind.gate, kind.confirm, *kind.gated) if m not in own]
    if missing:
        raise ValueError(f"task kind {name!r} names metrics it does not declare: {missing}")
    for m in own.values():
        _check_metric(m, f"task kind {name!r}")
        if m.kinds is None or name not in m.kinds:
            raise ValueError(
                f"task kind {name!r}: its metric {m.name!r} must say kinds=frozenset({{{name!r}}})"
            )
    for role, metric, source in (
        ("quality", kind.quality, "eval-onnx"),
        ("gate", kind.gate, "eval-torch"),
        ("confirm", kind.confirm, "eval-confirm"),
    ):
        if own[metric].source != source:
            raise ValueError(f"task kind {name!r}: its {role} metric {metric!r} must have source {source!r}")
    for role, metric in (("gate", kind.gate), ("confirm", kind.confirm)):  # read with their intervals
        if f"{metric}_low" not in own or f"{metric}_high" not in own:
            raise ValueError(
                f"task kind {name!r}: its {role} metric {metric!r} needs its 95% interval's ends "
                f"({metric}_low, {metric}_high; see metric_spec.interval)"
            )
    if own[kind.confirm].searchable:
        raise ValueError(f"task kind {name!r}: its confirm metric {kind.confirm!r} must not be searchable")
    _KINDS[name] = kind
    for m in own.values():
        _METRICS[m.name], _OWNER[m.name] = m, name
    return kind


def unregister_task_kind(name: str) -> TaskKind:
    """Remove the kind ``name`` and its own metrics; refused while a metric ``register_metric``
    added names it."""
    kind = get_task_kind(name)
    others = sorted(m.name for m in _METRICS.values() if not _OWNER[m.name] and name in (m.kinds or ()))
    if others:
        raise ValueError(f"task kind {name!r} is measured by metric(s) {others}: unregister them first")
    for m in kind.metrics:
        del _METRICS[m.name], _OWNER[m.name]
    return _KINDS.pop(name)


def get_task_kind(name: str) -> TaskKind:
    """The kind called ``name``; a ValueError naming the known ones otherwise."""
    try:
        return _KINDS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; known: {', '.join(_KINDS)}") from None
