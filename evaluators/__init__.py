"""Evaluators measure a model artifact on a task; they know nothing of the search.

A label is chosen by whole-label scoring by default (``EvalTask.method="score"``: the
log-probability of each label's full token sequence) or by trie-constrained greedy
decoding (``"greedy"``). ``stats`` holds the intervals and the paired test that tell a
real difference from noise.

Heavy back ends (torch, transformers, onnxruntime_genai, evaluate) are imported only when
an evaluation needs them.
"""

from . import stats
from ._base import EvalTask, Evaluator, EvaluatorError, Method, ModelArtifact, Placement
from ._constrained import Choice, Decoder, candidate_sequences, choose_label
from ._genai_config import provider_options
from ._registry import evaluator_names, get_evaluator, register_evaluator
from ._scoring import Backend, Scorer, choose, score_labels
from .accuracy import AccuracyEvaluator, evaluate_hf_model, predict_labels
from .latency import LatencyEvaluator
from .size import SizeEvaluator
from .stats import PairedResult, bootstrap_quantile_ci, paired_test, wilson_interval

__all__ = [
    "AccuracyEvaluator",
    "Backend",
    "Choice",
    "Decoder",
    "EvalTask",
    "Evaluator",
    "EvaluatorError",
    "LatencyEvaluator",
    "Method",
    "ModelArtifact",
    "PairedResult",
    "Placement",
    "Scorer",
    "SizeEvaluator",
    "bootstrap_quantile_ci",
    "candidate_sequences",
    "choose",
    "choose_label",
    "evaluate_hf_model",
    "evaluator_names",
    "get_evaluator",
    "paired_test",
    "predict_labels",
    "provider_options",
    "register_evaluator",
    "score_labels",
    "stats",
    "wilson_interval",
]
