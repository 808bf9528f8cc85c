"""The measuring side of the latency evaluator: runs in a child process of its own.

Reads a JSON request on stdin, prints one JSON line on stdout: the metrics, or
``{"error": "..."}`` with a one-line message (exit status 1).
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from ._base import EvaluatorError
from ._constrained import longest_candidate
from ._genai import GenaiSession, load_genai, runtime_versions

_MB = 1024 * 1024


@dataclass(frozen=True)
class _Timing:
    total_s: float
    prefill_s: float
    decode_s: float
    decode_tokens: int


def _one_request(session: GenaiSession, ids: list[int], answer_tokens: int, max_length: int) -> _Timing:
    t0 = time.perf_counter()
    generator = session.generator(max_length)
    t1 = time.perf_counter()
    generator.append_tokens(np.asarray(ids, dtype=np.int32))
    t2 = time.perf_counter()
    steps = 0
    while steps < answer_tokens and not generator.is_done():
        generator.generate_next_token()
        steps += 1
    t3 = time.perf_counter()
    return _Timing(t3 - t0, t2 - t1, t3 - t2, steps)


class _HfSession:
    """The same request shape on a transformers model (PyTorch eager): prefill, then greedy steps."""

    def __init__(self, path: Path, provider: str) -> None:
        from ._hf import HfDecoder, load_hf

        self.model, self.tokenizer = load_hf(path, provider)
        self.model.eval()
        self.decoder = HfDecoder(self.model)

    def encode(self, text: str) -> list[int]:
        return [int(i) for i in self.tokenizer(text)["input_ids"]]

    def eos_id(self) -> int:
        return int(self.tokenizer.eos_token_id)

    def request(self, ids: list[int], answer_tokens: int) -> _Timing:
        import torch

        with torch.inference_mode():
            t0 = time.perf_counter()
            logits = self.decoder.start(ids)
            t1 = time.perf_counter()
            token = int(np.argmax(logits))  # the first answer token comes from the prompt's logits
            for _ in range(answer_tokens - 1):
                token = int(np.argmax(self.decoder.feed(token)))
            t2 = time.perf_counter()
        return _Timing(t2 - t0, t1 - t0, t2 - t1, answer_tokens)


def _peak_rss_mb() -> float:
    """Peak RSS of this process's own address space.

    Linux: VmHWM from /proc/self/status. Not ru_maxrss: across fork + exec it keeps the
    high-water mark of the parent's address space, so it would report the caller's peak.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / _MB if sys.platform == "darwin" else peak / 1024


def measure(request: dict[str, Any]) -> dict[str, Any]:
    """Time ``warmup`` + ``repeats`` requests cycling over the prompts; see LatencyEvaluator."""
    t_load = time.perf_counter()
    hf = request.get("kind") == "hf"
    session: Any = (
        _HfSession(Path(request["path"]), request["provider"])
        if hf
        else load_genai(Path(request["path"]), request["provider"])
    )
    load_s = time.perf_counter() - t_load
    rss_after_load = psutil.Process().memory_info().rss / _MB
    prompts: list[str] = request["prompts"]
    eos_id = session.eos_id() if request["eos"] else None
    answer_tokens = request["answer_tokens"] or longest_candidate(
        session.encode, prompts, request["label_set"], eos_id
    )
    prompt_ids = [session.encode(p) for p in prompts]
    max_length = max(len(ids) for ids in prompt_ids) + answer_tokens

    def one(i: int) -> _Timing:
        ids = prompt_ids[i % len(prompt_ids)]
        return (
            session.request(ids, answer_tokens)
            if hf
            else _one_request(session, ids, answer_tokens, max_length)
        )

    for i in range(request["warmup"]):
        one(i)
    timings = [one(i) for i in range(request["repeats"])]
    totals_ms = [t.total_s * 1000 for t in timings]
    timed_lens = [len(prompt_ids[i % len(prompt_ids)]) for i in range(len(timings))]
    decode_tokens = sum(t.decode_tokens for t in timings)
    lens = [len(ids) for ids in prompt_ids]
    return {
        "p50_ms": float(np.percentile(totals_ms, 50)),
        "p90_ms": float(np.percentile(totals_ms, 90)),
        "mean_ms": statistics.fmean(totals_ms),
        "prefill_mean_ms": statistics.fmean(t.prefill_s for t in timings) * 1000,
        "decode_mean_ms": statistics.fmean(t.decode_s for t in timings) * 1000,
        "prompt_tokens_per_s": sum(timed_lens) / sum(t.prefill_s for t in timings),
        "decode_tokens_per_s": decode_tokens / sum(t.decode_s for t in timings),
        "decode_tokens_mean": decode_tokens / len(timings),
        "prompt_len": {"min": min(lens), "median": statistics.median(lens), "max": max(lens)},
        "answer_tokens": answer_tokens,
        "warmup": request["warmup"],
        "repeats": request["repeats"],
        "prompts": len(prompts),
        "provider": request["provider"],
        "versions": _torch_versions() if hf else runtime_versions(),
        "runtime": "pytorch-eager" if hf else "onnxruntime-genai",
        "load_s": load_s,
        "rss_after_load_mb": rss_after_load,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _torch_versions() -> dict[str, str]:
    import torch
    import transformers

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "torch_threads": str(torch.get_num_threads()),
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
        result = measure(json.loads(sys.stdin.read()))
    except Exception as exc:  # every failure becomes one JSON line for the parent
        print(json.dumps({"error": _one_line(exc)}), flush=True)
        return 1
    print(json.dumps(result), flush=True)
    return 0
