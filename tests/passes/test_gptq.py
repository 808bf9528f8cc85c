"""GPTQ: calibrated int4 of the fp32 build, loadable by ONNX Runtime GenAI, embedding kept tied."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autotune.cache import Cache
from autotune.inputs.data import load_task_data
from autotune.inputs.models import prepare_model
from autotune.passes import Artifact, PassContext, get_pass
from autotune.passes.build import matmul_nodes
from autotune.space.schema import Space
from autotune.targets import TARGETS
from tests.conftest import REPO, tiny_raw

pytestmark = pytest.mark.slow

TIED = {
    "model_type": "llama",
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 512,
    "tie_word_embeddings": True,
}


def _gptq(tmp: Path, raw: dict, **params: object) -> tuple[Path, dict, Path]:
    space = Space.model_validate(raw)
    model = prepare_model(space.model, Cache(tmp / "cache"), REPO)
    data = load_task_data(space.data, REPO)
    chain = {"build": {"precision": "fp32"}, "gptq": {}}
    ctx = PassContext(model, data, TARGETS["cpu"], 0, chain)
    build, gptq = get_pass("build")(), get_pass("gptq")()
    fp32 = tmp / "fp32"
    fp32.mkdir()
    build_params = {"precision": "fp32", "enable_cuda_graph": False, "intra_op_threads": 0}
    build.run(Artifact("hf", Path(model.path), model.fingerprint), build_params, ctx, fp32)
    out = tmp / "gptq"
    out.mkdir()
    p = {
        "block_size": 32,
        "is_symmetric": False,
        "accuracy_level": 4,
        "samples": 16,
        "percdamp": 0.01,
        **params,
    }
    gptq.check(p, ctx)
    facts = gptq.run(Artifact("onnx", fp32, "fp32"), p, ctx, out)
    return out, facts, fp32


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.iterdir() if f.is_file())


def test_a_tied_model_keeps_one_quantized_table(tmp_path: Path) -> None:
    import onnx
    import onnxruntime_genai as og

    raw = tiny_raw()
    raw["model"]["random"]["config"] = TIED
    out, facts, fp32 = _gptq(tmp_path, raw)
    assert facts["calibration_rows"] == 16 and facts["calibration_tokens"] > 16 * 5
    assert facts["tied_embedding"] is True
    nodes = matmul_nodes(out)
    quantized = [n for n in nodes.values() if n["op"] == "MatMulNBits"]
    assert (
        quantized and {n["bits"] for n in quantized} == {4} and {n["block_size"] for n in quantized} == {32}
    )
    ops = {n.op_type for n in onnx.load(str(out / "model.onnx"), load_external_data=False).graph.node}
    assert "GatherBlockQuantized" in ops and "Transpose" not in ops
    assert _size(out) < _size(fp32) / 2
    assert json.loads((out / "genai_config.json").read_text()) == json.loads(
        (fp32 / "genai_config.json").read_text()
    )
    og.Model(str(out))  # ONNX Runtime GenAI loads it


def test_an_untied_model_and_the_refusals(tmp_path: Path) -> None:
    from autotune.errors import InvalidCombination

    out, facts, _ = _gptq(tmp_path, tiny_raw(), block_size=16)
    assert facts["tied_embedding"] is False
    assert {n.get("block_size") for n in matmul_nodes(out).values() if n["op"] == "MatMulNBits"} == {16}
    gptq = get_pass("gptq")()
    space = Space.model_validate(tiny_raw())
    data = load_task_data(space.data, REPO)
    model = prepare_model(space.model, Cache(tmp_path / "cache"), REPO)
    with pytest.raises(InvalidCombination, match="needs the fp32 build"):
        gptq.check({}, PassContext(model, data, TARGETS["cpu"], 0, {"build": {"precision": "int4"}}))
    with pytest.raises(InvalidCombination, match="cpu target"):
        gptq.check({}, PassContext(model, data, TARGETS["cuda"], 0, {}))
