"""What genai_config.json gives a provider: read so that loading a folder elsewhere keeps it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autotune.errors import StepFailed
from autotune.passes.build import verify_provider_options
from evaluators import provider_options


def _folder(tmp_path: Path, providers: object) -> Path:
    config = {"model": {"decoder": {"session_options": {"provider_options": providers}}}}
    (tmp_path / "genai_config.json").write_text(json.dumps(config))
    return tmp_path


def test_the_options_of_the_named_provider_are_read(tmp_path: Path) -> None:
    folder = _folder(tmp_path, [{"dml": {"x": "1"}}, {"cuda": {"enable_cuda_graph": "1", "device_id": 0}}])
    assert provider_options(folder, "cuda") == {"enable_cuda_graph": "1", "device_id": "0"}
    assert provider_options(folder, "dml") == {"x": "1"}
    assert provider_options(folder, "webgpu") == {}


@pytest.mark.parametrize("providers", [[], {"cuda": {}}, "cuda", None])
def test_a_config_without_them_gives_none(tmp_path: Path, providers: object) -> None:
    assert provider_options(_folder(tmp_path, providers), "cuda") == {}
    assert provider_options(tmp_path / "missing", "cuda") == {}


def test_a_cuda_graph_the_builder_did_not_write_fails_the_build(tmp_path: Path) -> None:
    folder = _folder(tmp_path, [{"cuda": {"enable_cuda_graph": "0"}}])
    assert verify_provider_options(folder, {"enable_cuda_graph": False}, "cuda") == {"enable_cuda_graph": "0"}
    with pytest.raises(StepFailed, match="enable_cuda_graph='0' for cuda, asked True"):
        verify_provider_options(folder, {"enable_cuda_graph": True}, "cuda")
    on = _folder(tmp_path, [{"cuda": {"enable_cuda_graph": "1"}}])
    assert verify_provider_options(on, {"enable_cuda_graph": True}, "cuda")["enable_cuda_graph"] == "1"
