"""Latency of greedy answers, measured in the latency child process, on the tiny models."""

from __future__ import annotations

import json
import os
import statistics
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from evaluators import (
    EvalTask,
    EvaluatorError,
    GenerationLatencyEvaluator,
    GenerationTask,
    ModelArtifact,
    generate_answers,
)

KEYS = {
    "p50_ms", "p90_ms", "mean_ms", "p50_ci95", "p90_ci95", "ttft_p50_ms", "ttft_p90_ms",
    "decode_tokens_per_s", "prefill_tokens_per_s", "new_tokens_mean", "passes_per_request", "threads",
    "peak_rss_mb", "provider", "runtime", "versions", "warmup", "repeats", "prompts", "max_new_tokens",
}  # fmt: skip


@pytest.fixture(scope="module")
def task(tone_task: EvalTask) -> GenerationTask:
    return GenerationTask(tone_task.prompts, tone_task.labels)


@pytest.fixture(scope="module")
def latency(tiny_onnx: dict[str, Path], task: GenerationTask) -> dict[str, Any]:
    evaluator = GenerationLatencyEvaluator(warmup=1, repeats=8, max_prompts=4, max_new_tokens=8)
    return evaluator.evaluate(ModelArtifact(tiny_onnx["int4"], "onnx-genai"), task)


def _expected_tokens(artifact: ModelArtifact, prompts: tuple[str, ...], repeats: int, **kw: Any) -> list[int]:
    gens = generate_answers(artifact, prompts, **kw)
    return [len(gens[i % len(prompts)].token_ids) for i in range(repeats)]


def test_timings_are_positive_ordered_and_have_intervals(latency: dict[str, Any]) -> None:
    json.dumps(latency, allow_nan=False)
    assert set(latency) >= KEYS
    assert 0 < latency["ttft_p50_ms"] <= latency["ttft_p90_ms"]
    assert latency["ttft_mean_ms"] < latency["mean_ms"]
    assert 0 < latency["p50_ms"] <= latency["p90_ms"]
    for q in ("p50", "p90"):
        low, high = latency[f"{q}_ci95"]
        assert 0 < low <= latency[f"{q}_ms"] <= high
    assert latency["decode_tokens_per_s"] > 0 and latency["prefill_tokens_per_s"] > 0
    assert (latency["warmup"], latency["repeats"], latency["prompts"], latency["max_new_tokens"]) == (
        1,
        8,
        4,
        8,
    )
    assert (latency["provider"], latency["runtime"], latency["stop"]) == ("cpu", "onnxruntime-genai", [])


def test_tokens_and_passes_are_those_of_the_answers(
    latency: dict[str, Any], tiny_onnx: dict[str, Path], task: GenerationTask
) -> None:
    artifact = ModelArtifact(tiny_onnx["int4"], "onnx-genai")
    expected = _expected_tokens(artifact, task.prompts[:4], 8, max_new_tokens=8)
    assert latency["new_tokens_mean"] == statistics.fmean(expected)
    assert latency["passes_per_request"] == latency["new_tokens_mean"]  # the prefill, then one per token fed
    assert sum(latency["stopped"].values()) == 8


def test_decode_speed_counts_only_the_tokens_after_the_first(latency: dict[str, Any]) -> None:
    after_s = (latency["mean_ms"] - latency["ttft_mean_ms"]) / 1000
    assert latency["decode_tokens_per_s"] == pytest.approx((latency["new_tokens_mean"] - 1) / after_s)


def test_a_one_token_answer_has_no_decode_speed(tiny_onnx: dict[str, Path], task: GenerationTask) -> None:
    result = GenerationLatencyEvaluator(warmup=0, repeats=3, max_prompts=2, max_new_tokens=1).evaluate(
        ModelArtifact(tiny_onnx["int4"], "onnx-genai"), task
    )
    assert (result["new_tokens_mean"], result["passes_per_request"]) == (1, 1)
    assert result["decode_tokens_per_s"] is None and result["stopped"] == {"eos": 0, "stop": 0, "length": 3}


def test_requests_use_the_smaller_cap_and_every_stop_string(
    tiny_onnx: dict[str, Path], task: GenerationTask
) -> None:
    artifact = ModelArtifact(tiny_onnx["int4"], "onnx-genai")
    strict = GenerationTask(task.prompts, task.references, max_new_tokens=6, stop=(".",))
    result = GenerationLatencyEvaluator(warmup=0, repeats=4, max_prompts=4, stop=("s",)).evaluate(
        artifact, strict
    )
    assert (result["max_new_tokens"], result["stop"]) == (6, [".", "s"])
    expected = _expected_tokens(artifact, task.prompts[:4], 4, max_new_tokens=6, stop=(".", "s"))
    assert result["new_tokens_mean"] == statistics.fmean(expected) < 6
    assert result["stopped"]["stop"] > 0


def test_the_child_measures_only_the_runtime(latency: dict[str, Any]) -> None:
    import onnxruntime_genai

    assert 0 < latency["rss_after_load_mb"] <= latency["peak_rss_mb"] < 300  # no torch in the child
    assert latency["versions"] == {
        "onnxruntime": metadata.version("onnxruntime"),
        "onnxruntime_genai": onnxruntime_genai.__version__,
    }
    assert latency["threads"] == {"intra_op_num_threads": 0, "cpu_count": os.cpu_count()}


def test_pytorch_eager_runs_the_same_loop(tiny_hf_dir: Path, task: GenerationTask) -> None:
    import torch

    result = GenerationLatencyEvaluator(warmup=1, repeats=3, max_prompts=3, max_new_tokens=5).evaluate(
        ModelArtifact(tiny_hf_dir, "hf"), task
    )
    json.dumps(result, allow_nan=False)
    assert set(result) >= KEYS and result["runtime"] == "pytorch-eager"
    assert result["threads"] == {"torch_num_threads": torch.get_num_threads(), "cpu_count": os.cpu_count()}
    assert result["new_tokens_mean"] == result["passes_per_request"] == 5  # random weights: no EOS
    assert 0 < result["ttft_p50_ms"] <= result["p50_ms"] and result["decode_tokens_per_s"] > 0


def test_child_errors_surface_as_one_line(tmp_path: Path, task: GenerationTask) -> None:
    (tmp_path / "genai_config.json").write_text("{not json")
    with pytest.raises(EvaluatorError, match="cannot load ORT GenAI model") as info:
        GenerationLatencyEvaluator(warmup=0, repeats=1).evaluate(ModelArtifact(tmp_path, "onnx-genai"), task)
    assert "\n" not in str(info.value) and "Traceback" not in str(info.value)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="repeats >= 1"):
        GenerationLatencyEvaluator(repeats=0)
    with pytest.raises(ValueError, match="max_new_tokens must be an int >= 1"):
        GenerationLatencyEvaluator(max_new_tokens=0)
    with pytest.raises(ValueError, match="stop strings must be non-empty"):
        GenerationLatencyEvaluator(stop=("",))
