"""Latency and memory of the tiny int4 build, measured in a child process."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from evaluators import EvalTask, EvaluatorError, LatencyEvaluator, ModelArtifact


@pytest.fixture(scope="module")
def latency(tiny_onnx: dict[str, Path], tone_task: EvalTask) -> dict[str, Any]:
    evaluator = LatencyEvaluator(warmup=2, repeats=12, max_prompts=6)
    return evaluator.evaluate(ModelArtifact(tiny_onnx["int4"], "onnx-genai"), tone_task)


def test_timings_are_positive_and_ordered(latency: dict[str, Any]) -> None:
    json.dumps(latency, allow_nan=False)
    assert 0 < latency["p50_ms"] <= latency["p90_ms"]
    assert latency["mean_ms"] > 0
    assert latency["prompt_tokens_per_s"] > 0
    assert latency["decode_tokens_per_s"] > 0
    assert (latency["warmup"], latency["repeats"], latency["prompts"]) == (2, 12, 6)
    assert latency["provider"] == "cpu"


def test_answer_length_is_the_longest_label_with_eos(latency: dict[str, Any]) -> None:
    # SmolLM2 tokens after "...is:\n": sadness = [99, 344, 924], then EOS -> 4.
    assert latency["answer_tokens"] == 4
    lens = latency["prompt_len"]
    assert isinstance(lens, dict) and 0 < lens["min"] <= lens["median"] <= lens["max"]


def test_memory_and_versions_come_from_the_child(latency: dict[str, Any]) -> None:
    assert 0 < latency["rss_after_load_mb"] <= latency["peak_rss_mb"]
    # The child never imports torch (hundreds of MB) and does not inherit the parent's peak.
    assert latency["peak_rss_mb"] < 300
    import onnxruntime_genai

    assert latency["versions"] == {
        "onnxruntime": metadata.version("onnxruntime"),
        "onnxruntime_genai": onnxruntime_genai.__version__,
    }


def test_answer_tokens_override(tiny_onnx: dict[str, Path], tone_task: EvalTask) -> None:
    evaluator = LatencyEvaluator(warmup=0, repeats=2, answer_tokens=1)
    result = evaluator.evaluate(ModelArtifact(tiny_onnx["int4"], "onnx-genai"), tone_task)
    assert (result["answer_tokens"], result["decode_tokens_mean"]) == (1, 1.0)


def test_pytorch_eager_latency_of_the_same_model(tiny_hf_dir: Path, tone_task: EvalTask) -> None:
    """The HF kind times the same request shape in PyTorch eager (the baseline Olive goals use)."""
    result = LatencyEvaluator(warmup=1, repeats=4).evaluate(ModelArtifact(tiny_hf_dir, "hf"), tone_task)
    assert result["runtime"] == "pytorch-eager" and "torch" in result["versions"]
    assert 0 < result["p50_ms"] <= result["p90_ms"]
    assert result["decode_tokens_mean"] == result["answer_tokens"] >= 2
    assert result["peak_rss_mb"] > result["rss_after_load_mb"] * 0.5 > 0


def test_child_errors_surface_as_one_line(tmp_path: Path, tone_task: EvalTask) -> None:
    (tmp_path / "genai_config.json").write_text("{not json")
    with pytest.raises(EvaluatorError, match="cannot load ORT GenAI model") as info:
        LatencyEvaluator(warmup=0, repeats=1).evaluate(ModelArtifact(tmp_path, "onnx-genai"), tone_task)
    assert "\n" not in str(info.value) and "Traceback" not in str(info.value)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="repeats >= 1"):
        LatencyEvaluator(repeats=0)
    with pytest.raises(ValueError, match="answer_tokens"):
        LatencyEvaluator(answer_tokens=0)
