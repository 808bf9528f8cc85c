"""Evaluators measure a model artifact on a task; they know nothing of the search.

Two kinds of task. An ``EvalTask`` has labels: a label is chosen by whole-label scoring by
default (``EvalTask.method="score"``: the log-probability of each label's full token
sequence) or by trie-constrained greedy decoding (``"greedy"``). A ``GenerationTask`` has free
reference answers: the model answers by greedy decoding (``generate_answers``), scored by
ROUGE-L, chrF and exact match, and the references' teacher-forced log-probability
(``AnswerLikelihoodEvaluator``) judges a model without decoding. ``stats`` holds the intervals
and the paired tests that tell a real difference from noise.

Heavy back ends (torch, transformers, onnxruntime_genai, evaluate, rouge_score, sacrebleu) are
imported only when an evaluation needs them.
"""

from . import stats
from ._base import (
    EvalTask,
    Evaluator,
    EvaluatorError,
    GenerationTask,
    Method,
    ModelArtifact,
    Placement,
)
from ._constrained import Choice, Decoder, candidate_sequences, choose_label
from ._genai_config import provider_options
from ._greedy import Generation
from ._registry import evaluator_names, get_evaluator, register_evaluator
from ._scoring import Backend, Scorer, choose, score_labels
from .accuracy import AccuracyEvaluator, evaluate_hf_model, predict_labels
from .answer_likelihood import AnswerLikelihoodEvaluator
from .generation import GenerationEvaluator, generate_answers
from .generation_latency import GenerationLatencyEvaluator
from .latency import LatencyEvaluator
from .size import SizeEvaluator
from .stats import (
    PairedResult,
    PairedScores,
    bootstrap_mean_ci,
    bootstrap_quantile_ci,
    paired_bootstrap,
    paired_test,
    wilson_interval,
)

__all__ = [
    "AccuracyEvaluator",
    "AnswerLikelihoodEvaluator",
    "Backend",
    "Choice",
    "Decoder",
    "EvalTask",
    "Evaluator",
    "EvaluatorError",
    "Generation",
    "GenerationEvaluator",
    "GenerationLatencyEvaluator",
    "GenerationTask",
    "LatencyEvaluator",
    "Method",
    "ModelArtifact",
    "PairedResult",
    "PairedScores",
    "Placement",
    "Scorer",
    "SizeEvaluator",
    "bootstrap_mean_ci",
    "bootstrap_quantile_ci",
    "candidate_sequences",
    "choose",
    "choose_label",
    "evaluate_hf_model",
    "evaluator_names",
    "generate_answers",
    "get_evaluator",
    "paired_bootstrap",
    "paired_test",
    "predict_labels",
    "provider_options",
    "register_evaluator",
    "score_labels",
    "stats",
    "wilson_interval",
]
