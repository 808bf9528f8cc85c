"""The extension point for what a fine-tune must do: a task kind.

A task kind says what a row's target is (a label of a closed set, a free answer), which metrics
measure it (declared next to its code), how the evaluators measure a model on a split, and what
``predict`` answers. The runner, the space, the report and the winner ask the kind instead of
naming accuracy. A new kind is one module here, registered in ``__init__``, plus its test.

Nothing here imports the rest of autotune (the space schema imports this package): the runner
hands a kind rendered prompts and the evaluation settings, and the evaluators are imported
where a measurement needs them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from autotune.task_kinds.metric_spec import MetricSpec

if TYPE_CHECKING:
    from evaluators import ModelArtifact

__all__ = ["EvaluationSettings", "PerExample", "TaskKind"]

# Per-example outcomes on a split, in its order: "0110..." (right/wrong) or a score per example.
PerExample = str | list[float]


class EvaluationSettings(Protocol):
    """The space's ``evaluation`` section, as a kind reads it."""

    @property
    def latency_warmup(self) -> int: ...
    @property
    def latency_repeats(self) -> int: ...
    @property
    def latency_prompts(self) -> int: ...
    @property
    def label_scoring(self) -> str: ...
    @property
    def length_normalize(self) -> bool: ...
    @property
    def max_new_tokens(self) -> int: ...
    @property
    def stop(self) -> Sequence[str]: ...


class TaskKind(ABC):
    """One kind of task. Class attributes name its metrics by role."""

    name: ClassVar[str]
    metrics: ClassVar[tuple[MetricSpec, ...]]
    quality: ClassVar[str]  # the search split's headline metric (the preference's default)
    gate: ClassVar[str]  # the PyTorch metric of the merged fine-tune (the gate, the rungs)
    # constraints a clear miss of ``gate`` (its interval's upper end below the threshold) prunes
    gated: ClassVar[tuple[str, ...]]
    labelled: ClassVar[bool]  # rows carry a label of a closed set (splits keep each label's share)
    description: ClassVar[str]
    # the report table's own columns (header, metric, format): the first before the latency
    # columns, the rest after them
    table_columns: ClassVar[tuple[tuple[str, str, str], ...]] = ()

    @property
    def confirm(self) -> str:
        """The confirm split's figure of ``quality``."""
        return f"confirm_{self.quality}"

    @abstractmethod
    def eval_task(
        self, prompts: Sequence[str], targets: Sequence[str], labels: Sequence[str], ev: EvaluationSettings
    ) -> Any:
        """What the evaluators take for a split: rendered ``prompts``, each row's ``targets``."""

    @abstractmethod
    def cache_parts(self, task: Any) -> dict[str, Any]:
        """What a cached evaluation of ``task`` depends on (besides the model)."""

    @abstractmethod
    def measure_torch(self, artifact: ModelArtifact, task: Any) -> dict[str, Any]:
        """The merged PyTorch model on ``task``: the "eval-torch" output (cheap: it gates)."""

    @abstractmethod
    def measure(self, artifact: ModelArtifact, task: Any) -> dict[str, Any]:
        """The built model on ``task``: the "eval-onnx" (and "eval-confirm") output."""

    @abstractmethod
    def latency(self, artifact: ModelArtifact, task: Any, ev: EvaluationSettings) -> dict[str, Any]:
        """Per-request latency of what the app does with the built model."""

    @abstractmethod
    def details(self, output: Mapping[str, Any], torch: bool = False) -> dict[str, Any]:
        """What a trial keeps of a measurement besides its metrics: the per-example outcomes
        under the name its metrics' ``paired`` says, and what the report shows."""

    @abstractmethod
    def per_example(self, output: Mapping[str, Any]) -> PerExample:
        """The per-example outcomes of ``gate`` in a "eval-torch" output (the rungs compare them)."""

    @abstractmethod
    def predict(self, artifact: ModelArtifact, prompts: Sequence[str], task: Mapping[str, Any]) -> list[str]:
        """What the exported model answers to each prompt (``task``: the exported task.json)."""

    def export_fields(self, ev: EvaluationSettings, labels: Sequence[str]) -> dict[str, Any]:
        """What task.json records for ``predict`` besides the prompt format."""
        return {}
