"""Records shared by every evaluator, and the tiny abstract base they implement."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args

ModelFormat = Literal["hf", "onnx-genai"]
Method = Literal["score", "greedy"]


class EvaluatorError(RuntimeError):
    """An evaluator could not measure an artifact; the message is one line, fit for a report."""


@dataclass(frozen=True)
class EvalTask:
    """Prompts with their gold labels.

    Each prompt is the full text fed to the model (template applied), ending right where
    the answer starts. The answer is the label string followed by the tokenizer's EOS token
    when ``eos`` is true.

    ``method`` is how a label is chosen: "score" (default) compares the log-probability of
    each label's whole token sequence (summed, or the mean per token when ``normalize``);
    "greedy" decodes restricted to the labels' token trie, committing to the first token.
    ``normalize`` applies to "score" only.
    """

    prompts: tuple[str, ...]
    labels: tuple[str, ...]
    label_set: tuple[str, ...]
    eos: bool = True
    method: Method = "score"
    normalize: bool = False

    def __post_init__(self) -> None:
        for name in ("prompts", "labels", "label_set"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not self.prompts:
            raise ValueError("EvalTask needs at least one prompt")
        if len(self.prompts) != len(self.labels):
            raise ValueError(f"EvalTask has {len(self.prompts)} prompts but {len(self.labels)} labels")
        if not self.label_set or len(set(self.label_set)) != len(self.label_set):
            raise ValueError(f"label_set must be non-empty and distinct: {self.label_set!r}")
        unknown = sorted(set(self.labels) - set(self.label_set))
        if unknown:
            raise ValueError(f"gold labels {unknown!r} are not in label_set {self.label_set!r}")
        if self.method not in get_args(Method):
            raise ValueError(f"unknown method {self.method!r}; known: {get_args(Method)}")
        if not isinstance(self.normalize, bool):
            raise ValueError(f"normalize must be a bool, got {self.normalize!r}")
        if self.normalize and self.method != "score":
            raise ValueError("normalize=True applies to method='score' only (greedy compares no totals)")


@dataclass(frozen=True)
class GenerationTask:
    """Prompts with the free answers they should get (issue 20: tasks scored by their text).

    Each prompt is the full text fed to the model, ending where the answer starts; each
    reference is the gold answer (the fine-tune's training target is the reference followed by
    EOS, which answer-likelihood scores too when ``eos``). An answer is decoded greedily for at
    most ``max_new_tokens`` tokens; it ends at EOS or once its text contains one of ``stop``
    (say "\\n"), and is cut before the first stop string.
    """

    prompts: tuple[str, ...]
    references: tuple[str, ...]
    max_new_tokens: int = 32
    stop: tuple[str, ...] = ()
    eos: bool = True

    def __post_init__(self) -> None:
        for name in ("prompts", "references", "stop"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not self.prompts:
            raise ValueError("GenerationTask needs at least one prompt")
        if len(self.prompts) != len(self.references):
            raise ValueError(
                f"GenerationTask has {len(self.prompts)} prompts but {len(self.references)} references"
            )
        if not all(isinstance(p, str) for p in self.prompts):
            raise ValueError("prompts must be strings")
        empty = [i for i, r in enumerate(self.references) if not isinstance(r, str) or not r.strip()]
        if empty:
            raise ValueError(
                f"references must be non-empty strings; example {empty[0]} is {self.references[empty[0]]!r}"
            )
        check_generation(self.max_new_tokens, self.stop)
        if not isinstance(self.eos, bool):
            raise ValueError(f"eos must be a bool, got {self.eos!r}")


def check_generation(max_new_tokens: int, stop: tuple[str, ...]) -> None:
    """Refuse a token cap below 1 and stop strings that are empty (they would end every answer)."""
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be an int >= 1, got {max_new_tokens!r}")
    if not all(isinstance(s, str) and s for s in stop):
        raise ValueError(f"stop strings must be non-empty strings, got {stop!r}")


@dataclass(frozen=True)
class Placement:
    """Where an artifact runs, in the two words the back ends take.

    ``device`` is the torch device an HF folder is loaded on; ``genai_provider`` is the provider
    appended to an ORT GenAI config ("" keeps ONNX Runtime's default CPU provider). The caller
    (a hardware target) owns these words; evaluators only pass them on.
    """

    device: str = "cpu"
    genai_provider: str = ""

    def __post_init__(self) -> None:
        if not self.device or not isinstance(self.device, str):
            raise ValueError(f"placement device must be a torch device name, got {self.device!r}")
        if not isinstance(self.genai_provider, str):
            raise ValueError(f"genai_provider must be a string, got {self.genai_provider!r}")

    @property
    def label(self) -> str:
        """One word for reports and cache keys: the GenAI provider, or the device on the CPU."""
        return self.genai_provider or self.device


@dataclass(frozen=True)
class ModelArtifact:
    """A model on disk: an HF folder or an ONNX Runtime GenAI folder, and where to run it."""

    path: Path
    kind: ModelFormat
    placement: Placement = Placement()

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        if self.kind not in get_args(ModelFormat):
            raise ValueError(f"unknown artifact kind {self.kind!r}; known: {get_args(ModelFormat)}")
        if not isinstance(self.placement, Placement):
            raise ValueError(f"placement must be a Placement, got {self.placement!r}")


class Evaluator(ABC):
    """Measures an artifact on a task and returns JSON-serialisable metrics.

    The task is of the kind the evaluator documents: an ``EvalTask`` (labels) or a
    ``GenerationTask`` (free answers); hence ``Any`` here, and the precise type on each class.
    """

    name: ClassVar[str]

    @abstractmethod
    def evaluate(self, artifact: ModelArtifact, task: Any) -> dict[str, Any]:
        """Measure ``artifact`` on ``task``."""


def require_kind(name: str, artifact: ModelArtifact, *kinds: ModelFormat) -> None:
    """Raise a clear EvaluatorError unless the artifact is of one of ``kinds`` and exists."""
    if artifact.kind not in kinds:
        raise EvaluatorError(
            f"evaluator {name!r} accepts artifacts of kind {list(kinds)}, "
            f"got {artifact.kind!r} ({artifact.path})"
        )
    if not artifact.path.is_dir():
        raise EvaluatorError(f"artifact folder {artifact.path} does not exist")
