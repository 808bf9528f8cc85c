"""Evaluators by name: one registry in code that refuses duplicates and unknown names."""

from __future__ import annotations

from typing import Any

from ._base import Evaluator
from .accuracy import AccuracyEvaluator
from .answer_likelihood import AnswerLikelihoodEvaluator
from .generation import GenerationEvaluator
from .generation_latency import GenerationLatencyEvaluator
from .latency import LatencyEvaluator
from .size import SizeEvaluator

_REGISTRY: dict[str, type[Evaluator]] = {}


def register_evaluator(cls: type[Evaluator]) -> type[Evaluator]:
    """Add an evaluator class under its ``name``; a second class with that name is refused."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{cls.__qualname__} has no string class attribute 'name'")
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ValueError(f"evaluator name {name!r} is already taken by {_REGISTRY[name].__qualname__}")
    _REGISTRY[name] = cls
    return cls


def evaluator_names() -> list[str]:
    """Names of the registered evaluators, sorted."""
    return sorted(_REGISTRY)


def get_evaluator(name: str, **kwargs: Any) -> Evaluator:
    """A new evaluator of the class registered as ``name``, built with ``kwargs``."""
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown evaluator {name!r}; known evaluators: {', '.join(evaluator_names())}"
        ) from None
    return cls(**kwargs)


for _cls in (
    AccuracyEvaluator,
    AnswerLikelihoodEvaluator,
    GenerationEvaluator,
    GenerationLatencyEvaluator,
    LatencyEvaluator,
    SizeEvaluator,
):
    register_evaluator(_cls)
