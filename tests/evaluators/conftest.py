"""Session fixtures of the evaluator tests: tasks of the test phrases, and the tiny model
(``tiny_hf_dir``, tests/conftest.py) built to ONNX."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from evaluators import EvalTask
from tests.conftest import built_once

ASSETS = Path(__file__).resolve().parents[1] / "assets"
TEMPLATE = "### Text: {}\n### The tone is:\n"
TONES = ("joy", "surprise", "fear", "sadness")
# Labels that share first tokens (sad/sadness/sadly, joy/joyful, ...): decoding needs several steps.
NEAR_TONES = (
    "joy",
    "joyful",
    "surprise",
    "surprised",
    "fear",
    "fearful",
    "sad",
    "sadness",
    "sadly",
)


def _tone_rows(n: int) -> list[dict[str, str]]:
    lines = (ASSETS / "tiny_emotions.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines[:n]]


@pytest.fixture(scope="session")
def tone_task() -> EvalTask:
    """16 phrases of the test asset, labels joy/surprise/fear/sadness."""
    rows = _tone_rows(16)
    return EvalTask(
        prompts=tuple(TEMPLATE.format(r["phrase"]) for r in rows),
        labels=tuple(r["tone"] for r in rows),
        label_set=TONES,
    )


@pytest.fixture(scope="session")
def near_task() -> EvalTask:
    """The same phrases with a label set whose token sequences share prefixes."""
    rows = _tone_rows(16)
    return EvalTask(
        prompts=tuple(TEMPLATE.format(r["phrase"]) for r in rows),
        labels=tuple("sad" if r["tone"] == "sadness" else r["tone"] for r in rows),
        label_set=NEAR_TONES,
    )


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory, tiny_hf_dir: Path) -> dict[str, Path]:
    """ORT GenAI folders of the tiny model, {"int4": ..., "fp32": ...}, built in parallel once
    per test run (read-only)."""
    root = built_once(tmp_path_factory, "tiny-onnx", lambda root: _build(tiny_hf_dir, root))
    return {precision: root / precision for precision in ("int4", "fp32")}


def _build(tiny_hf_dir: Path, root: Path) -> None:
    procs = {}
    for precision in ("int4", "fp32"):
        log = (root / f"{precision}.log").open("w")
        cmd = [
            sys.executable, "-m", "onnxruntime_genai.models.builder",
            "-i", str(tiny_hf_dir), "-o", str(root / precision), "-p", precision,
            "-e", "cpu", "-c", str(root / f"cache-{precision}"),
        ]  # fmt: skip
        procs[precision] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log)
    for precision, (proc, log) in procs.items():
        code = proc.wait(timeout=300)
        log.close()
        if code != 0:
            tail = (root / f"{precision}.log").read_text().splitlines()[-5:]
            pytest.fail(f"ONNX build {precision} failed ({code}):\n" + "\n".join(tail))
