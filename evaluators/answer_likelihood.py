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

from ._base import Evaluator, EvaluatorError, GenerationTask, ModelArtifact, require_kind
from ._constrained import candidate_sequences
from .stats import bootstrap_mean_ci


def _answers(encode: Any, prompts: Sequence[str], refs: Sequence[str], eos_id: int | None) -> list[list[int]]:
    return [list(candidate_sequences(encode, p, [r], eos_id)[0]) for p, r in zip(prompts, refs, strict=True)]


def answer_logprobs(
    artifact: ModelArtifact, prompts: Sequence[str], references: Sequence[str], *, eos: bool = True
) -> list[npt.NDArray[np.float64]]:
    """Per example, the log-probability of each reference token (then EOS when ``eos``).

    "hf": PyTorch float32, examples batched (``_hf_answer``); "onnx-genai": one
    ``append_tokens`` of prompt and answer per example, reading the logits of every position.
    """
    require_kind(AnswerLikelihoodEvaluator.name, artifact, "hf", "onnx-genai")
    if artifact.kind == "hf":
        from ._hf import _encoder, _eval_mode, load_hf
        from ._hf_answer import answer_logprobs_batched

        model, tokenizer = load_hf(artifact.path, artifact.placement.device)
        eos_id = tokenizer.eos_token_id
        if eos and eos_id is None:
            raise EvaluatorError("eos is set but the tokenizer has no EOS token")
        encode = _encoder(tokenizer)
        answers = _answers(encode, prompts, references, int(eos_id) if eos else None)
        with _eval_mode(model):
            return answer_logprobs_batched(model, [encode(p) for p in prompts], answers)
    from ._genai import answer_logprobs_genai, load_genai

    session = load_genai(artifact.path, artifact.placement.genai_provider)
    answers = _answers(session.encode, prompts, references, session.eos_id() if eos else None)
    return [
        answer_logprobs_genai(session, session.encode(p), a) for p, a in zip(prompts, answers, strict=True)
    ]


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
