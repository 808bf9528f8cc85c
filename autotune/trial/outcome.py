"""What running a trial's plan gives the study loop: its state, metrics, details and steps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from autotune.task_kinds import PerExample
from autotune.trial.steps import StepRecord

__all__ = ["Promote", "RungRecord", "State", "TrialOutcome"]

State = Literal["complete", "pruned", "failed"]
# (rung, the kind's PyTorch gate metric there, its per-example outcomes) -> (go on?, why):
# multi-fidelity promotion
Promote = Callable[[int, float, PerExample], tuple[bool, str]]


@dataclass(frozen=True)
class RungRecord:
    """A resumable pass judged at a fidelity rung: ``budget`` names its budget parameter
    (``steps``), ``gate`` the task kind's PyTorch gate metric."""

    budget: str
    rung: int
    gate: str
    value: float
    go_on: bool
    why: str

    def to_attr(self) -> dict[str, Any]:
        """The record in the trial's ``details["rungs"]``."""
        return {self.budget: self.rung, self.gate: self.value, "go_on": self.go_on, "why": self.why}


@dataclass
class TrialOutcome:
    """Filled in as the trial runs; the study loop tells Optuna from it."""

    state: State
    metrics: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)  # per-label recall, confusion, versions
    reason: str | None = None
    steps: list[StepRecord] = field(default_factory=list)
    artifact: str | None = None  # the final ONNX folder
    # Constraint violations known for a pruned trial (Optuna's convention: > 0 means missed).
    violations: dict[str, float] = field(default_factory=dict)
    crashed: bool = False  # a step raised something no pass declares (a bug, a broken environment)

    def to_attrs(self) -> dict[str, Any]:
        """The trial's user attributes besides its metrics (reports and resumes read them)."""
        return {
            "steps": [s.to_attr() for s in self.steps],
            "reason": self.reason,
            "artifact": self.artifact,
            "details": self.details,
        }
