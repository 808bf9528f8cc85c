"""The package's exports and the validation of the frozen records."""

from __future__ import annotations

from pathlib import Path

import pytest

import evaluators
from evaluators import EvalTask, ModelArtifact, Placement


def test_exports() -> None:
    for name in evaluators.__all__:
        assert hasattr(evaluators, name)
    assert evaluators.stats.wilson_interval is evaluators.wilson_interval
    for name in (
        "GenerationTask", "GreedyAnswer", "generate_answers", "GenerationEvaluator",
        "AnswerLikelihoodEvaluator",
        "GenerationLatencyEvaluator", "PairedScores", "paired_bootstrap", "bootstrap_mean_ci",
        "SequenceScorer", "Scored", "open_runtime", "choose_labels", "read_decoder", "eos_token_ids",
        "provider_options", "intra_op_threads", "set_intra_op_threads", "set_provider_options",
    ):  # fmt: skip
        assert name in evaluators.__all__


def test_records_validate_and_coerce() -> None:
    task = EvalTask(["p1", "p2"], ["a", "b"], ["a", "b"])  # type: ignore[arg-type]
    assert task.prompts == ("p1", "p2") and task.eos
    assert (task.method, task.normalize) == ("score", False)
    with pytest.raises(ValueError, match=r"unknown method 'beam'; known: \('score', 'greedy'\)"):
        EvalTask(("p",), ("a",), ("a",), method="beam")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="normalize must be a bool"):
        EvalTask(("p",), ("a",), ("a",), normalize=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="normalize=True applies to method='score' only"):
        EvalTask(("p",), ("a",), ("a",), method="greedy", normalize=True)
    assert EvalTask(("p",), ("a",), ("a",), method="greedy").method == "greedy"
    with pytest.raises(ValueError, match="2 prompts but 1 labels"):
        EvalTask(("p1", "p2"), ("a",), ("a", "b"))
    with pytest.raises(ValueError, match=r"gold labels \['c'\] are not in label_set"):
        EvalTask(("p1",), ("c",), ("a", "b"))
    artifact = ModelArtifact("some/dir", "hf")  # type: ignore[arg-type]
    assert artifact.path == Path("some/dir") and artifact.placement == Placement("cpu", "")
    assert artifact.placement.label == "cpu" and Placement("cuda", "cuda").label == "cuda"
    with pytest.raises(ValueError, match="unknown artifact kind 'gguf'"):
        ModelArtifact(Path("x"), "gguf")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="placement must be a Placement, got 'dml'"):
        ModelArtifact(Path("x"), "onnx-genai", "dml")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="placement device must be a torch device name"):
        Placement("")
