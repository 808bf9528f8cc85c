"""Evaluators measure a model artifact on a task; they know nothing of the search.

Heavy back ends (torch, transformers, onnxruntime_genai, evaluate) are imported only when
an evaluation needs them.
"""

from ._base import EvalTask, Evaluator, EvaluatorError, ModelArtifact
from ._constrained import Choice, Decoder, candidate_sequences, choose_label
from ._registry import evaluator_names, get_evaluator, register_evaluator
from .accuracy import AccuracyEvaluator, evaluate_hf_model, predict_labels
from .latency import LatencyEvaluator
from .size import SizeEvaluator

__all__ = [
    "AccuracyEvaluator",
    "Choice",
    "Decoder",
    "EvalTask",
    "Evaluator",
    "EvaluatorError",
    "LatencyEvaluator",
    "ModelArtifact",
    "SizeEvaluator",
    "candidate_sequences",
    "choose_label",
    "evaluate_hf_model",
    "evaluator_names",
    "get_evaluator",
    "predict_labels",
    "register_evaluator",
]
