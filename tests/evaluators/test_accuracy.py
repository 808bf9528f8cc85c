"""Accuracy on the tiny random Phi-3: HF and ORT GenAI backends, and their agreement."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evaluators import (
    AccuracyEvaluator,
    EvalTask,
    EvaluatorError,
    ModelArtifact,
    candidate_sequences,
    evaluate_hf_model,
    predict_labels,
    wilson_interval,
)


def _check_consistent(result: dict[str, Any], task: EvalTask) -> None:
    json.dumps(result, allow_nan=False)
    preds = result["predictions"]
    assert isinstance(preds, list) and len(preds) == len(task.prompts) == result["n"]
    assert set(preds) <= set(task.label_set)
    correct = [int(p == g) for p, g in zip(preds, task.labels, strict=True)]
    assert result["correct"] == correct
    assert result["accuracy"] == pytest.approx(sum(correct) / len(preds))
    low, high = result["accuracy_ci95"]
    assert (low, high) == pytest.approx(wilson_interval(sum(correct), len(correct)))
    assert low <= result["accuracy"] <= high
    assert (result["method"], result["normalize"]) == (task.method, task.normalize)
    assert result["margin_mean"] >= 0 and result["passes"] >= len(preds)
    confusion = result["confusion"]
    assert isinstance(confusion, dict) and confusion["labels"] == list(task.label_set)
    for label, row in zip(task.label_set, confusion["matrix"], strict=True):
        assert sum(row) == task.labels.count(label)


@pytest.fixture(scope="module")
def hf_result(tiny_hf_dir: Path, tone_task: EvalTask) -> dict[str, Any]:
    return AccuracyEvaluator().evaluate(ModelArtifact(tiny_hf_dir, "hf"), tone_task)


def test_hf_artifact(hf_result: dict[str, Any], tone_task: EvalTask) -> None:
    _check_consistent(hf_result, tone_task)
    assert len(set(hf_result["predictions"])) > 1
    # Whole-label scoring: every label longer than one token (all, with EOS) costs one pass.
    assert hf_result["method"] == "score" and hf_result["passes"] == 16 * (1 + 4)


def test_loaded_model_gives_the_same_predictions_and_keeps_its_mode(
    tiny_hf_dir: Path, tone_task: EvalTask, hf_result: dict[str, Any]
) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_hf_dir)
    model.train()
    result = evaluate_hf_model(model, AutoTokenizer.from_pretrained(tiny_hf_dir), tone_task)
    assert result == hf_result
    assert model.training
    greedy = evaluate_hf_model(
        model, AutoTokenizer.from_pretrained(tiny_hf_dir), dataclasses.replace(tone_task, method="greedy")
    )
    _check_consistent(greedy, dataclasses.replace(tone_task, method="greedy"))
    assert greedy["passes"] == 16  # the tone labels' first tokens differ: the prefill decides


@pytest.mark.parametrize(
    ("task_name", "method"), [("tone_task", "score"), ("near_task", "score"), ("near_task", "greedy")]
)
def test_onnx_fp32_agrees_with_hf(
    tiny_hf_dir: Path,
    tiny_onnx: dict[str, Path],
    task_name: str,
    method: str,
    request: pytest.FixtureRequest,
) -> None:
    task = dataclasses.replace(request.getfixturevalue(task_name), method=method)
    hf = predict_labels(ModelArtifact(tiny_hf_dir, "hf"), task.prompts, task.label_set, method=method)
    artifact = ModelArtifact(tiny_onnx["fp32"], "onnx-genai")
    og = predict_labels(artifact, task.prompts, task.label_set, method=method)
    for a, b in zip(hf, og, strict=True):
        # on the CPU, ORT scores every label in one pass (evaluators._tree); PyTorch in a pass each
        assert b.passes == (1 if method == "score" else a.passes) and a.steps == b.steps
        np.testing.assert_allclose(a.scores, b.scores, atol=2e-3)
        assert a.margin == pytest.approx(b.margin, abs=2e-3)
        if a.margin > 0.01:  # a near-tie may flip on float rounding; nothing else may
            assert a.label == b.label
    onnx = AccuracyEvaluator().evaluate(artifact, task)
    _check_consistent(onnx, task)
    assert onnx["predictions"] == [c.label for c in og]
    if method == "greedy":  # the shared-prefix labels made decoding feed tokens
        assert max(c.steps for c in hf) >= 2 and all(c.scores == () for c in hf)
    else:
        assert len(hf[0].scores) == len(task.label_set)


@pytest.mark.parametrize("eos", [True, False])
def test_passes_are_the_forward_passes_run(
    tiny_onnx: dict[str, Path], tone_task: EvalTask, eos: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1 prefill + 1 pass per label longer than one token, counted at ORT GenAI's append_tokens."""
    from evaluators._genai import GenaiSession, load_genai

    session = load_genai(tiny_onnx["fp32"], "cpu")
    appends: list[int] = []
    make = GenaiSession.generator

    def counting(self: GenaiSession, max_length: int) -> Any:
        generator = make(self, max_length)

        class Counting:
            def __getattr__(self, name: str) -> Any:
                return getattr(generator, name)

            def append_tokens(self, ids: Any) -> None:
                appends[-1] += 1
                generator.append_tokens(ids)

        appends.append(0)
        return Counting()

    monkeypatch.setattr(GenaiSession, "generator", counting)
    artifact = ModelArtifact(tiny_onnx["fp32"], "onnx-genai")
    choices = predict_labels(artifact, tone_task.prompts, tone_task.label_set, eos=eos, one_pass=False)
    eos_id = session.eos_id() if eos else None
    for prompt, choice, ran in zip(tone_task.prompts, choices, appends, strict=True):
        cands = candidate_sequences(session.encode, prompt, tone_task.label_set, eos_id)
        assert choice.passes == ran == 1 + sum(len(c) > 1 for c in cands)
    # SmolLM2 spells joy as one token: without EOS it needs no pass after the prefill.
    assert choices[0].passes == (5 if eos else 4)


# Logits of the same tokens fed in calls of different lengths (3 tokens, then 2) differ by float32
# rounding: MKL's sgemm takes a kernel per shape and instruction set, so on AVX2 and AVX-512 hosts
# the sums run in another order (measured on this tiny model, logits up to 10.7: 1.2e-5 to 1.6e-5
# in PyTorch, on 1 or 2 threads, every run alike; 0 with MKL_CBWR=COMPATIBLE or on SSE4.2, and 0 in
# ORT's MLAS). A rewind that keeps one stale token moves them by 14. 1e-4 lies between the two.
ROUNDING = 1e-4


def test_backends_give_the_same_logits_and_rewind_cleanly(
    tiny_hf_dir: Path, tiny_onnx: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch
    from transformers import DynamicCache

    from evaluators._genai import GenaiBackend, load_genai
    from evaluators._hf import HfBackend, load_hf

    model, tokenizer = load_hf(tiny_hf_dir, "cpu")
    session = load_genai(tiny_onnx["fp32"], "cpu")
    prompt = "### Text: I lost my keys.\n### The tone is:\n"
    ids = session.encode(prompt)
    assert ids == tokenizer(prompt)["input_ids"]

    def trace(backend: Any) -> list[np.ndarray[Any, Any]]:
        out = [backend.start(ids), backend.extend([99, 344, 924])]
        backend.rewind()
        out += [backend.extend([10485]), backend.feed(19962)]
        backend.rewind()
        out += [backend.extend([99, 344])]
        return out

    def fresh(backend: Any, tokens: list[int]) -> np.ndarray[Any, Any]:
        backend.start(ids)
        return np.asarray(backend.extend(tokens))

    with torch.inference_mode():
        hf = trace(HfBackend(model))
        hf_fresh = [fresh(HfBackend(model), [10485]), fresh(HfBackend(model), [99, 344])]
        monkeypatch.setattr(DynamicCache, "is_croppable", property(lambda self: False))
        hf_copied = trace(HfBackend(model))  # a cache that cannot crop is restored from a copy
    og = trace(GenaiBackend(session, answer_tokens=4))
    og_fresh = [fresh(GenaiBackend(session, 4), [10485]), fresh(GenaiBackend(session, 4), [99, 344])]
    shapes = [(49152,), (3, 49152), (1, 49152), (49152,), (2, 49152)]
    for a, b, c, shape in zip(hf, og, hf_copied, shapes, strict=True):
        assert a.shape == b.shape == c.shape == shape
        np.testing.assert_allclose(a, b, atol=1e-3)
        np.testing.assert_array_equal(a, c)
    for run, new in ((hf, hf_fresh), (og, og_fresh)):
        # after a rewind, the same call gives what it gives on a fresh prompt: no state is left
        np.testing.assert_allclose(run[2], new[0], atol=ROUNDING, rtol=0)
        np.testing.assert_allclose(run[4], new[1], atol=ROUNDING, rtol=0)
        # the same tokens in a shorter call: equal up to the kernel's rounding
        np.testing.assert_allclose(run[4], run[1][:2], atol=ROUNDING, rtol=0)


def test_int4_build_predicts_labels(tiny_onnx: dict[str, Path], tone_task: EvalTask) -> None:
    artifact = ModelArtifact(tiny_onnx["int4"], "onnx-genai")
    _check_consistent(AccuracyEvaluator().evaluate(artifact, tone_task), tone_task)
    normalized = dataclasses.replace(tone_task, normalize=True)
    _check_consistent(AccuracyEvaluator().evaluate(artifact, normalized), normalized)


def test_normalize_reports_the_mean_log_probability_per_token(
    tiny_onnx: dict[str, Path], tone_task: EvalTask
) -> None:
    artifact = ModelArtifact(tiny_onnx["int4"], "onnx-genai")
    prompts = tone_task.prompts[:4]
    total = predict_labels(artifact, prompts, tone_task.label_set)
    mean = predict_labels(artifact, prompts, tone_task.label_set, normalize=True)
    lengths = np.array([2, 3, 3, 4])  # joy, sur|prise, f|ear, s|ad|ness; each + EOS
    for t, m in zip(total, mean, strict=True):
        np.testing.assert_allclose(m.scores, np.array(t.scores) / lengths, rtol=1e-6)
        assert m.passes == t.passes == 1
        assert m.index == int(np.argmax(m.scores)) and t.index == int(np.argmax(t.scores))


def test_missing_or_broken_artifacts_give_one_line_errors(tmp_path: Path, tone_task: EvalTask) -> None:
    with pytest.raises(EvaluatorError, match="does not exist"):
        AccuracyEvaluator().evaluate(ModelArtifact(tmp_path / "nope", "hf"), tone_task)
    with pytest.raises(EvaluatorError, match="cannot load ORT GenAI model") as info:
        AccuracyEvaluator().evaluate(ModelArtifact(tmp_path, "onnx-genai"), tone_task)
    assert "\n" not in str(info.value)


def test_margin_mean_is_none_with_a_single_label(tiny_onnx: dict[str, Path]) -> None:
    task = EvalTask(("### Text: hi\n### The tone is:\n",), ("joy",), ("joy",))
    result = AccuracyEvaluator().evaluate(ModelArtifact(tiny_onnx["int4"], "onnx-genai"), task)
    assert result["margin_mean"] is None and result["predictions"] == ["joy"] and result["passes"] == 1
    assert not math.isnan(result["accuracy"])
