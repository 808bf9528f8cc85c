"""Label accuracy by trie-constrained greedy decoding, on HF or ORT GenAI artifacts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ._base import EvalTask, Evaluator, ModelArtifact, require_kind
from ._constrained import Choice
from ._metric import label_accuracy

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase


def predict_labels(
    artifact: ModelArtifact, prompts: Sequence[str], label_set: Sequence[str], *, eos: bool = True
) -> list[Choice]:
    """The label (always one of ``label_set``) the artifact gives each prompt.

    The model is loaded once: "hf" with transformers in float32, "onnx-genai" in ONNX
    Runtime GenAI on the artifact's provider, with its own tokenizer.
    """
    require_kind(AccuracyEvaluator.name, artifact, "hf", "onnx-genai")
    if artifact.kind == "hf":
        from ._hf import load_hf, predict_hf

        model, tokenizer = load_hf(artifact.path, artifact.provider)
        return predict_hf(model, tokenizer, prompts, label_set, eos)
    from ._genai import load_genai, predict_genai

    return predict_genai(load_genai(artifact.path, artifact.provider), prompts, label_set, eos)


def _metrics(task: EvalTask, choices: Sequence[Choice]) -> dict[str, Any]:
    predictions = [c.label for c in choices]
    result = label_accuracy(predictions, task.labels, labels=task.label_set)
    return {
        "accuracy": float(result["accuracy"]),
        "n": int(result["n"]),
        "per_label_recall": dict(result["per_label_recall"]),
        "confusion": result["confusion"],
        "predictions": predictions,
    }


def evaluate_hf_model(
    model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, task: EvalTask
) -> dict[str, Any]:
    """Accuracy metrics of an already-loaded causal LM (no save and reload needed).

    The model runs on the device of its parameters, in eval mode and inference mode; its
    training flag is restored afterwards.
    """
    from ._hf import predict_hf

    return _metrics(task, predict_hf(model, tokenizer, task.prompts, task.label_set, task.eos))


class AccuracyEvaluator(Evaluator):
    """Accuracy, per-label recall and confusion matrix of constrained label predictions.

    Returns {"accuracy", "n", "per_label_recall" ({label: float | None}, None for a label
    without gold examples), "confusion" ({"labels", "matrix"}: rows gold, columns
    predicted), "predictions"}.
    """

    name: ClassVar[str] = "accuracy"

    def evaluate(self, artifact: ModelArtifact, task: EvalTask) -> dict[str, Any]:
        choices = predict_labels(artifact, task.prompts, task.label_set, eos=task.eos)
        return _metrics(task, choices)
