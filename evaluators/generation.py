"""Free answers by greedy decoding, scored against their references by text metrics.

The same rule in PyTorch ("hf") and ONNX Runtime GenAI ("onnx-genai"): see ``_greedy``.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any, ClassVar

from ._base import Evaluator, GenerationTask, ModelArtifact, check_generation, require_kind
from ._greedy import STOP_REASONS, GreedyAnswer, greedy_generate
from ._metric import text_scores
from ._runtime import open_runtime
from .stats import bootstrap_mean_ci, wilson_interval


def generate_answers(
    artifact: ModelArtifact,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 32,
    stop: Sequence[str] = (),
) -> list[GreedyAnswer]:
    """The greedy answer the artifact gives each prompt (see ``GreedyAnswer``).

    The model is loaded once, on the artifact's placement: "hf" in PyTorch float32 (argmax
    of the logits, one prompt at a time over the KV cache), "onnx-genai" in ORT GenAI (its own
    greedy search). Each runtime tokenizes and decodes with its own tokenizer. An answer ends
    at any EOS id of the model, once its text contains a string of ``stop``, or after
    ``max_new_tokens`` tokens.
    """
    stop = tuple(stop)
    check_generation(max_new_tokens, stop)
    require_kind(GenerationEvaluator.name, artifact, "hf", "onnx-genai")
    runtime = open_runtime(artifact)
    with runtime.context():
        return [
            greedy_generate(
                runtime.stepper(),
                runtime.encode(prompt),
                eos_ids=runtime.eos_ids,
                max_new_tokens=max_new_tokens,
                stop=stop,
                decode=runtime.decode,
            )
            for prompt in prompts
        ]


def _mean_with_ci(name: str, scores: list[float]) -> dict[str, Any]:
    return {
        name: statistics.fmean(scores),
        f"{name}_ci95": list(bootstrap_mean_ci(scores)),
        f"{name}_scores": scores,
    }


class GenerationEvaluator(Evaluator):
    """Greedy answers to the task's prompts, compared with its references.

    Returns {"n", "rouge_l" (mean ROUGE-L F-measure), "chrf" (mean sentence chrF, 0-1),
    "exact_match" (fraction equal after SQuAD normalisation), each with "<name>_ci95" ([low,
    high]: percentile bootstrap of the mean; Wilson for exact match) and "<name>_scores" (per
    example, task order; exact match 0.0/1.0), "answers" (the texts), "answer_tokens" (tokens
    generated per example, EOS included), "stopped" ({"eos", "stop", "length"}: counts),
    "passes" (forward passes in all, prefills included), "passes_mean", "max_new_tokens",
    "stop"}.
    """

    name: ClassVar[str] = "generation"

    def evaluate(self, artifact: ModelArtifact, task: GenerationTask) -> dict[str, Any]:
        gens = generate_answers(artifact, task.prompts, max_new_tokens=task.max_new_tokens, stop=task.stop)
        answers = [g.text for g in gens]
        exact = text_scores("exact_match", answers, task.references)
        low, high = wilson_interval(int(sum(exact)), len(exact))
        return {
            "n": len(gens),
            **_mean_with_ci("rouge_l", text_scores("rouge_l", answers, task.references)),
            "exact_match": statistics.fmean(exact),
            "exact_match_ci95": [low, high],
            "exact_match_scores": exact,
            **_mean_with_ci("chrf", text_scores("chrf", answers, task.references)),
            "answers": answers,
            "answer_tokens": [len(g.token_ids) for g in gens],
            "stopped": {reason: sum(g.stopped == reason for g in gens) for reason in STOP_REASONS},
            "passes": sum(g.passes for g in gens),
            "passes_mean": statistics.fmean(g.passes for g in gens),
            "max_new_tokens": task.max_new_tokens,
            "stop": list(task.stop),
        }
