"""Generation: each row's target is a free answer (short answers, extraction, chat replies).

The built model answers by greedy decoding (capped at ``evaluation.max_new_tokens``, ended by
EOS or a stop string), the same rule in PyTorch and ONNX Runtime GenAI, and the answer is
compared with the reference by ROUGE-L, exact match (normalised) and chrF. The merged PyTorch
model is judged without decoding, by the mean log-probability per token of the reference answer
(teacher-forced: one forward pass per batch of examples), which makes the gate and the rungs
cheap. Means get bootstrap intervals and a paired bootstrap between trials; exact match is a
proportion (Wilson, exact paired test).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from autotune.task_kinds.metric_spec import MetricSpec, interval

from ._base import AnswerSettings, EvaluationSettings, Panel, PerExample, TaskKind
from .panels import answers_panel

if TYPE_CHECKING:
    from autotune.targets import Target
    from evaluators import ModelArtifact

__all__ = ["GENERATION_VERSION", "Generation"]

# Bumped when decoding or a text metric changes, so that older cached evaluations are not reused.
GENERATION_VERSION = 1
_KIND = frozenset({"generation"})
_SEARCH = "built ONNX model's answers on the search split"


def _scores(prefix: str, source: Any, what: str, searchable: bool, paired: str | None) -> list[MetricSpec]:
    """ROUGE-L, exact match and chrF of ``what``, named ``prefix`` + metric."""
    out = []
    for name, key, label, agg, how in (
        ("rouge_l", "rouge_l", "ROUGE-L F-measure", "mean", "bootstrap"),
        ("exact_match", "exact_match", "normalised exact match", "proportion", "Wilson"),
        ("chrf", "chrf", "sentence chrF (0-1)", "mean", "bootstrap"),
    ):
        field = (
            None
            if paired is None
            else f"{paired}{'exact_match_correct' if agg == 'proportion' else key + '_scores'}"
        )
        out += interval(
            f"{prefix}{name}", "fraction", source, key, f"{label} of the {what}", searchable, how,
            aggregation=agg, kinds=_KIND, paired=field,
        )  # fmt: skip
    return out


def _logprob(prefix: str, source: Any, what: str, searchable: bool, paired: str | None) -> list[MetricSpec]:
    return interval(
        f"{prefix}answer_logprob", "log-prob", source, "answer_logprob",
        f"mean log-probability per token of the reference answer (teacher-forced) of the {what}",
        searchable, "bootstrap", kinds=_KIND, paired=paired,
    )  # fmt: skip


class Generation(TaskKind):
    name: ClassVar[str] = "generation"
    description: ClassVar[str] = "a free answer per row, compared with its reference"
    quality: ClassVar[str] = "rouge_l"
    gate: ClassVar[str] = "torch_answer_logprob"
    gated: ClassVar[tuple[str, ...]] = ("torch_answer_logprob",)
    labelled: ClassVar[bool] = False
    table_columns: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("exact match", "exact_match", ".3f"),
        ("chrF", "chrf", ".3f"),
        ("TTFT p50 ms", "ttft_p50_ms", ".1f"),
        ("answer tok/s", "answer_tokens_per_s", ".0f"),
    )
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        *_scores("", "eval-onnx", _SEARCH, True, ""),
        *_logprob("", "eval-onnx", "built ONNX model on the search split", True, "answer_logprob_scores"),
        *_logprob(
            "torch_", "eval-torch", "merged PyTorch model on the search split", True,
            "torch_answer_logprob_scores",
        ),
        *_scores("confirm_", "eval-confirm", "built ONNX model's answers on the confirm split", False, None),
        MetricSpec(
            "ttft_p50_ms", "ms", "minimize", "latency", "ttft_p50_ms",
            "median time to the first answer token (the prompt's prefill and its sampling)",
            aggregation="quantile", kinds=_KIND,
        ),
        MetricSpec(
            "ttft_p90_ms", "ms", "minimize", "latency", "ttft_p90_ms",
            "90th percentile time to the first answer token", aggregation="quantile", kinds=_KIND,
        ),
        MetricSpec(
            "answer_tokens_per_s", "tokens/s", "maximize", "latency", "decode_tokens_per_s",
            "answer tokens per second after the first (one forward pass each)", kinds=_KIND,
        ),
    )  # fmt: skip

    def eval_task(
        self, prompts: Sequence[str], targets: Sequence[str], labels: Sequence[str], ev: EvaluationSettings
    ) -> Any:
        from evaluators import GenerationTask

        return GenerationTask(
            tuple(prompts), tuple(targets), max_new_tokens=ev.max_new_tokens, stop=tuple(ev.stop)
        )

    def cache_parts(self, task: Any) -> dict[str, Any]:
        return {
            "prompts": task.prompts,
            "references": task.references,
            "max_new_tokens": task.max_new_tokens,
            "stop": task.stop,
            "generation": GENERATION_VERSION,
        }

    def measure_torch(self, artifact: ModelArtifact, task: Any) -> dict[str, Any]:
        from evaluators import AnswerLikelihoodEvaluator

        return AnswerLikelihoodEvaluator().evaluate(artifact, task)

    def measure(self, artifact: ModelArtifact, task: Any) -> dict[str, Any]:
        from evaluators import AnswerLikelihoodEvaluator, GenerationEvaluator

        return {
            **AnswerLikelihoodEvaluator().evaluate(artifact, task),
            **GenerationEvaluator().evaluate(artifact, task),
        }

    def latency(self, artifact: ModelArtifact, task: Any, ev: EvaluationSettings) -> dict[str, Any]:
        from evaluators import GenerationLatencyEvaluator

        evaluator = GenerationLatencyEvaluator(
            warmup=ev.latency_warmup,
            repeats=ev.latency_repeats,
            max_prompts=ev.latency_prompts,
            max_new_tokens=ev.max_new_tokens,
            stop=tuple(ev.stop),
        )
        return evaluator.evaluate(artifact, task)

    def details(self, output: Mapping[str, Any], torch: bool = False) -> dict[str, Any]:
        if torch:
            return {"torch_answer_logprob_scores": _floats(output["answer_logprob_scores"])}
        out: dict[str, Any] = {
            f"{k}_scores": _floats(output[f"{k}_scores"])
            for k in ("rouge_l", "chrf", "answer_logprob")
            if f"{k}_scores" in output
        }
        if "exact_match_scores" in output:
            out["exact_match_correct"] = "".join("1" if s else "0" for s in output["exact_match_scores"])
        for key in ("answers", "stopped", "answer_tokens"):
            if key in output:
                out[key] = output[key]
        return out

    def per_example(self, output: Mapping[str, Any]) -> PerExample:
        return _floats(output["answer_logprob_scores"])

    def predict(self, artifact: ModelArtifact, prompts: Sequence[str], task: Mapping[str, Any]) -> list[str]:
        from evaluators import generate_answers

        answers = generate_answers(
            artifact,
            prompts,
            max_new_tokens=int(task.get("max_new_tokens", 32)),
            stop=[str(s) for s in task.get("stop") or ()],
        )
        return [a.text for a in answers]

    def export_fields(self, ev: EvaluationSettings, labels: Sequence[str]) -> dict[str, Any]:
        return {"max_new_tokens": ev.max_new_tokens, "stop": list(ev.stop)}

    def answer_room(self, ev: AnswerSettings) -> tuple[int, str]:
        return ev.max_new_tokens, "evaluation.max_new_tokens"

    def unmeasured(
        self, chain: Sequence[str], targets: Sequence[Target], ev: EvaluationSettings
    ) -> dict[str, str]:
        if ev.max_new_tokens >= 2:
            return {}
        return {
            "answer_tokens_per_s": (
                "answer_tokens_per_s counts the tokens after an answer's first, and evaluation."
                "max_new_tokens is 1: raise it, or drop the metric"
            )
        }

    def report_panels(self, number: int, details: Mapping[str, Any], preference: str) -> list[Panel]:
        panel = answers_panel(number, details, preference)
        return [panel] if panel is not None else []


def _floats(values: Sequence[Any]) -> list[float]:
    return [round(float(v), 6) for v in values]
