"""Quantization recipes reach the built graph, and the pass refuses a graph that ignored one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from autotune.cache import Cache
from autotune.errors import StepFailed
from autotune.inputs.data import load_task_data
from autotune.inputs.models import prepare_model
from autotune.passes import Artifact, PassContext, get_pass
from autotune.passes.build import verify_recipe
from autotune.space.params import Scalar
from autotune.space.schema import Space
from autotune.targets import TARGETS
from tests.conftest import REPO, tiny_raw

BASE: dict[str, Scalar] = {
    "precision": "int4",
    "block_size": 32,
    "accuracy_level": 4,
    "is_symmetric": True,
    "algo_config": "default",
    "matmul_mixed_precision": "none",
    "nodes_to_exclude": "none",
    "enable_cuda_graph": False,
    "intra_op_threads": 0,
}


def _graph(head: dict[str, Any], layer_bits: tuple[int, ...] = (4, 4)) -> dict[str, dict[str, Any]]:
    nodes = {
        f"/model/layers.{i}/mlp/down_proj/MatMul_Q{b}": {
            "op": "MatMulNBits",
            "bits": b,
            "block_size": 32,
            "accuracy_level": 4,
        }
        for i, b in enumerate(layer_bits)
    }
    return {**nodes, "/lm_head/MatMul": head}


Q4 = {"op": "MatMulNBits", "bits": 4, "block_size": 32, "accuracy_level": 4}
Q8 = {**Q4, "bits": 8}
FLOAT = {"op": "MatMul"}


def test_a_graph_that_carries_the_recipe_passes() -> None:
    assert verify_recipe(_graph(Q4), BASE) == {"nodes": 3, "bits": {"4": 3}, "lm_head": "4-bit"}
    mixed = {**BASE, "matmul_mixed_precision": "last_matmul:int8,mixed_layers:int8"}
    assert verify_recipe(_graph(Q8, (8, 4)), mixed)["bits"] == {"4": 1, "8": 2}
    assert verify_recipe(_graph(FLOAT), {**BASE, "nodes_to_exclude": "lm_head"})["lm_head"] == "float"
    assert verify_recipe(_graph(Q8, (8, 8)), {**BASE, "precision": "int8"})["lm_head"] == "8-bit"


@pytest.mark.parametrize(
    ("graph", "params", "message"),
    [
        (_graph(Q4), {**BASE, "block_size": 64}, "ignored block_size=64"),
        (_graph(Q4), {**BASE, "matmul_mixed_precision": "last_matmul:int8"}, "LM head is 4-bit"),
        (_graph(Q8, (4, 4)), {**BASE, "matmul_mixed_precision": "mixed_layers:int8"}, "no 8-bit layer"),
        (_graph(Q4), {**BASE, "nodes_to_exclude": "lm_head"}, "asked for float"),
        (_graph(Q4, (8, 4)), BASE, "outside 4-bit"),
        ({"/lm_head/MatMul": FLOAT}, BASE, "no MatMulNBits node"),
    ],
)
def test_a_graph_that_ignored_the_recipe_fails(
    graph: dict[str, dict[str, Any]], params: dict[str, Scalar], message: str
) -> None:
    with pytest.raises(StepFailed, match=message):
        verify_recipe(graph, params)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("recipe", "bits", "head"),
    [
        ({}, {"4"}, "4-bit"),
        (
            {"algo_config": "k_quant", "matmul_mixed_precision": "last_matmul:int8,mixed_layers:int8"},
            {"4", "8"},
            "8-bit",
        ),
        ({"algo_config": "rtn", "nodes_to_exclude": "lm_head"}, {"4"}, "float"),
        ({"precision": "int8", "block_size": 64}, {"8"}, "8-bit"),
    ],
)
def test_the_builder_writes_each_recipe(
    recipe: dict[str, Scalar], bits: set[str], head: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("recipe")
    space = Space.model_validate(tiny_raw())
    model = prepare_model(space.model, Cache(root / "cache"), REPO)
    params = {**BASE, **recipe}
    ctx = PassContext(model, load_task_data(space.data, REPO), TARGETS["cpu"], 0, {"build": params})
    build = get_pass("build")()
    build.check(params, ctx)
    (root / "out").mkdir()
    facts = build.run(Artifact("hf", Path(model.path), model.fingerprint), params, ctx, root / "out")
    assert set(facts["matmulnbits"]["bits"]) == bits and facts["matmulnbits"]["lm_head"] == head


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["int8_per_tensor", "int8_per_channel"])
def test_a_quantized_kv_cache_is_calibrated_built_and_scored(
    scheme: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import json

    from evaluators import AccuracyEvaluator, EvalTask, ModelArtifact

    root = tmp_path_factory.mktemp("kv")
    space = Space.model_validate(tiny_raw())
    model = prepare_model(space.model, Cache(root / "cache"), REPO)
    data = load_task_data(space.data, REPO)
    params = {**BASE, "precision": "fp32", "kv_cache_quant": scheme}
    ctx = PassContext(model, data, TARGETS["cpu"], 0, {"build": params})
    build = get_pass("build")()
    assert "data" in build.key_parts(params, ctx)  # calibrated on the data: part of the key
    (root / "out").mkdir()
    facts = build.run(Artifact("hf", Path(model.path), model.fingerprint), params, ctx, root / "out")
    assert facts["kv_cache"] == {"scheme": scheme, "attention_nodes": 2, "bits": 8}
    scales = json.loads((root / "out" / "kv_cache_scales.json").read_text())
    k = scales["scales"]["k_scales"]
    assert len(k) == 2 and scales["qmax"] == 128.0
    assert (
        all(isinstance(s, list) and len(s) == 64 for s in k)
        if scheme.endswith("channel")
        else all(isinstance(s, float) and s > 0 for s in k)
    )
    # label scoring rewinds the KV cache: it must work on the quantized cache
    task = EvalTask(
        ("### Text: I am glad\n### The tone is:\n",), ("joy",), ("sadness", "joy", "fear", "surprise")
    )
    assert AccuracyEvaluator().evaluate(ModelArtifact(root / "out", "onnx-genai"), task)["n"] == 1
