"""Label accuracy, on HF or ORT GenAI artifacts, with its uncertainty and its cost.

Labels are chosen by whole-label scoring by default (``EvalTask.method``), or by
trie-constrained greedy decoding.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ._base import EvalTask, Evaluator, Method, ModelArtifact, require_kind
from ._constrained import LabelChoice
from ._metric import label_accuracy
from ._runtime import open_runtime
from ._scoring import choose_labels
from .stats import wilson_interval

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase


def predict_labels(
    artifact: ModelArtifact,
    prompts: Sequence[str],
    label_set: Sequence[str],
    *,
    eos: bool = True,
    method: Method = "score",
    normalize: bool = False,
    one_pass: bool = True,
) -> list[LabelChoice]:
    """The label (always one of ``label_set``) the artifact gives each prompt, with its
    scores, margin and forward passes (see ``LabelChoice``).

    The model is loaded once: "hf" with transformers in float32, "onnx-genai" in ONNX
    Runtime GenAI on the artifact's placement, with its own tokenizer. On the CPU, method
    "score" with ``one_pass`` scores every label in one forward pass (``_tree``) where the
    graph allows it, else in a pass per label.
    """
    require_kind(AccuracyEvaluator.name, artifact, "hf", "onnx-genai")
    runtime = open_runtime(artifact, one_pass=one_pass and method == "score")
    with runtime.context():
        return choose_labels(runtime, prompts, label_set, eos=eos, method=method, normalize=normalize)


def _metrics(task: EvalTask, choices: Sequence[LabelChoice]) -> dict[str, Any]:
    predictions = [c.label for c in choices]
    result = label_accuracy(predictions, task.labels, labels=task.label_set)
    correct = [int(p == g) for p, g in zip(predictions, task.labels, strict=True)]
    low, high = wilson_interval(sum(correct), len(correct))
    margins = [c.margin for c in choices]
    return {
        "accuracy": float(result["accuracy"]),
        "n": int(result["n"]),
        "accuracy_ci95": [low, high],
        "correct": correct,
        "per_label_recall": dict(result["per_label_recall"]),
        "confusion": result["confusion"],
        "predictions": predictions,
        "margin_mean": statistics.fmean(margins) if all(map(math.isfinite, margins)) else None,
        "method": task.method,
        "normalize": task.normalize,
        "passes": sum(c.passes for c in choices),
    }


def evaluate_hf_model(
    model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, task: EvalTask
) -> dict[str, Any]:
    """Accuracy metrics of an already-loaded causal LM (no save and reload needed).

    The model runs on the device of its parameters, in eval mode and inference mode; its
    training flag is restored afterwards. The labels are chosen by the task's method.
    """
    from ._hf import eval_mode
    from ._runtime import hf_runtime

    with eval_mode(model):
        choices = choose_labels(
            hf_runtime(model, tokenizer),
            task.prompts,
            task.label_set,
            eos=task.eos,
            method=task.method,
            normalize=task.normalize,
        )
    return _metrics(task, choices)


class AccuracyEvaluator(Evaluator):
    """Accuracy of the labels chosen by the task's method, with what is needed to trust it.

    Returns {"accuracy", "n", "accuracy_ci95" ([low, high], Wilson 95%), "correct" (0/1 per
    example in task order, for paired tests between artifacts), "per_label_recall" ({label:
    float | None}, None for a label without gold examples), "confusion" ({"labels",
    "matrix"}: rows gold, columns predicted), "predictions", "margin_mean" (mean over
    prompts of chosen-minus-runner-up score, see ``LabelChoice``; None with a single label),
    "method", "normalize", "passes" (forward passes over the prompts' sequences, prefills
    included; see ``LabelChoice``)}.
    """

    name: ClassVar[str] = "accuracy"

    def evaluate(self, artifact: ModelArtifact, task: EvalTask) -> dict[str, Any]:
        choices = predict_labels(
            artifact, task.prompts, task.label_set, eos=task.eos, method=task.method, normalize=task.normalize
        )
        return _metrics(task, choices)
