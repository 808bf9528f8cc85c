"""How likely the model finds the reference answers: teacher-forced, no decoding.

For each example, the mean log-probability per token of the reference's tokens (and EOS, when
the task says so) after the prompt: exactly the tokens a fine-tune's loss trains on, tokenized
at the prompt boundary as ``candidate_sequences`` does. Cheap in PyTorch (examples batched,
one forward pass per batch), so it gates trials before any build.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from ._base import Evaluator, GenerationTask, ModelArtifact, require_kind
from ._constrained import candidate_sequences
from ._runtime import open_runtime
from .stats import bootstrap_mean_ci


def answer_logprobs(
    artifact: ModelArtifact, prompts: Sequence[str], references: Sequence[str], *, eos: bool = True
) -> list[npt.NDArray[np.float64]]:
    """Per example, the log-probability of each reference token (then EOS when ``eos``), by the
    runtime's scorer: "hf" in PyTorch float32, examples batched; "onnx-genai" in ORT GenAI, one
    ``append_tokens`` of prompt and answer per example (see ``_scorer``)."""
    require_kind(AnswerLikelihoodEvaluator.name, artifact, "hf", "onnx-genai")
    runtime = open_runtime(artifact)
    eos_id = runtime.eos_for(eos)
    answers = [
        candidate_sequences(runtime.encode, p, [r], eos_id) for p, r in zip(prompts, references, strict=True)
    ]
    with runtime.context():
        scored = runtime.scorer.score([runtime.encode(p) for p in prompts], answers)
    return [s.logprobs[0] for s in scored]


class AnswerLikelihoodEvaluator(Evaluator):
    """Mean log-probability per token of the reference answers, teacher-forced.

    Returns {"n", "answer_logprob" (mean over examples of each example's mean per token),
    "answer_logprob_ci95" ([low, high], percentile bootstrap of that mean),
    "answer_logprob_scores" (per example, task order), "tokens" (answer tokens scored per
    example, EOS included when ``task.eos``)}.
    """

    name: ClassVar[str] = "answer-likelihood"

    def evaluate(self, artifact: ModelArtifact, task: GenerationTask) -> dict[str, Any]:
        per_token = answer_logprobs(artifact, task.prompts, task.references, eos=task.eos)
        scores = [float(np.mean(lp)) for lp in per_token]
        return {
            "n": len(scores),
            "answer_logprob": statistics.fmean(scores),
            "answer_logprob_ci95": list(bootstrap_mean_ci(scores)),
            "answer_logprob_scores": scores,
            "tokens": [len(lp) for lp in per_token],
        }
