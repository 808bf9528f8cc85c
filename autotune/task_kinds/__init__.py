"""Task kinds (what a fine-tune must do) by name: one registry in code that refuses duplicates."""

from ._base import EvaluationSettings, PerExample, TaskKind
from .classification import Classification
from .generation import Generation

__all__ = [
    "TASK_KINDS",
    "EvaluationSettings",
    "PerExample",
    "TaskKind",
    "get_task_kind",
    "register_task_kind",
]

TASK_KINDS: dict[str, TaskKind] = {}


def register_task_kind(kind: TaskKind) -> TaskKind:
    """Add ``kind`` under its name; a second kind of that name is refused."""
    if kind.name in TASK_KINDS:
        raise ValueError(f"task kind {kind.name!r} is registered twice")
    own = {m.name for m in kind.metrics}
    missing = [m for m in (kind.quality, kind.gate, kind.confirm, *kind.gated) if m not in own]
    if missing:
        raise ValueError(f"task kind {kind.name!r} names metrics it does not declare: {missing}")
    TASK_KINDS[kind.name] = kind
    return kind


def get_task_kind(name: str) -> TaskKind:
    """The kind called ``name``; a ValueError naming the known ones otherwise."""
    try:
        return TASK_KINDS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; known: {', '.join(TASK_KINDS)}") from None


for _kind in (Classification(), Generation()):
    register_task_kind(_kind)
