"""Contract: every registered pass runs end to end on the tiny model and gives what it declares.

A new pass is covered by registering it: its input is made by the registered passes that make
that kind of artifact (from the tiny model), with each pass's defaults made small.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from autotune.cache import Cache
from autotune.inputs.data import TaskData, load_task_data
from autotune.inputs.models import PreparedModel, prepare_model
from autotune.passes import Artifact, ArtifactKind, Pass, PassContext, get_pass, pass_names
from autotune.space.params import Scalar
from autotune.space.schema import Space
from autotune.targets import TARGETS
from tests.conftest import REPO, tiny_raw

pytestmark = pytest.mark.slow

# The smallest sensible value of a parameter, where its default would make the test slow.
SMALL: dict[str, Scalar] = {"steps": 1, "batch_size": 2, "max_length": 32, "rank": 4}


def _is_hf(path: Path) -> None:
    from transformers import AutoModelForCausalLM

    assert (path / "config.json").is_file() and list(path.glob("*.safetensors")), sorted(path.iterdir())
    assert (path / "tokenizer.json").is_file() or (path / "tokenizer_config.json").is_file()
    model = AutoModelForCausalLM.from_pretrained(path)
    assert not getattr(model, "is_quantized", False) and not hasattr(model, "peft_config")


def _is_adapter(path: Path) -> None:
    from peft import PeftConfig

    assert (path / "adapter_model.safetensors").is_file(), sorted(path.iterdir())
    assert PeftConfig.from_pretrained(str(path)).peft_type == "LORA"


def _is_onnx(path: Path) -> None:
    import onnx
    import onnxruntime_genai as og

    assert (path / "genai_config.json").is_file(), sorted(path.iterdir())
    graph = onnx.load(str(path / "model.onnx"), load_external_data=False).graph
    assert "input_ids" in [i.name for i in graph.input] and graph.node
    og.Model(str(path))  # ONNX Runtime GenAI loads it as a model (with its external data)


IS_KIND: dict[ArtifactKind, Callable[[Path], None]] = {"hf": _is_hf, "adapter": _is_adapter, "onnx": _is_onnx}


def small_params(cls: type[Pass], forced: Mapping[str, Scalar] = {}) -> dict[str, Scalar]:
    """Every parameter of ``cls`` at its default, made small, with ``forced`` values on top."""
    params: dict[str, Scalar] = {}
    for spec in cls.params:
        if spec.when is None or spec.when(params):
            params[spec.name] = forced.get(spec.name, SMALL.get(spec.name, spec.default))
    return params


class Tiny:
    """The tiny model and data, and each artifact made once, by the first pass that makes its kind."""

    def __init__(self, root: Path, target: str = "cpu") -> None:
        raw = tiny_raw()
        self.target = TARGETS[target]
        space = Space.model_validate(raw)
        self.root = root
        self.model: PreparedModel = prepare_model(space.model, Cache(root / "cache"), REPO)
        self.data: TaskData = load_task_data(space.data, REPO)
        self.made: dict[tuple[str, str], tuple[Artifact, dict[str, dict[str, Scalar]]]] = {}

    def ctx(self, upstream: Mapping[str, Mapping[str, Scalar]]) -> PassContext:
        return PassContext(self.model, self.data, self.target, 0, upstream)

    def run(
        self, name: str, params: dict[str, Scalar], source: Artifact, upstream: dict[str, dict[str, Scalar]]
    ) -> tuple[Artifact, dict[str, Any]]:
        p = get_pass(name)()
        chain = {**upstream, name: params}
        ctx = self.ctx(chain)
        p.check(params, ctx)
        out = self.root / f"{name}-{len(list(self.root.iterdir()))}"
        out.mkdir()
        facts = p.run(source, params, ctx, out)
        json.dumps(facts)  # what it returns is recorded as JSON
        return Artifact(p.output_kind, out, out.name), chain

    def source(
        self, kind: ArtifactKind, forced: Mapping[str, Mapping[str, Scalar]]
    ) -> tuple[Artifact, dict[str, dict[str, Scalar]]]:
        """An artifact of ``kind`` (with the chain that made it), respecting ``forced`` values."""
        if kind == "hf":
            return Artifact("hf", Path(self.model.path), self.model.fingerprint), {}
        maker = next(n for n in pass_names() if get_pass(n).output_kind == kind != get_pass(n).input_kind)
        key = (maker, json.dumps(forced.get(maker, {}), sort_keys=True))
        if key not in self.made:
            cls = get_pass(maker)
            source, upstream = self.source(cls.input_kind, {**forced, **cls.upstream_fixed})
            self.made[key] = self.run(maker, small_params(cls, forced.get(maker, {})), source, upstream)
        return self.made[key]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Tiny:
    return Tiny(tmp_path_factory.mktemp("passes"))


@pytest.mark.parametrize("name", pass_names())
def test_pass_runs_on_the_tiny_model(name: str, tiny: Tiny) -> None:
    cls = get_pass(name)
    source, upstream = tiny.source(cls.input_kind, cls.upstream_fixed)
    assert source.kind == cls.input_kind
    out, _ = tiny.run(name, small_params(cls), source, upstream)
    assert out.kind == cls.output_kind and any(out.path.iterdir())
    IS_KIND[cls.output_kind](out.path)
