"""Closed-set label classification: each row's target is one of the space's labels.

A label is chosen by whole-label scoring (or trie-constrained greedy decoding); accuracy is a
proportion with a Wilson interval and per-example right/wrong for the exact paired test.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from autotune.task_kinds.metric_spec import MetricSpec, interval

from ._base import EvaluationSettings, Panel, PerExample, TaskKind
from .panels import confusion_panel, recall_panel

if TYPE_CHECKING:
    from autotune.targets import Target
    from evaluators import Method, ModelArtifact

__all__ = ["SCORING_VERSION", "Classification"]

# Bumped when label scoring changes, so that cached evaluations of older code are not reused.
SCORING_VERSION = 3  # 3: on the CPU, every label is scored in one pass (evaluators._tree)
_KIND = frozenset({"classification"})


def _accuracy(prefix: str, source: Any, what: str, searchable: bool, **kw: Any) -> list[MetricSpec]:
    return interval(
        prefix, "fraction", source, "accuracy", f"accuracy of the {what}", searchable, "Wilson",
        aggregation="proportion", kinds=_KIND, **kw,
    )  # fmt: skip


def _bits(correct: Sequence[int]) -> str:
    """Per-example correctness as a compact string of 0/1, in the split's order."""
    return "".join("1" if c else "0" for c in correct)


class Classification(TaskKind):
    name: ClassVar[str] = "classification"
    description: ClassVar[str] = "one label of a closed set per row (data.labels)"
    quality: ClassVar[str] = "accuracy"
    gate: ClassVar[str] = "torch_accuracy"
    gated: ClassVar[tuple[str, ...]] = ("accuracy", "torch_accuracy")
    labelled: ClassVar[bool] = True
    table_columns: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("margin", "label_margin", ".2f"),
        ("decode passes/s", "decode_passes_per_s", ".0f"),
    )
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        *_accuracy(
            "accuracy", "eval-onnx", "built ONNX model on the search split (ONNX Runtime GenAI)", True,
            olive=(("accuracy", "accuracy_score"), ("accuracy", "accuracy")), paired="correct",
        ),
        *_accuracy(
            "torch_accuracy", "eval-torch", "merged PyTorch model on the search split", True,
            paired="torch_correct",
        ),
        *_accuracy("confirm_accuracy", "eval-confirm", "built ONNX model on the confirm split", False),
        MetricSpec(
            "label_margin", "log-prob", "maximize", "eval-onnx", "margin_mean",
            "mean log-probability margin of the chosen label over the runner-up (search split)",
            kinds=_KIND,
        ),
        MetricSpec(
            "decode_passes_per_s", "passes/s", "maximize", "latency", "decode_passes_per_s",
            "forward passes per second after the prefill (passes actually run, not tokens counted)",
            kinds=_KIND,
        ),
    )  # fmt: skip

    def eval_task(
        self, prompts: Sequence[str], targets: Sequence[str], labels: Sequence[str], ev: EvaluationSettings
    ) -> Any:
        from evaluators import EvalTask

        method: Method = "greedy" if ev.label_scoring == "greedy" else "score"
        return EvalTask(
            tuple(prompts), tuple(targets), tuple(labels), method=method, normalize=ev.length_normalize
        )

    def cache_parts(self, task: Any) -> dict[str, Any]:
        return {
            "prompts": task.prompts,
            "labels": task.labels,
            "method": task.method,
            "normalize": task.normalize,
            "scoring": SCORING_VERSION,
        }

    def measure_torch(self, artifact: ModelArtifact, task: Any) -> dict[str, Any]:
        from evaluators import AccuracyEvaluator

        return AccuracyEvaluator().evaluate(artifact, task)

    def measure(self, artifact: ModelArtifact, task: Any) -> dict[str, Any]:
        from evaluators import AccuracyEvaluator

        return AccuracyEvaluator().evaluate(artifact, task)

    def latency(self, artifact: ModelArtifact, task: Any, ev: EvaluationSettings) -> dict[str, Any]:
        from evaluators import LatencyEvaluator

        evaluator = LatencyEvaluator(
            warmup=ev.latency_warmup, repeats=ev.latency_repeats, max_prompts=ev.latency_prompts
        )
        return evaluator.evaluate(artifact, task)

    def scoring(self, task: Any) -> dict[str, Any] | None:
        return {"method": task.method, "normalize": task.normalize}  # labels chosen by a rule

    def details(self, output: Mapping[str, Any], torch: bool = False) -> dict[str, Any]:
        if torch:
            return {
                "torch_per_label_recall": output.get("per_label_recall"),
                "torch_correct": _bits(output["correct"]),
            }
        return {
            "per_label_recall": output.get("per_label_recall"),
            "confusion": output.get("confusion"),
            "correct": _bits(output["correct"]),
        }

    def per_example(self, output: Mapping[str, Any]) -> PerExample:
        return _bits(output["correct"])

    def predict(self, artifact: ModelArtifact, prompts: Sequence[str], task: Mapping[str, Any]) -> list[str]:
        from autotune.errors import AutotuneError
        from evaluators import predict_labels

        labels = task.get("labels")
        if not isinstance(labels, list) or not labels:
            raise AutotuneError("the exported task has no labels; export the trial again")
        choices = predict_labels(
            artifact,
            prompts,
            [str(x) for x in labels],
            method="greedy" if task.get("label_scoring") == "greedy" else "score",
            normalize=bool(task.get("length_normalize", False)),
        )
        return [c.label for c in choices]

    def export_fields(self, ev: EvaluationSettings, labels: Sequence[str]) -> dict[str, Any]:
        return {
            "labels": list(labels),
            "label_scoring": ev.label_scoring,
            "length_normalize": ev.length_normalize,
        }

    def unmeasured(
        self, chain: Sequence[str], targets: Sequence[Target], ev: EvaluationSettings
    ) -> dict[str, str]:
        one_pass = [t.name for t in targets if not t.genai_provider]
        # ORT's int8 quantizer (per-tensor activations) leaves a graph the label scorer decodes
        if one_pass and ev.label_scoring == "score" and chain[-1] != "quantize":
            return {
                "decode_passes_per_s": (
                    f"on target {one_pass[0]} every label of a model built by {' > '.join(chain)} is "
                    "scored in the prompt's own forward pass, so there is no decode pass to count: name "
                    "latency_p90_ms instead, or drop the metric"
                )
            }
        return {}

    def report_panels(self, number: int, details: Mapping[str, Any], preference: str) -> list[Panel]:
        return [p for p in (confusion_panel(number, details), recall_panel(details)) if p is not None]
