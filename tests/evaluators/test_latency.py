"""Latency and memory of choosing a label, measured in a child process, on the tiny models."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import statistics
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from evaluators import (
    EvalTask,
    EvaluatorError,
    LatencyEvaluator,
    ModelArtifact,
    candidate_sequences,
    predict_labels,
)

REMOVED = {"decode_tokens_per_s", "prompt_tokens_per_s", "answer_tokens", "decode_tokens_mean"}


@pytest.fixture(scope="module")
def latency(tiny_onnx: dict[str, Path], tone_task: EvalTask) -> dict[str, Any]:
    """Scoring a label per pass, as PyTorch does (``one_pass`` is the CPU default: see below)."""
    evaluator = LatencyEvaluator(warmup=2, repeats=12, max_prompts=6, one_pass=False)
    return evaluator.evaluate(ModelArtifact(tiny_onnx["int4"], "onnx-genai"), tone_task)


@pytest.fixture(scope="module")
def hf_latency(tiny_hf_dir: Path, tone_task: EvalTask) -> dict[str, Any]:
    """The HF kind times the same requests in PyTorch eager (the baseline Olive goals use)."""
    return LatencyEvaluator(warmup=1, repeats=6, max_prompts=3).evaluate(
        ModelArtifact(tiny_hf_dir, "hf"), tone_task
    )


def _expected_decode_passes(onnx_dir: Path, task: EvalTask, prompts: int, repeats: int) -> list[int]:
    """Per timed request, the passes scoring needs after the prefill: labels longer than one token."""
    from evaluators._genai import load_genai

    session = load_genai(onnx_dir, "cpu")
    eos_id = session.eos_id() if task.eos else None
    per_prompt = [
        sum(len(c) > 1 for c in candidate_sequences(session.encode, p, task.label_set, eos_id))
        for p in task.prompts[:prompts]
    ]
    return [per_prompt[i % prompts] for i in range(repeats)]


def test_timings_are_positive_ordered_and_have_intervals(latency: dict[str, Any]) -> None:
    json.dumps(latency, allow_nan=False)
    assert 0 < latency["p50_ms"] <= latency["p90_ms"]
    for q in ("p50", "p90"):
        low, high = latency[f"{q}_ci95"]
        assert 0 < low <= latency[f"{q}_ms"] <= high
    assert latency["mean_ms"] >= latency["prefill_mean_ms"] + latency["decode_mean_ms"] > 0
    assert latency["prefill_tokens_per_s"] > 0 and latency["decode_passes_per_s"] > 0
    assert (latency["warmup"], latency["repeats"], latency["prompts"]) == (2, 12, 6)
    assert (latency["method"], latency["normalize"], latency["provider"]) == ("score", False, "cpu")
    assert not REMOVED & set(latency)


def test_passes_are_those_scoring_runs(
    latency: dict[str, Any], tiny_onnx: dict[str, Path], tone_task: EvalTask
) -> None:
    expected = _expected_decode_passes(tiny_onnx["int4"], tone_task, 6, 12)
    assert latency["decode_passes_mean"] == statistics.fmean(expected) == 4  # every label + EOS
    assert latency["passes_per_request"] == 1 + latency["decode_passes_mean"]
    # Each label is fed without its last token: joy 1, sur|prise 2, f|ear 2, s|ad|ness 3.
    assert latency["decode_tokens_per_pass"] == pytest.approx(8 / 4)
    lens = latency["prompt_len"]
    assert isinstance(lens, dict) and 0 < lens["min"] <= lens["median"] <= lens["max"]


def test_a_label_of_one_token_costs_no_pass(tiny_onnx: dict[str, Path], tone_task: EvalTask) -> None:
    task = dataclasses.replace(tone_task, eos=False)  # joy is then the single token 2641
    result = LatencyEvaluator(warmup=0, repeats=4, max_prompts=2, one_pass=False).evaluate(
        ModelArtifact(tiny_onnx["int4"], "onnx-genai"), task
    )
    assert result["decode_passes_mean"] == statistics.fmean(
        _expected_decode_passes(tiny_onnx["int4"], task, 2, 4)
    )
    assert (result["decode_passes_mean"], result["passes_per_request"]) == (3, 4)
    assert result["decode_tokens_per_pass"] == pytest.approx((1 + 1 + 2) / 3)


def test_one_pass_scores_every_label_in_the_prompts_pass(
    latency: dict[str, Any], tiny_onnx: dict[str, Path], tone_task: EvalTask
) -> None:
    one = LatencyEvaluator(warmup=2, repeats=12, max_prompts=6).evaluate(
        ModelArtifact(tiny_onnx["int4"], "onnx-genai"), tone_task
    )
    json.dumps(one, allow_nan=False)
    assert set(one) == set(latency) and latency["label_passes"] == "per_label"
    assert (one["label_passes"], one["passes_per_request"], one["decode_passes_mean"]) == ("one", 1, 0)
    # the labels' fed tokens ride in the prompt's pass: joy 1, sur|prise 2, f|ear 2, s|ad|ness 3
    assert one["label_tokens_in_prefill_mean"] == 8 and latency["label_tokens_in_prefill_mean"] == 0
    assert one["decode_mean_ms"] == 0 and one["decode_passes_per_s"] is None
    assert one["prefill_mean_ms"] == pytest.approx(one["mean_ms"], rel=0.05)
    assert one["runtime"] == "onnxruntime" and one["versions"] == {
        "onnxruntime": metadata.version("onnxruntime")
    }
    assert 0 < one["rss_after_load_mb"] <= one["peak_rss_mb"] < 300


def test_greedy_counts_only_the_passes_it_runs(
    tiny_onnx: dict[str, Path], tone_task: EvalTask, near_task: EvalTask
) -> None:
    """The first answer token comes from the prefill's logits: it is not a decoded pass."""
    artifact = ModelArtifact(tiny_onnx["int4"], "onnx-genai")
    evaluator = LatencyEvaluator(warmup=1, repeats=6, max_prompts=6)
    tones = evaluator.evaluate(artifact, dataclasses.replace(tone_task, method="greedy"))
    assert (tones["decode_passes_mean"], tones["passes_per_request"]) == (0, 1)  # first tokens differ
    assert tones["decode_passes_per_s"] is None and tones["decode_tokens_per_pass"] is None
    near = dataclasses.replace(near_task, method="greedy")
    result = evaluator.evaluate(artifact, near)
    choices = predict_labels(artifact, near.prompts[:6], near.label_set, method="greedy")
    assert result["decode_passes_mean"] == pytest.approx(statistics.fmean(c.passes - 1 for c in choices))
    assert result["decode_passes_mean"] > 0 and result["decode_tokens_per_pass"] == 1
    assert result["method"] == "greedy" and set(result) == set(tones)


def test_threads_are_read_from_the_genai_config(
    latency: dict[str, Any], tiny_onnx: dict[str, Path], tone_task: EvalTask, tmp_path: Path
) -> None:
    assert latency["threads"] == {"intra_op_num_threads": 0, "cpu_count": os.cpu_count()}
    model = shutil.copytree(tiny_onnx["int4"], tmp_path / "int4")
    config = json.loads((model / "genai_config.json").read_text())
    config["model"]["decoder"]["session_options"]["intra_op_num_threads"] = 1
    (model / "genai_config.json").write_text(json.dumps(config))
    result = LatencyEvaluator(warmup=0, repeats=1).evaluate(ModelArtifact(model, "onnx-genai"), tone_task)
    assert result["threads"] == {"intra_op_num_threads": 1, "cpu_count": os.cpu_count()}


def test_memory_and_versions_come_from_the_child(latency: dict[str, Any]) -> None:
    assert 0 < latency["rss_after_load_mb"] <= latency["peak_rss_mb"]
    # The child never imports torch (hundreds of MB) and does not inherit the parent's peak.
    assert latency["peak_rss_mb"] < 300
    import onnxruntime_genai

    assert latency["versions"] == {
        "onnxruntime": metadata.version("onnxruntime"),
        "onnxruntime_genai": onnxruntime_genai.__version__,
    }
    assert latency["runtime"] == "onnxruntime-genai"


def test_pytorch_eager_does_the_same_work(hf_latency: dict[str, Any], latency: dict[str, Any]) -> None:
    import torch

    json.dumps(hf_latency, allow_nan=False)
    assert set(hf_latency) == set(latency)
    assert hf_latency["runtime"] == "pytorch-eager" and "torch" in hf_latency["versions"]
    assert hf_latency["threads"] == {
        "torch_num_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
    }
    assert 0 < hf_latency["p50_ms"] <= hf_latency["p90_ms"]
    for q in ("p50", "p90"):
        low, high = hf_latency[f"{q}_ci95"]
        assert low <= hf_latency[f"{q}_ms"] <= high
    for key in ("decode_passes_mean", "passes_per_request", "decode_tokens_per_pass"):
        assert hf_latency[key] == latency[key]
    assert hf_latency["peak_rss_mb"] > hf_latency["rss_after_load_mb"] * 0.5 > 0


def test_child_errors_surface_as_one_line(tmp_path: Path, tone_task: EvalTask) -> None:
    (tmp_path / "genai_config.json").write_text("{not json")
    with pytest.raises(EvaluatorError, match="cannot load ORT GenAI model") as info:
        LatencyEvaluator(warmup=0, repeats=1).evaluate(ModelArtifact(tmp_path, "onnx-genai"), tone_task)
    assert "\n" not in str(info.value) and "Traceback" not in str(info.value)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="repeats >= 1"):
        LatencyEvaluator(repeats=0)
    with pytest.raises(TypeError, match="answer_tokens"):
        LatencyEvaluator(answer_tokens=2)  # type: ignore[call-arg]
