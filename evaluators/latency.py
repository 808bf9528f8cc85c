"""Latency and memory of an ORT GenAI artifact, measured in a child process.

The child (``python -m evaluators.latency``, see ``_latency_run``) loads nothing but ORT
GenAI, so its peak RSS is the model's footprint, not the caller's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

from ._base import EvalTask, Evaluator, EvaluatorError, ModelArtifact, require_kind

_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)


class LatencyEvaluator(Evaluator):
    """Per-request latency of prompt + greedy answer in ONNX Runtime GenAI.

    Each request creates a generator, appends the prompt (prefill, timed) and generates
    ``answer_tokens`` tokens greedily (decode, timed; the first of them comes from the
    prefill logits). ``answer_tokens`` defaults to the longest label continuation incl. EOS.
    Requests cycle over the task's first ``max_prompts`` prompts, after ``warmup`` untimed
    ones. Reports p50/p90/mean ms per request, prompt and decode tokens/s, and the child
    process's RSS after loading and its peak RSS (MB = 2**20 bytes).
    """

    name: ClassVar[str] = "latency"

    def __init__(
        self,
        *,
        warmup: int = 3,
        repeats: int = 20,
        max_prompts: int = 8,
        answer_tokens: int | None = None,
        timeout_s: float = 600.0,
    ) -> None:
        if warmup < 0 or repeats < 1 or max_prompts < 1:
            raise ValueError("need warmup >= 0, repeats >= 1 and max_prompts >= 1")
        if answer_tokens is not None and answer_tokens < 1:
            raise ValueError("answer_tokens must be >= 1 when given")
        self.warmup = warmup
        self.repeats = repeats
        self.max_prompts = max_prompts
        self.answer_tokens = answer_tokens
        self.timeout_s = timeout_s

    def evaluate(self, artifact: ModelArtifact, task: EvalTask) -> dict[str, Any]:
        require_kind(self.name, artifact, "onnx-genai", "hf")
        request = {
            "kind": artifact.kind,
            "path": str(artifact.path),
            "provider": artifact.provider,
            "prompts": list(task.prompts[: self.max_prompts]),
            "label_set": list(task.label_set),
            "eos": task.eos,
            "warmup": self.warmup,
            "repeats": self.repeats,
            "answer_tokens": self.answer_tokens,
        }
        return _run_child(request, self.timeout_s)


def _run_child(request: dict[str, Any], timeout_s: float) -> dict[str, Any]:
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
