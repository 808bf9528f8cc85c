"""The measuring side of the generation-latency evaluator, in the latency child process.

``python -m evaluators.latency`` runs this for a request with ``"measure": "generation"``.
A timed request is what an app does per prompt: a new generator (ORT GenAI) or a fresh KV
cache (PyTorch), the prefill, then the greedy loop until EOS, a stop string or the cap.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._base import EvaluatorError
from ._greedy import STOP_REASONS, GreedyAnswer, Stepper, greedy_generate
from ._rss import peak_rss_mb
from ._runtime import decoding
from ._timed import load_for_request, timed_cycle
from .stats import bootstrap_quantile_ci


class FirstTokenClock:
    """A ``Stepper`` that notes when the first token is ready and counts the passes fed back."""

    def __init__(self, inner: Stepper) -> None:
        self.inner = inner
        self.first_at = 0.0
        self.fed = 0

    def first(self, prompt_ids: Sequence[int], max_new_tokens: int) -> int:
        token = self.inner.first(prompt_ids, max_new_tokens)
        self.first_at = time.perf_counter()
        return token

    def next(self) -> int:
        self.fed += 1
        return self.inner.next()


@dataclass(frozen=True)
class Request:
    """One timed request: its answer, wall time and time to the first token."""

    generation: GreedyAnswer
    total_s: float
    ttft_s: float


def measure_generation(request: dict[str, Any]) -> dict[str, Any]:
    """Time ``warmup`` + ``repeats`` requests cycling over the prompts; see GenerationLatencyEvaluator."""
    prompts: list[str] = request["prompts"]
    max_new_tokens: int = request["max_new_tokens"]
    stop: list[str] = request["stop"]
    runtime, facts = load_for_request(request)
    runtime = decoding(runtime)
    prompt_ids = [runtime.encode(p) for p in prompts]

    def one(i: int) -> Request:
        t0 = time.perf_counter()
        clock = FirstTokenClock(runtime.stepper())
        gen = greedy_generate(
            clock,
            prompt_ids[i % len(prompts)],
            eos_ids=runtime.eos_ids,
            max_new_tokens=max_new_tokens,
            stop=stop,
            decode=runtime.decode,
        )
        total = time.perf_counter() - t0
        if 1 + clock.fed != gen.passes:
            raise EvaluatorError(f"the request ran {1 + clock.fed} forward passes but counted {gen.passes}")
        return Request(gen, total, clock.first_at - t0)

    timed, lens = timed_cycle(runtime, one, request, prompt_ids)
    return {
        **_summary(timed, lens["lens"]),
        "prompt_len": lens["prompt_len"],
        "warmup": request["warmup"],
        "repeats": request["repeats"],
        "prompts": len(prompts),
        "max_new_tokens": max_new_tokens,
        "stop": stop,
        **facts,
        "peak_rss_mb": peak_rss_mb(),
    }


def _summary(timed: list[Request], prompt_lens: list[int]) -> dict[str, Any]:
    totals_ms = [r.total_s * 1000 for r in timed]
    ttft_ms = [r.ttft_s * 1000 for r in timed]
    ttft_s = sum(r.ttft_s for r in timed)
    after_s = sum(r.total_s - r.ttft_s for r in timed)
    after_tokens = sum(len(r.generation.token_ids) - 1 for r in timed)
    return {
        "p50_ms": float(np.percentile(totals_ms, 50)),
        "p90_ms": float(np.percentile(totals_ms, 90)),
        "mean_ms": statistics.fmean(totals_ms),
        "p50_ci95": list(bootstrap_quantile_ci(totals_ms, 50)),
        "p90_ci95": list(bootstrap_quantile_ci(totals_ms, 90)),
        "ttft_p50_ms": float(np.percentile(ttft_ms, 50)),
        "ttft_p90_ms": float(np.percentile(ttft_ms, 90)),
        "ttft_mean_ms": statistics.fmean(ttft_ms),
        # each token after the first costs one forward pass; None when every answer was one token
        "decode_tokens_per_s": after_tokens / after_s if after_tokens and after_s > 0 else None,
        "prefill_tokens_per_s": sum(prompt_lens) / ttft_s if ttft_s > 0 else None,
        "new_tokens_mean": statistics.fmean(len(r.generation.token_ids) for r in timed),
        "passes_per_request": statistics.fmean(r.generation.passes for r in timed),
        "stopped": {k: sum(r.generation.stopped == k for r in timed) for k in STOP_REASONS},
    }
