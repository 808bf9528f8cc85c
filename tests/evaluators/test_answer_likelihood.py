"""Teacher-forced log-probability of the reference answers, on the tiny random Phi-3."""

from __future__ import annotations

import dataclasses
import json
import statistics
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evaluators import (
    AnswerLikelihoodEvaluator,
    EvalTask,
    EvaluatorError,
    GenerationTask,
    ModelArtifact,
    candidate_sequences,
)
from evaluators.answer_likelihood import answer_logprobs

# Per-token log-probabilities (down to -20 here) of a batch of left-padded examples and of one
# example at a time differ by float32 rounding of matmuls of other shapes: measured on this model
# at most 4.3e-6 (1.1e-5 with MKL_CBWR=COMPATIBLE). Padding let into attention moves them by up to
# 8.4. 1e-4 lies between the two. (Position ids that do not skip the padding move them by only
# 2.5e-5: RoPE sees relative positions; they matter to models with absolute positions.)
ROUNDING = 1e-4


@pytest.fixture(scope="module")
def answer_task(tone_task: EvalTask) -> GenerationTask:
    """Answers of 1 to 19 tokens (tones, and every third example its whole phrase) after prompts
    of different lengths."""
    phrases = [p.split("\n")[0].removeprefix("### Text: ") for p in tone_task.prompts]
    pairs = enumerate(zip(phrases, tone_task.labels, strict=True))
    refs = tuple(phrase if i % 3 == 0 else tone for i, (phrase, tone) in pairs)
    return GenerationTask(tone_task.prompts, refs)


@pytest.fixture(scope="module")
def hf_result(tiny_hf_dir: Path, answer_task: GenerationTask) -> dict[str, Any]:
    return AnswerLikelihoodEvaluator().evaluate(ModelArtifact(tiny_hf_dir, "hf"), answer_task)


def test_batches_score_as_one_example_at_a_time_and_by_hand(
    tiny_hf_dir: Path, answer_task: GenerationTask
) -> None:
    import torch

    from evaluators._hf import encoder, load_hf
    from evaluators._hf_scorer import HfScorer

    model, tokenizer = load_hf(tiny_hf_dir, "cpu")
    model.eval()
    encode = encoder(tokenizer)
    prompts = [encode(p) for p in answer_task.prompts]
    answers = [
        list(candidate_sequences(encode, p, [r], tokenizer.eos_token_id)[0])
        for p, r in zip(answer_task.prompts, answer_task.references, strict=True)
    ]
    assert len({len(p) + len(a) for p, a in zip(prompts, answers, strict=True)}) > 5  # padded batches
    with torch.inference_mode():
        one_each = [[a] for a in answers]
        batched = [s.logprobs[0] for s in HfScorer(model, batch_size=5).score(prompts, one_each)]
        single = [s.logprobs[0] for s in HfScorer(model, batch_size=1).score(prompts, one_each)]
        for p, a, b, s in zip(prompts, answers, batched, single, strict=True):
            # by hand: the whole sequence in one pass, log-softmax at each position before an answer token
            logp = model(torch.tensor([[*p, *a]])).logits[0].double().log_softmax(-1).numpy()
            hand = [logp[len(p) - 1 + j, t] for j, t in enumerate(a)]
            np.testing.assert_allclose(s, hand, atol=ROUNDING, rtol=0)
            np.testing.assert_allclose(b, s, atol=ROUNDING, rtol=0)
            assert b.shape == (len(a),)


def test_the_evaluator_reports_the_mean_per_token(
    hf_result: dict[str, Any], tiny_hf_dir: Path, answer_task: GenerationTask
) -> None:
    from transformers import AutoTokenizer

    json.dumps(hf_result, allow_nan=False)
    tokenizer = AutoTokenizer.from_pretrained(tiny_hf_dir)

    def encode(text: str) -> list[int]:
        return list(tokenizer(text)["input_ids"])

    # the tokens the fine-tune's loss trains on: the reference after the prompt, then EOS
    expected = [
        len(candidate_sequences(encode, p, [r], tokenizer.eos_token_id)[0])
        for p, r in zip(answer_task.prompts, answer_task.references, strict=True)
    ]
    assert hf_result["tokens"] == expected and min(expected) == 2 and max(expected) > 10
    scores = hf_result["answer_logprob_scores"]
    artifact = ModelArtifact(tiny_hf_dir, "hf")
    per_token = answer_logprobs(artifact, answer_task.prompts, answer_task.references)
    assert scores == pytest.approx([float(np.mean(lp)) for lp in per_token], abs=1e-12)
    assert hf_result["n"] == len(scores) == 16 and all(s < 0 for s in scores)
    assert hf_result["answer_logprob"] == pytest.approx(statistics.fmean(scores))
    low, high = hf_result["answer_logprob_ci95"]
    assert low < hf_result["answer_logprob"] < high


def test_onnx_fp32_agrees_with_pytorch(
    hf_result: dict[str, Any], tiny_onnx: dict[str, Path], answer_task: GenerationTask
) -> None:
    og = AnswerLikelihoodEvaluator().evaluate(ModelArtifact(tiny_onnx["fp32"], "onnx-genai"), answer_task)
    assert set(og) == set(hf_result) and og["tokens"] == hf_result["tokens"]
    # fp32 against fp32: measured 5e-6 apart at most
    np.testing.assert_allclose(og["answer_logprob_scores"], hf_result["answer_logprob_scores"], atol=1e-3)
    int4 = AnswerLikelihoodEvaluator().evaluate(ModelArtifact(tiny_onnx["int4"], "onnx-genai"), answer_task)
    assert int4["tokens"] == og["tokens"] and int4["answer_logprob_scores"] != og["answer_logprob_scores"]


def test_without_eos_the_answer_is_the_reference_alone(
    hf_result: dict[str, Any], tiny_onnx: dict[str, Path], answer_task: GenerationTask
) -> None:
    task = dataclasses.replace(answer_task, eos=False)
    og = AnswerLikelihoodEvaluator().evaluate(ModelArtifact(tiny_onnx["fp32"], "onnx-genai"), task)
    assert og["tokens"] == [t - 1 for t in hf_result["tokens"]]


def test_missing_or_broken_artifacts_give_one_line_errors(tmp_path: Path) -> None:
    task = GenerationTask(("p",), ("a",))
    with pytest.raises(EvaluatorError, match="does not exist"):
        AnswerLikelihoodEvaluator().evaluate(ModelArtifact(tmp_path / "nope", "hf"), task)
    with pytest.raises(EvaluatorError, match="cannot load HF model") as info:
        AnswerLikelihoodEvaluator().evaluate(ModelArtifact(tmp_path, "hf"), task)
    assert "\n" not in str(info.value)
