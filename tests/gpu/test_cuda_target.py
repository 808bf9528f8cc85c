"""The cuda target on a real NVIDIA GPU: LoRA in bf16 and QLoRA on an NF4 base train there, the
builder's ``-e cuda`` models (int4, fp16, bf16, with and without CUDA graphs) run in ONNX Runtime
GenAI's CUDA provider and agree with PyTorch, and a tiny study runs end to end.

Opt-in (``pytest -m gpu``): CI has no GPU. On a machine without one these tests are skipped
with the reason; benchmarks/gpu/bringup.sh installs what they need on a bare GPU machine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from autotune.passes import Artifact
from tests.conftest import tiny_raw, write_space
from tests.passes.test_run_every_pass import Tiny, small_params


def _cuda_ready() -> str:
    """Why the cuda target cannot run here ("" when it can)."""
    try:
        import onnxruntime as ort
        import torch
    except ImportError as exc:
        return str(exc)
    if not torch.cuda.is_available():
        return "no CUDA device visible to torch"
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return "onnxruntime has no CUDAExecutionProvider (install onnxruntime-gpu)"
    return ""


pytestmark = [pytest.mark.gpu, pytest.mark.skipif(bool(_cuda_ready()), reason=_cuda_ready() or "ready")]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Tiny:
    return Tiny(tmp_path_factory.mktemp("cuda-passes"), target="cuda")


@pytest.mark.parametrize("name", ["lora", "qlora"])
def test_fine_tune_runs_on_the_gpu(name: str, tiny: Tiny) -> None:
    import torch

    from autotune.passes import get_pass

    torch.cuda.reset_peak_memory_stats()
    source, upstream = tiny.source("hf", {})
    params = small_params(get_pass(name), {"steps": 4})
    out, _ = tiny.run(name, params, source, upstream)
    assert torch.cuda.max_memory_allocated() > 0  # the step ran on the device
    log = json.loads((out.path / "train_log.json").read_text())
    assert log["steps_done"] == 4 and all(np.isfinite(log["losses"]))


@pytest.fixture(scope="module")
def merged(tiny: Tiny) -> tuple[Artifact, dict[str, Any]]:
    from autotune.passes import get_pass

    adapter, upstream = tiny.source("adapter", {})
    return tiny.run("merge", small_params(get_pass("merge")), adapter, upstream)


@pytest.mark.parametrize(
    ("precision", "cuda_graph"), [("int4", False), ("fp16", False), ("bf16", False), ("fp16", True)]
)
def test_cuda_build_runs_in_genai_cuda(
    precision: str, cuda_graph: bool, tiny: Tiny, merged: tuple[Artifact, dict[str, Any]]
) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from autotune.passes import get_pass
    from evaluators import provider_options
    from evaluators._genai import GenaiBackend, load_genai

    source, upstream = merged
    params = small_params(get_pass("build"), {"precision": precision, "enable_cuda_graph": cuda_graph})
    out, _ = tiny.run("build", params, source, upstream)
    assert provider_options(out.path, "cuda")["enable_cuda_graph"] == ("1" if cuda_graph else "0")
    session = load_genai(out.path, "cuda")
    ids = session.encode(tiny.data.prompt.render(tiny.data.train[0].text))
    got = GenaiBackend(session, answer_tokens=2).start(ids)
    assert np.isfinite(got).all()
    hf = AutoModelForCausalLM.from_pretrained(source.path, dtype=torch.float32).eval()
    with torch.no_grad():
        want = hf(torch.tensor([ids])).logits[0, -1].numpy()
    # the same model: the runtime's logits follow PyTorch's (a random model has near-ties, so the
    # top token is checked against PyTorch's top five, not for equality)
    assert int(np.argmax(got)) in np.argsort(want)[-5:]
    assert np.corrcoef(got, want)[0, 1] > (0.9 if precision == "int4" else 0.99)
    if precision != "int4":
        assert np.max(np.abs(got - want)) < 0.05 * max(1.0, float(np.max(np.abs(want))))


def test_tiny_study_on_cuda(tmp_path: Path) -> None:
    import optuna

    from autotune.cli import main

    raw = tiny_raw(targets=["cuda"], chains=[["lora", "merge", "build"], ["qlora", "merge", "build"]])
    raw["passes"]["build"] = {"precision": ["int4", "fp16"], "block_size": 32}
    raw["passes"]["qlora"] = dict(raw["passes"]["lora"])
    space = write_space(tmp_path / "tiny-cuda.yaml", raw)
    out = tmp_path / "out"
    assert main(["--space", str(space), "--out", str(out), "--n-trials", "4"]) == 0
    study = optuna.load_study(study_name="tiny-cuda", storage=f"sqlite:///{out / 'study.db'}")
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert done, [t.user_attrs.get("error") for t in study.trials]
    report = json.loads((out / "report.json").read_text())
    assert report["winner"] is not None
    dest = tmp_path / "exported"
    assert main(["export", str(out), "--dest", str(dest)]) == 0
    assert json.loads((dest / "task.json").read_text()).get("provider") == "cuda"
