"""The extension point for what a fine-tune must do: a task kind.

A task kind says what a row's target is (a label of a closed set, a free answer), which metrics
measure it (declared next to its code), how the evaluators measure a model on a split, and what
``predict`` answers. The runner, the space, the report and the winner ask the kind instead of
naming accuracy, and whatever differs between kinds is a method or class attribute here: the
space's ``evaluation`` keys of its own (``settings``), the tokens an answer adds to a prompt
(``answer_room``: the preflight's context check), the metrics a chain never measures
(``unmeasured``), the report's columns and winner panels. A new kind is one subclass passed to
``autotune.task_kinds.register_task_kind`` (a built-in kind: one module here, registered in
``__init__``), plus its test; nothing else changes.

Nothing here imports the rest of autotune above the targets (the space schema imports this
package): the runner hands a kind rendered prompts and the evaluation settings, and the
evaluators are imported where a measurement needs them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel

from autotune.task_kinds.metric_spec import MetricSpec

if TYPE_CHECKING:
    from autotune.targets import Target
    from evaluators import ModelArtifact

__all__ = ["EvaluationSettings", "Panel", "PerExample", "TaskKind"]

# Per-example outcomes on a split, in its order: "0110..." (right/wrong) or a score per example.
PerExample = str | list[float]


class AnswerSettings(Protocol):
    """What bounds an answer: the space's ``evaluation`` section, or an exported task.json."""

    @property
    def max_new_tokens(self) -> int: ...


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


@dataclass(frozen=True)
class Panel:
    """One panel of the report page's winner section: a plotly figure, or an HTML fragment (its
    text escaped by the kind). ``name`` is the panel's element id on the page."""

    name: str
    figure: Any = None  # a plotly Figure
    html: str = ""


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
    # The kind's own keys of a space's ``evaluation`` section (types, defaults, bounds, help),
    # beside the keys every space has; the space checks them when it loads. None: no keys of its own.
    settings: ClassVar[type[BaseModel] | None] = None

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

    def scoring(self, task: Any) -> dict[str, Any] | None:
        """How the built model's answers were scored on ``task``, when the kind chooses by a rule
        a trial records (None: nothing to record)."""
        return None

    def export_fields(self, ev: EvaluationSettings, labels: Sequence[str]) -> dict[str, Any]:
        """What task.json records for ``predict`` besides the prompt format."""
        return {}

    def settings_of(self, ev: EvaluationSettings) -> BaseModel | None:
        """The kind's own ``evaluation`` keys (``settings``) as the space gave them, defaults
        filled in; None for a kind without any."""
        if self.settings is None:
            return None
        extra = getattr(ev, "model_extra", None) or {}
        return self.settings.model_validate(
            {k: v for k, v in extra.items() if k in self.settings.model_fields}
        )

    def answer_room(self, ev: AnswerSettings) -> tuple[int, str]:
        """Tokens an evaluated row may take after its prompt and target (the preflight checks the
        longest fits the model's context), with the setting that decides them ("" for none):
        here one, the end-of-sequence token that closes the target."""
        return 1, ""

    def unmeasured(
        self, chain: Sequence[str], targets: Sequence[Target], ev: EvaluationSettings
    ) -> dict[str, str]:
        """The kind's metrics that a trial through ``chain`` (pass names) on ``targets`` never
        measures under ``ev``, each with why and what to do (the loader refuses a space that
        names one); a metric measured in PyTorch needs a fine-tune, which the loader checks
        for every kind."""
        return {}

    def report_panels(self, number: int, details: Mapping[str, Any], preference: str) -> list[Panel]:
        """The report's panels of the winner, trial ``number`` (its ``details``, the winner's
        ``preference`` metric): what the kind shows of one model beyond its metrics."""
        return []
