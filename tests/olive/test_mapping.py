"""Each pass declares its own Olive words; import and export read them from the pass registry."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from autotune.errors import AutotuneError
from autotune.olive import OliveConfigError, read_olive_config
from autotune.olive._build import build_space
from autotune.olive._write import olive_config
from autotune.passes import Artifact, OliveMapping, Pass, PassContext, _registry, get_pass, pass_names
from autotune.space.params import ParamSpec, Scalar

_SPACE = {"data": {"path": "/data/train.jsonl", "template": "{phrase} => {tone}", "label_column": "tone"}}


def _write(tmp_path: Path, params: dict[str, Any], chain: list[str]) -> Path:
    cfg = olive_config(params, chain, _SPACE, "/models/tiny", "cpu", 0)
    path = tmp_path / "olive-config.json"
    path.write_text(json.dumps(cfg))
    return path


class _Unmapped(Pass):
    """A pass that declares no Olive mapping (as a new pass would before it gets one)."""

    name = "unmapped"
    input_kind = "onnx"
    output_kind = "onnx"
    params: ClassVar[tuple[ParamSpec, ...]] = (ParamSpec("level", "int", 1, "a level"),)

    def run(
        self, source: Artifact, params: Mapping[str, Scalar], ctx: PassContext, out: Path
    ) -> dict[str, Any]:
        return {}


@pytest.mark.parametrize("name", pass_names())
def test_every_pass_declares_a_mapping_or_export_refuses_it(name: str, tmp_path: Path) -> None:
    cls = get_pass(name)
    if cls.olive is None:
        with pytest.raises(AutotuneError, match=f"{name!r} has no Olive mapping"):
            _write(tmp_path, {}, [name])
        return
    own = {spec.name for spec in cls.params}
    m = cls.olive
    assert m.type and set(m.params) <= own and set(m.training_args) <= own and m.optional <= set(m.params)
    assert set(m.read.values()) <= own
    assert _write(tmp_path, {}, [name]).is_file()


def test_export_refuses_a_pass_without_a_mapping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(_registry._PASSES, "unmapped", _Unmapped)
    with pytest.raises(AutotuneError, match="'unmapped' has no Olive mapping") as err:
        _write(tmp_path, {"build.precision": "fp32", "unmapped.level": 2}, ["build", "unmapped"])
    assert "\n" not in str(err.value)


_INT4 = {
    "lora.rank": 16,
    "lora.alpha": 32,
    "lora.dropout": 0.1,
    "lora.learning_rate": 0.002,
    "lora.target_modules": "q_proj,v_proj",
    "lora.steps": 7,
    "lora.batch_size": 4,
    "lora.warmup_ratio": 0.2,
    "lora.max_length": 128,
    "lora.max_grad_norm": 0.5,
    "build.precision": "int4",
    "build.block_size": 64,
    "build.accuracy_level": 2,
    "build.is_symmetric": False,
    "build.algo_config": "k_quant",
    "build.matmul_mixed_precision": "last_matmul:int8,mixed_layers:int8",
    "build.nodes_to_exclude": "lm_head",
}
_QUANTIZED = {
    **{k.replace("lora.", "qlora."): v for k, v in _INT4.items() if k.startswith("lora.")},
    "qlora.target_modules": "all-linear",
    "qlora.quant_type": "fp4",
    "qlora.double_quant": False,
    "build.precision": "fp32",
    "quantize.per_channel": True,
    "quantize.reduce_range": True,
}


@pytest.mark.parametrize(
    ("chain", "params"),
    [(["lora", "merge", "build"], _INT4), (["qlora", "merge", "build", "quantize"], _QUANTIZED)],
)
def test_a_written_config_reads_back_as_the_same_chain_and_values(
    chain: list[str], params: dict[str, Any], tmp_path: Path
) -> None:
    wf = read_olive_config(_write(tmp_path, params, chain))
    space = build_space(wf, {"train": 32})
    assert space["chains"] == [chain]
    for name in chain:
        cls = get_pass(name)
        assert cls.olive is not None
        written = {
            *cls.olive.params,
            *cls.olive.training_args,
            *cls.olive.extra_options,
            *(["max_length"] if cls.olive.fine_tunes else []),
        }
        got = space["passes"][name]
        for spec in cls.params:
            key = f"{name}.{spec.name}"
            want = params[key] if spec.name in written and key in params else spec.default
            value = got[spec.name]
            if spec.name == "target_modules" and isinstance(value, list):
                value = ",".join(value)
            assert value == want, key


def test_a_recipe_travels_in_the_builders_own_words(tmp_path: Path) -> None:
    cfg = json.loads(_write(tmp_path, _INT4, ["lora", "merge", "build"]).read_text())
    assert cfg["passes"]["build"]["extra_options"] == {
        "is_symmetric": False,
        "algo_config": "k_quant",
        "matmul_mixed_precision": "last_matmul:int8,mixed_layers:int8",
        "nodes_to_exclude": "/lm_head/MatMul",
    }
    plain = {k: v for k, v in _INT4.items() if not k.startswith("build.") or k == "build.precision"}
    cfg = json.loads(_write(tmp_path, plain, ["lora", "merge", "build"]).read_text())
    assert "extra_options" not in cfg["passes"]["build"]  # defaults are the builder's own


def test_a_value_olive_cannot_express_is_refused_not_dropped(tmp_path: Path) -> None:
    chain = ["lora", "merge", "build"]
    params = {**_INT4, "build.precision": "fp32", "build.kv_cache_quant": "int8_per_tensor"}
    with pytest.raises(
        AutotuneError, match=r"build\.kv_cache_quant=int8_per_tensor has no equivalent"
    ) as err:
        _write(tmp_path, params, chain)
    assert "\n" not in str(err.value)
    # a runtime setting the pass declares harmless to drop, and defaults, export fine
    assert _write(tmp_path, {**_INT4, "build.intra_op_threads": 2, "build.kv_cache_quant": "none"}, chain)


def test_an_unknown_pass_type_names_every_supported_one(tmp_path: Path) -> None:
    path = _write(tmp_path, {"build.precision": "fp32"}, ["build"])
    cfg = json.loads(path.read_text())
    cfg["passes"]["build"]["type"] = "OnnxStaticQuantization"
    path.write_text(json.dumps(cfg))
    with pytest.raises(OliveConfigError) as err:
        read_olive_config(path)
    msg = str(err.value)
    assert "\n" not in msg and "'OnnxStaticQuantization' is not supported" in msg
    types = [t for n in pass_names() if (m := get_pass(n).olive) is not None for t in m.types]
    assert types and all(t in msg.split("supported: ")[1].split(", ") for t in types)


def test_a_new_pass_is_imported_through_its_own_mapping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Mapped(_Unmapped):
        olive: ClassVar[OliveMapping | None] = OliveMapping(type="MyOlivePass", params={"level": "my_level"})

    monkeypatch.setitem(_registry._PASSES, "unmapped", Mapped)
    path = _write(tmp_path, {"build.precision": "fp32", "unmapped.level": 3}, ["build", "unmapped"])
    assert json.loads(path.read_text())["passes"]["unmapped"] == {"type": "MyOlivePass", "my_level": 3}
    space = build_space(read_olive_config(path), {"train": 32})
    assert space["chains"] == [["build", "unmapped"]] and space["passes"]["unmapped"] == {"level": 3}
