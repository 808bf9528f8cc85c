"""Accuracy on the tiny random Phi-3: HF and ORT GenAI backends, and their agreement."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evaluators import (
    AccuracyEvaluator,
    EvalTask,
    EvaluatorError,
    ModelArtifact,
    evaluate_hf_model,
    predict_labels,
)


def _check_consistent(result: dict[str, Any], task: EvalTask) -> None:
    json.dumps(result, allow_nan=False)
    preds = result["predictions"]
    assert isinstance(preds, list) and len(preds) == len(task.prompts) == result["n"]
    assert set(preds) <= set(task.label_set)
    hits = sum(p == g for p, g in zip(preds, task.labels, strict=True))
    assert result["accuracy"] == pytest.approx(hits / len(preds))
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


def test_loaded_model_gives_the_same_predictions_and_keeps_its_mode(
    tiny_hf_dir: Path, tone_task: EvalTask, hf_result: dict[str, Any]
) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_hf_dir)
    model.train()
    result = evaluate_hf_model(model, AutoTokenizer.from_pretrained(tiny_hf_dir), tone_task)
    assert result == hf_result
    assert model.training


@pytest.mark.parametrize("task_name", ["tone_task", "near_task"])
def test_onnx_fp32_agrees_with_hf(
    tiny_hf_dir: Path, tiny_onnx: dict[str, Path], task_name: str, request: pytest.FixtureRequest
) -> None:
    task: EvalTask = request.getfixturevalue(task_name)
    choices = predict_labels(ModelArtifact(tiny_hf_dir, "hf"), task.prompts, task.label_set)
    onnx = AccuracyEvaluator().evaluate(ModelArtifact(tiny_onnx["fp32"], "onnx-genai"), task)
    _check_consistent(onnx, task)
    same = sum(c.label == p for c, p in zip(choices, onnx["predictions"], strict=True))
    assert same >= 0.9 * len(choices)
    if task_name == "near_task":  # the shared-prefix labels made decoding feed tokens
        assert max(c.steps for c in choices) >= 2


def test_onnx_and_hf_logits_match(tiny_hf_dir: Path, tiny_onnx: dict[str, Path]) -> None:
    from evaluators._genai import GenaiDecoder, load_genai
    from evaluators._hf import HfDecoder, load_hf

    model, tokenizer = load_hf(tiny_hf_dir, "cpu")
    session = load_genai(tiny_onnx["fp32"], "cpu")
    prompt = "### Text: I lost my keys.\n### The tone is:\n"
    ids = session.encode(prompt)
    assert ids == tokenizer(prompt)["input_ids"]
    hf, og = HfDecoder(model), GenaiDecoder(session, answer_tokens=3)
    import torch

    with torch.inference_mode():
        pairs = [(hf.start(ids), og.start(ids))]
        pairs += [(hf.feed(t), og.feed(t)) for t in (99, 344)]
    for a, b in pairs:
        assert a.shape == b.shape == (len(tokenizer),)
        np.testing.assert_allclose(a, b, atol=1e-3)


def test_int4_build_predicts_labels(tiny_onnx: dict[str, Path], tone_task: EvalTask) -> None:
    result = AccuracyEvaluator().evaluate(ModelArtifact(tiny_onnx["int4"], "onnx-genai"), tone_task)
    _check_consistent(result, tone_task)


def test_missing_or_broken_artifacts_give_one_line_errors(tmp_path: Path, tone_task: EvalTask) -> None:
    with pytest.raises(EvaluatorError, match="does not exist"):
        AccuracyEvaluator().evaluate(ModelArtifact(tmp_path / "nope", "hf"), tone_task)
    with pytest.raises(EvaluatorError, match="cannot load ORT GenAI model") as info:
        AccuracyEvaluator().evaluate(ModelArtifact(tmp_path, "onnx-genai"), tone_task)
    assert "\n" not in str(info.value)
