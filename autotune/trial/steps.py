"""What a trial does, step by step, and how each step is recorded.

A step is a pass of the trial's chain (a resumable pass stopped at a fidelity rung, short of its
budget, is a step of its own) or a measurement of the model made so far. Its name (``lora``,
``lora@20``, ``merge``, ``eval-torch``) is what the trial's ``steps`` user attribute, the progress
lines and the report show; code asks a ``Step`` what it is instead of matching its name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

__all__ = [
    "EVAL_CONFIRM",
    "EVAL_LATENCY",
    "EVAL_ONNX",
    "EVAL_TORCH",
    "Step",
    "StepKind",
    "StepRecord",
    "built_model_key",
]


class StepKind(Enum):
    """What a step does. A measurement's value is its name, and its cache folder when cached."""

    PASS = "pass"  # a pass of the chain: its name is the pass's
    EVAL_TORCH = "eval-torch"  # the merged PyTorch model on the search split: the gate, the rungs
    EVAL_ONNX = "eval-onnx"  # the built model's quality on the search split
    EVAL_LATENCY = "eval-latency"  # the built model's latency and size (measured each time)
    EVAL_CONFIRM = "eval-confirm"  # the built model's quality on the confirm split, after the search


@dataclass(frozen=True)
class Step:
    """One step of a trial: a pass (``pass_name``, stopped at ``rung`` when that is set) or a
    measurement (no pass, no rung)."""

    kind: StepKind
    pass_name: str | None = None
    rung: int | None = None

    def __post_init__(self) -> None:
        if self.is_pass != (self.pass_name is not None) or (self.rung is not None and not self.is_pass):
            raise ValueError(f"a {self.kind.value} step with pass {self.pass_name!r} and rung {self.rung}")

    @classmethod
    def of_pass(cls, name: str, rung: int | None = None) -> Step:
        """Pass ``name``'s step, its whole run or its run stopped at ``rung``."""
        return cls(StepKind.PASS, name, rung)

    @classmethod
    def parse(cls, name: str) -> Step:
        """The step a recorded name stands for."""
        for kind in StepKind:
            if kind is not StepKind.PASS and name == kind.value:
                return cls(kind)
        pass_name, at, rung = name.partition("@")
        return cls.of_pass(pass_name, int(rung) if at else None)

    @property
    def is_pass(self) -> bool:
        return self.kind is StepKind.PASS

    @property
    def cache_folder(self) -> str:
        """The cache's folder of the step's entries: the pass's (every rung of it shares it), or
        the measurement's."""
        return self.pass_name if self.pass_name is not None else self.kind.value

    @property
    def name(self) -> str:
        if self.pass_name is None:
            return self.kind.value
        return self.pass_name if self.rung is None else f"{self.pass_name}@{self.rung}"


EVAL_TORCH = Step(StepKind.EVAL_TORCH)
EVAL_ONNX = Step(StepKind.EVAL_ONNX)
EVAL_LATENCY = Step(StepKind.EVAL_LATENCY)
EVAL_CONFIRM = Step(StepKind.EVAL_CONFIRM)


@dataclass(frozen=True)
class StepRecord:
    """A step as a trial ran it: its cache key ("" when not cached), its seconds, whether its
    output came from the cache."""

    step: Step
    key: str
    seconds: float
    cache_hit: bool

    @property
    def name(self) -> str:
        return self.step.name

    def to_attr(self) -> dict[str, Any]:
        """The record in the trial's ``steps`` user attribute (reports and resumes read it)."""
        return {"name": self.step.name, "key": self.key, "seconds": self.seconds, "cache_hit": self.cache_hit}

    @classmethod
    def from_attr(cls, attr: Mapping[str, Any]) -> StepRecord:
        return cls(
            Step.parse(str(attr["name"])), str(attr["key"]), float(attr["seconds"]), bool(attr["cache_hit"])
        )


def built_model_key(steps: Iterable[Mapping[str, Any]]) -> str:
    """The cache key of the model a trial's recorded ``steps`` made: its last pass's."""
    return [r.key for r in map(StepRecord.from_attr, steps) if r.step.is_pass][-1]
