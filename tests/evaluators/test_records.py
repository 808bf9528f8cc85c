"""The registry, the package's exports and the validation of the frozen records."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

import evaluators
from evaluators import (
    AccuracyEvaluator,
    AnswerLikelihoodEvaluator,
    EvalTask,
    Evaluator,
    GenerationEvaluator,
    GenerationLatencyEvaluator,
    LatencyEvaluator,
    ModelArtifact,
    Placement,
    get_evaluator,
    register_evaluator,
)


def test_get_evaluator_builds_registered_classes_with_kwargs() -> None:
    assert isinstance(get_evaluator("accuracy"), AccuracyEvaluator)
    latency = get_evaluator("latency", repeats=5)
    assert isinstance(latency, LatencyEvaluator) and latency.repeats == 5
    assert evaluators.evaluator_names() == [
        "accuracy", "answer-likelihood", "generation", "generation-latency", "latency", "size",
    ]  # fmt: skip
    generation = get_evaluator("generation-latency", max_new_tokens=4, stop=["\n"])
    assert isinstance(generation, GenerationLatencyEvaluator)
    assert (generation.max_new_tokens, generation.stop) == (4, ("\n",))
    assert isinstance(get_evaluator("generation"), GenerationEvaluator)
    assert isinstance(get_evaluator("answer-likelihood"), AnswerLikelihoodEvaluator)


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(
        ValueError,
        match="unknown evaluator 'speed'; known evaluators: accuracy, answer-likelihood, generation, "
        "generation-latency, latency, size",
    ):
        get_evaluator("speed")


def test_a_second_class_cannot_take_a_name() -> None:
    class Other(Evaluator):
        name: ClassVar[str] = "size"

        def evaluate(self, artifact: ModelArtifact, task: EvalTask) -> dict[str, Any]:
            return {}

    with pytest.raises(ValueError, match="'size' is already taken by SizeEvaluator"):
        register_evaluator(Other)
    assert register_evaluator(AccuracyEvaluator) is AccuracyEvaluator  # same class: no-op


def test_exports() -> None:
    for name in evaluators.__all__:
        assert hasattr(evaluators, name)
    assert evaluators.stats.wilson_interval is evaluators.wilson_interval
    for name in (
        "GenerationTask", "Generation", "generate_answers", "GenerationEvaluator",
        "AnswerLikelihoodEvaluator",
        "GenerationLatencyEvaluator", "PairedScores", "paired_bootstrap", "bootstrap_mean_ci",
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
