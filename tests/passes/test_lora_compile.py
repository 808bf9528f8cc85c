"""lora.compile: the compiled decoder layers train the same adapter as the eager ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autotune.passes import get_pass
from tests.passes.test_run_every_pass import Tiny, small_params

pytestmark = pytest.mark.slow


def test_compiled_layers_give_the_eager_losses(tmp_path: Path) -> None:
    from torch._dynamo.utils import counters

    tiny = Tiny(tmp_path)
    source, upstream = tiny.source("hf", {})
    losses = {}
    for compiled in (False, True):
        counters.clear()
        params = small_params(get_pass("lora"), {"steps": 3, "dropout": 0.0, "compile": compiled})
        out, _ = tiny.run("lora", params, source, upstream)
        losses[compiled] = json.loads((out.path / "train_log.json").read_text())["losses"]
        assert (out.path / "adapter_model.safetensors").is_file()
        assert (counters["stats"]["unique_graphs"] > 0) is compiled  # dynamo compiled the layers
    assert losses[True] == pytest.approx(losses[False], rel=1e-3)
