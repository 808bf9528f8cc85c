"""Passes refuse invalid combinations before any work, with the reason."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import pytest

from autotune.errors import InvalidCombination
from autotune.inputs.data import PromptFormat, TaskData
from autotune.inputs.models import PreparedModel
from autotune.passes import PassContext, get_pass
from autotune.passes.build import builder_extra_options
from autotune.targets import TARGETS, Target


def ctx(target: str | Target = "cpu", upstream: dict | None = None) -> PassContext:
    data = TaskData((), (), ("a", "b"), PromptFormat("t", "l", "{t}{l}", None), "fp", "x")
    where = TARGETS[target] if isinstance(target, str) else target
    return PassContext(PreparedModel("m", "m", "fp"), data, where, 0, upstream or {})


def test_build_rejects_fp16_on_cpu() -> None:
    build = get_pass("build")()
    msg = r"fp16 is not valid on target cpu \(valid: int4, int8, fp32\)"
    with pytest.raises(InvalidCombination, match=msg):
        build.check({"precision": "fp16"}, ctx())
    build.check({"precision": "fp16"}, ctx("cuda"))  # valid there


def test_cuda_graph_is_a_cuda_target_option() -> None:
    build = get_pass("build")()
    params = {"precision": "int4", "enable_cuda_graph": True}
    with pytest.raises(InvalidCombination, match=r"build\.enable_cuda_graph applies only .* not cpu"):
        build.check(params, ctx())
    build.check(params, ctx("cuda"))  # the cuda target declares it
    build.check({**params, "enable_cuda_graph": False}, ctx())


def test_builder_extra_options_carry_the_recipe() -> None:
    base = {"precision": "int4", "block_size": 64, "accuracy_level": 4, "is_symmetric": False}
    words = builder_extra_options({**base, "algo_config": "k_quant", "enable_cuda_graph": True}, False)
    assert words == [
        "hf_remote=false",
        "block_size=64",
        "accuracy_level=4",
        "is_symmetric=false",
        "algo_config=k_quant",
        "enable_cuda_graph=true",
    ]
    assert builder_extra_options({"precision": "fp16"}, True) == ["hf_remote=true"]


def test_quantize_needs_fp32_build_on_cpu() -> None:
    q = get_pass("quantize")()
    q.check({}, ctx(upstream={"build": {"precision": "fp32"}}))
    with pytest.raises(InvalidCombination, match="needs the fp32 build"):
        q.check({}, ctx(upstream={"build": {"precision": "int4"}}))
    with pytest.raises(InvalidCombination, match="CPU chain"):
        q.check({}, ctx("cuda"))


@pytest.mark.parametrize("name", ["quantize", "gptq"])
@pytest.mark.parametrize(
    "provider", ["DmlExecutionProvider", "OpenVINOExecutionProvider", "CUDAExecutionProvider"]
)
def test_cpu_quantizers_follow_where_the_model_runs_not_where_it_trains(name: str, provider: str) -> None:
    """ORT's int8 and GPTQ quantizers make models for the CPU execution provider: a target that
    trains on the CPU but runs its ONNX model on another provider is refused all the same."""
    elsewhere = dataclasses.replace(TARGETS["cpu"], name="elsewhere", execution_provider=provider)
    assert elsewhere.device == "cpu"
    p = get_pass(name)()
    fp32 = {"build": {"precision": "fp32"}}
    with pytest.raises(InvalidCombination, match="CPU"):
        p.check({}, ctx(upstream=fp32, target=elsewhere))
    p.check({}, ctx(upstream=fp32))  # the plain cpu target runs them


def test_qlora_without_bitsandbytes_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    qlora = get_pass("qlora")()
    qlora.check({}, ctx())  # installed (the test extra has it): QLoRA runs, on the CPU too
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "bitsandbytes" else find_spec(name, *a)
    )
    with pytest.raises(InvalidCombination, match="qlora needs bitsandbytes"):
        qlora.check({}, ctx())


def test_build_writes_the_session_threads(tmp_path: Path) -> None:
    import json

    from autotune.errors import StepFailed
    from autotune.passes.build import set_session_threads

    config = {"model": {"decoder": {"session_options": {"log_id": "x"}, "filename": "model.onnx"}}}
    (tmp_path / "genai_config.json").write_text(json.dumps(config))
    assert set_session_threads(tmp_path, 2) == {"log_id": "x", "intra_op_num_threads": 2}
    written = json.loads((tmp_path / "genai_config.json").read_text())
    assert written["model"]["decoder"]["session_options"]["intra_op_num_threads"] == 2
    assert written["model"]["decoder"]["filename"] == "model.onnx"
    (tmp_path / "genai_config.json").write_text(json.dumps({"model": {}}))
    with pytest.raises(StepFailed, match=r"no model\.decoder section"):
        set_session_threads(tmp_path, 2)
