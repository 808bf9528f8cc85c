"""Latency and memory of generating a free answer, measured in the latency child process.

The child is ``LatencyEvaluator``'s (``python -m evaluators.latency``) with a request that
asks for generation (``_generation_run``): it loads nothing but the runtime it measures (ORT
GenAI never imports torch there), so its peak RSS is the model's footprint.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar

from ._base import Evaluator, GenerationTask, ModelArtifact, check_generation, require_kind
from .latency import run_child


class GenerationLatencyEvaluator(Evaluator):
    """Per-request latency of a greedy answer, in ONNX Runtime GenAI ("onnx-genai") or PyTorch
    eager ("hf").

    A request is what an app does for one prompt (already tokenized): ORT GenAI creates a new
    generator, ``append_tokens(prompt)`` (the prefill) and runs its greedy loop
    (``generate_next_token`` / ``get_next_tokens``); PyTorch runs the same loop over a fresh
    KV cache. It ends at EOS, at a stop string (the evaluator's and the task's) or at the
    smaller of the evaluator's and the task's ``max_new_tokens``. Requests cycle over the
    task's first ``max_prompts`` prompts; ``warmup`` untimed ones come first, then ``repeats``
    timed ones. The first token comes from the prefill's logits (ORT GenAI's first
    ``generate_next_token`` runs no forward pass): time to first token is the prefill and
    that pick, and every later token costs one forward pass.

    Returns {"p50_ms", "p90_ms", "mean_ms" (end to end per request), "p50_ci95", "p90_ci95"
    ([low, high], bootstrap over the timed requests), "ttft_p50_ms", "ttft_p90_ms",
    "ttft_mean_ms", "decode_tokens_per_s" (tokens after the first / wall time after the first
    token, i.e. forward passes per second; None when every answer was one token),
    "prefill_tokens_per_s" (prompt tokens / time to first token), "new_tokens_mean" (tokens
    generated per request, EOS included), "passes_per_request" (prefill included), "stopped"
    ({"eos", "stop", "length"}: counts over the timed requests), "threads" (as
    LatencyEvaluator), "peak_rss_mb", "rss_after_load_mb", "load_s", "provider", "runtime",
    "versions", "warmup", "repeats", "prompts", "prompt_len" ({"min", "median", "max"}),
    "max_new_tokens", "stop" (what the requests used)}.
    """

    name: ClassVar[str] = "generation-latency"

    def __init__(
        self,
        *,
        warmup: int = 3,
        repeats: int = 20,
        max_prompts: int = 8,
        max_new_tokens: int = 32,
        stop: Sequence[str] = (),
        timeout_s: float = 600.0,
    ) -> None:
        if warmup < 0 or repeats < 1 or max_prompts < 1:
            raise ValueError("need warmup >= 0, repeats >= 1 and max_prompts >= 1")
        check_generation(max_new_tokens, tuple(stop))
        self.warmup = warmup
        self.repeats = repeats
        self.max_prompts = max_prompts
        self.max_new_tokens = max_new_tokens
        self.stop = tuple(stop)
        self.timeout_s = timeout_s

    def evaluate(self, artifact: ModelArtifact, task: GenerationTask) -> dict[str, Any]:
        require_kind(self.name, artifact, "onnx-genai", "hf")
        request = {
            "measure": "generation",
            "kind": artifact.kind,
            "path": str(artifact.path),
            "placement": dataclasses.asdict(artifact.placement),
            "prompts": list(task.prompts[: self.max_prompts]),
            "max_new_tokens": min(self.max_new_tokens, task.max_new_tokens),
            "stop": list(dict.fromkeys((*task.stop, *self.stop))),
            "warmup": self.warmup,
            "repeats": self.repeats,
        }
        return run_child(request, self.timeout_s)
