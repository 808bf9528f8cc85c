"""Latency and memory of choosing a label with an artifact, measured in a child process.

The child (``python -m evaluators.latency``, see ``_latency_run``) loads nothing but the
runtime it measures (ORT GenAI never imports torch there), so its peak RSS is the model's
footprint, not the caller's.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

from ._base import EvalTask, Evaluator, EvaluatorError, ModelArtifact, require_kind

_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)


class LatencyEvaluator(Evaluator):
    """Per-request latency of choosing a label, in ONNX Runtime GenAI ("onnx-genai") or
    PyTorch eager ("hf").

    A request is exactly what the accuracy evaluator does for one prompt, by the task's
    method: "score" on the CPU with ``one_pass`` (the default, as ``predict_labels``) runs the
    prompt and every label's tokens in one forward pass of ONNX Runtime (``_tree``) where the
    graph allows; otherwise the prompt's prefill, then "score" runs one pass per label longer
    than one token (and rewinds), "greedy" one pass per token fed. ORT GenAI creates the
    request's generator inside the prefill. Requests cycle over the task's first ``max_prompts``
    prompts; ``warmup`` untimed ones come first, then ``repeats`` timed ones.

    Returns {"p50_ms", "p90_ms", "mean_ms", "p50_ci95", "p90_ci95" ([low, high], bootstrap
    over the timed requests), "prefill_mean_ms", "decode_mean_ms" (the passes after the
    prefill, rewinds included), "prefill_tokens_per_s", "decode_passes_per_s",
    "decode_passes_mean" (passes after the prefill per request), "decode_tokens_per_pass",
    "passes_per_request" (prefill included), "label_passes" ("one": the labels ride in the
    prompt's pass, whose tokens ``prefill_tokens_per_s`` then counts; "per_label"),
    "label_tokens_in_prefill_mean", "threads" (ORT: {"intra_op_num_threads" (0: runtime
    default), "cpu_count"}; torch: {"torch_num_threads", "cpu_count"}),
    "provider", "runtime", "versions", "method", "normalize", "warmup", "repeats",
    "prompts", "prompt_len" ({"min", "median", "max"}), "load_s", "rss_after_load_mb",
    "peak_rss_mb"} (MB = 2**20 bytes; RSS of the child process). The rates are None when
    no pass of that kind ran.
    """

    name: ClassVar[str] = "latency"

    def __init__(
        self,
        *,
        warmup: int = 3,
        repeats: int = 20,
        max_prompts: int = 8,
        timeout_s: float = 600.0,
        one_pass: bool = True,
    ) -> None:
        if warmup < 0 or repeats < 1 or max_prompts < 1:
            raise ValueError("need warmup >= 0, repeats >= 1 and max_prompts >= 1")
        self.warmup = warmup
        self.repeats = repeats
        self.max_prompts = max_prompts
        self.timeout_s = timeout_s
        self.one_pass = one_pass

    def evaluate(self, artifact: ModelArtifact, task: EvalTask) -> dict[str, Any]:
        require_kind(self.name, artifact, "onnx-genai", "hf")
        request = {
            "kind": artifact.kind,
            "path": str(artifact.path),
            "placement": dataclasses.asdict(artifact.placement),
            "prompts": list(task.prompts[: self.max_prompts]),
            "label_set": list(task.label_set),
            "eos": task.eos,
            "method": task.method,
            "normalize": task.normalize,
            "warmup": self.warmup,
            "repeats": self.repeats,
            "one_pass": self.one_pass,
        }
        return run_child(request, self.timeout_s)


def run_child(request: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """The metrics the latency child (``_latency_run.main``) returns for ``request``; its
    failures, a timeout included, as a one-line EvaluatorError."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_ROOT, env.get("PYTHONPATH")]))
    # -W: runpy warns that evaluators.latency was imported by the package before __main__.
    cmd = [sys.executable, "-W", "ignore::RuntimeWarning", "-m", "evaluators.latency"]
    try:
        proc = subprocess.run(
            cmd,
            input=json.dumps(request),
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise EvaluatorError(f"latency measurement exceeded {timeout_s:.0f} s") from exc
    payload = _last_json_line(proc.stdout)
    if payload is None:
        tail = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        why = tail[-1].strip() if tail else "no output"
        raise EvaluatorError(f"latency child exited with status {proc.returncode}: {why}")
    if "error" in payload:
        raise EvaluatorError(str(payload["error"]))
    return payload


def _last_json_line(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            return value if isinstance(value, dict) else None
    return None


if __name__ == "__main__":
    from ._latency_run import main

    sys.exit(main())
