"""The measuring side of the latency evaluators: runs in a child process of its own.

Reads a JSON request on stdin, prints one JSON line on stdout: the metrics, or
``{"error": "..."}`` with a one-line message (exit status 1). A request with
``"measure": "generation"`` times free answers (``_generation_run``); any other, labels.
"""

from __future__ import annotations

import json
import statistics
import sys
from typing import Any

import numpy as np

from ._base import EvaluatorError
from ._constrained import candidate_sequences
from ._rss import peak_rss_mb
from ._runtime import DecodingRuntime
from ._timed import Timing, load_for_request, timed_cycle, timed_one_pass, timed_request
from .stats import bootstrap_quantile_ci


def measure(request: dict[str, Any]) -> dict[str, Any]:
    """Time ``warmup`` + ``repeats`` requests cycling over the prompts; see LatencyEvaluator."""
    prompts: list[str] = request["prompts"]
    labels: list[str] = request["label_set"]
    runtime, facts = load_for_request(request)
    if request["eos"] and runtime.eos_id is None:
        raise EvaluatorError("eos is set but the tokenizer has no EOS token")
    eos_id = runtime.eos_id if request["eos"] else None
    prompt_ids = [runtime.encode(p) for p in prompts]
    cands = [candidate_sequences(runtime.encode, p, labels, eos_id) for p in prompts]
    normalize = request["normalize"]
    if isinstance(runtime, DecodingRuntime):  # the prefill, then a pass per label or greedy steps
        label_passes = "per_label"
        backend = runtime.backend(max(len(c) for per_prompt in cands for c in per_prompt))

        def one(i: int) -> Timing:
            k = i % len(prompts)
            args = (prompt_ids[k], cands[k], labels)
            return timed_request(backend, *args, method=request["method"], normalize=normalize)
    else:  # every label in the prompt's pass
        label_passes = "one"

        def one(i: int) -> Timing:
            k = i % len(prompts)
            return timed_one_pass(runtime.scorer, prompt_ids[k], cands[k], labels, normalize=normalize)

    timings, lens = timed_cycle(runtime, one, request, prompt_ids)
    return {
        **_summary(timings, lens["lens"]),
        "prompt_len": lens["prompt_len"],
        "method": request["method"],
        "label_passes": label_passes,
        "normalize": request["normalize"],
        "warmup": request["warmup"],
        "repeats": request["repeats"],
        "prompts": len(prompts),
        **facts,
        "peak_rss_mb": peak_rss_mb(),
    }


def _summary(timings: list[Timing], prompt_lens: list[int]) -> dict[str, Any]:
    totals_ms = [t.total_s * 1000 for t in timings]
    prefill_s = sum(t.prefill_s for t in timings)
    decode_s = sum(t.decode_s for t in timings)
    passes = sum(t.decode_passes for t in timings)
    tokens = sum(t.decode_tokens for t in timings)
    carried = sum(t.label_tokens_in_prefill for t in timings)
    return {
        "p50_ms": float(np.percentile(totals_ms, 50)),
        "p90_ms": float(np.percentile(totals_ms, 90)),
        "mean_ms": statistics.fmean(totals_ms),
        "p50_ci95": list(bootstrap_quantile_ci(totals_ms, 50)),
        "p90_ci95": list(bootstrap_quantile_ci(totals_ms, 90)),
        "prefill_mean_ms": prefill_s / len(timings) * 1000,
        "decode_mean_ms": decode_s / len(timings) * 1000,
        # Rates are None when no such pass ran (a single label under greedy; every label
        # a single token).
        "prefill_tokens_per_s": (sum(prompt_lens) + carried) / prefill_s if prefill_s > 0 else None,
        "label_tokens_in_prefill_mean": carried / len(timings),
        "decode_passes_per_s": passes / decode_s if passes else None,
        "decode_passes_mean": passes / len(timings),
        "decode_tokens_per_pass": tokens / passes if passes else None,
        "passes_per_request": (sum(t.prefills for t in timings) + passes) / len(timings),
    }


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    if isinstance(exc, EvaluatorError):
        return first or "latency measurement failed"
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def main() -> int:
    """Entry point of ``python -m evaluators.latency``."""
    try:
        request = json.loads(sys.stdin.read())
        if request.get("measure") == "generation":
            from ._generation_run import measure_generation

            result = measure_generation(request)
        else:
            result = measure(request)
    except Exception as exc:  # every failure becomes one JSON line for the parent
        print(json.dumps({"error": _one_line(exc)}), flush=True)
        return 1
    print(json.dumps(result), flush=True)
    return 0
