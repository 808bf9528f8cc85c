"""One registry of passes, in code, refusing duplicates."""

from __future__ import annotations

from autotune.errors import SpaceError
from autotune.passes._base import Pass

_PASSES: dict[str, type[Pass]] = {}

__all__ = ["get_pass", "pass_names", "register_pass"]


def register_pass(cls: type[Pass]) -> type[Pass]:
    if cls.name in _PASSES:
        raise ValueError(f"pass {cls.name!r} is already registered by {_PASSES[cls.name]!r}")
    names = [p.name for p in cls.params]
    if len(names) != len(set(names)):
        raise ValueError(f"pass {cls.name!r} declares a parameter twice")
    _PASSES[cls.name] = cls
    return cls


def get_pass(name: str) -> type[Pass]:
    try:
        return _PASSES[name]
    except KeyError:
        raise SpaceError(f"unknown pass {name!r}; known passes: {', '.join(sorted(_PASSES))}") from None


def pass_names() -> list[str]:
    return sorted(_PASSES)
