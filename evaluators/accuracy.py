"""Label accuracy by trie-constrained greedy decoding, on HF or ORT GenAI artifacts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ._base import EvalTask, Evaluator, ModelArtifact, require_kind
from ._constrained import Choice, candidate_sequences, choose_label
from ._metric import label_accuracy

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase


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

    return _metrics(task, predict_hf(model, tokenizer, task))


def _predict_genai(artifact: ModelArtifact, task: EvalTask) -> list[Choice]:
    from ._genai import GenaiDecoder, load_genai

    session = load_genai(artifact.path, artifact.provider)
    eos_id = session.eos_id() if task.eos else None
    cands = [candidate_sequences(session.encode, p, task.label_set, eos_id) for p in task.prompts]
    decoder = GenaiDecoder(session, answer_tokens=max(len(s) for c in cands for s in c))
    return [
        choose_label(decoder, session.encode(p), c, task.label_set)
        for p, c in zip(task.prompts, cands, strict=True)
    ]


class AccuracyEvaluator(Evaluator):
    """Accuracy, per-label recall and confusion matrix of constrained label predictions.

    "hf" artifacts are loaded with transformers in float32; "onnx-genai" artifacts run in
    ONNX Runtime GenAI on the artifact's provider, tokenized by its own tokenizer.
    """

    name: ClassVar[str] = "accuracy"

    def evaluate(self, artifact: ModelArtifact, task: EvalTask) -> dict[str, Any]:
        require_kind(self, artifact, "hf", "onnx-genai")
        if artifact.kind == "hf":
            from ._hf import load_hf, predict_hf

            model, tokenizer = load_hf(artifact.path, artifact.provider)
            return _metrics(task, predict_hf(model, tokenizer, task))
        return _metrics(task, _predict_genai(artifact, task))
