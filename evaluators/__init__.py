"""Evaluators measure a model artifact on a task; they know nothing of the search.

Two kinds of task. An ``EvalTask`` has labels: a label is chosen by whole-label scoring by
default (``EvalTask.method="score"``: the log-probability of each label's full token
sequence) or by trie-constrained greedy decoding (``"greedy"``). A ``GenerationTask`` has free
reference answers: the model answers by greedy decoding (``generate_answers``), scored by
ROUGE-L, chrF and exact match, and the references' teacher-forced log-probability
(``AnswerLikelihoodEvaluator``) judges a model without decoding. ``stats`` holds the intervals
and the paired tests that tell a real difference from noise.

Every runtime is opened in one place (``open_runtime``: PyTorch eager, ORT GenAI, or the
one-pass ONNX Runtime graph) and scores continuations through one interface
(``SequenceScorer``); label choice, answer likelihood and greedy decoding are written once on
top of it. ``_genai_config`` is the one reader and writer of genai_config.json. Heavy back ends
(torch, transformers, onnxruntime_genai, evaluate, rouge_score, sacrebleu) are imported only
when an evaluation needs them.
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
from ._constrained import Decoder, LabelChoice, candidate_sequences, choose_label
from ._genai_config import (
    DecoderConfig,
    GenaiConfigError,
    context_length,
    eos_token_ids,
    intra_op_threads,
    is_genai_folder,
    provider_options,
    read_decoder,
    set_intra_op_threads,
    set_provider_options,
)
from ._greedy import GreedyAnswer
from ._runtime import DecodingRuntime, GenaiRuntime, HfRuntime, OnePassRuntime, Runtime, open_runtime
from ._scorer import Backend, Scored, Scorer, SequenceScorer
from ._scoring import choose, choose_labels, score_labels
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
    "Decoder",
    "DecoderConfig",
    "DecodingRuntime",
    "EvalTask",
    "Evaluator",
    "EvaluatorError",
    "GenaiConfigError",
    "GenaiRuntime",
    "GenerationEvaluator",
    "GenerationLatencyEvaluator",
    "GenerationTask",
    "GreedyAnswer",
    "HfRuntime",
    "LabelChoice",
    "LatencyEvaluator",
    "Method",
    "ModelArtifact",
    "OnePassRuntime",
    "PairedResult",
    "PairedScores",
    "Placement",
    "Runtime",
    "Scored",
    "Scorer",
    "SequenceScorer",
    "SizeEvaluator",
    "bootstrap_mean_ci",
    "bootstrap_quantile_ci",
    "candidate_sequences",
    "choose",
    "choose_label",
    "choose_labels",
    "context_length",
    "eos_token_ids",
    "evaluate_hf_model",
    "generate_answers",
    "intra_op_threads",
    "is_genai_folder",
    "open_runtime",
    "paired_bootstrap",
    "paired_test",
    "predict_labels",
    "provider_options",
    "read_decoder",
    "score_labels",
    "set_intra_op_threads",
    "set_provider_options",
    "stats",
    "wilson_interval",
]
