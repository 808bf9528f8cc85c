"""genai_config.json read and written by its one module (``_genai_config``): what it gives a
provider (read so that loading a folder elsewhere keeps it), the decoder's layout, EOS ids and
thread settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autotune.errors import StepFailed
from autotune.passes.build import verify_provider_options
from evaluators import (
    GenaiConfigError,
    context_length,
    eos_token_ids,
    intra_op_threads,
    provider_options,
    read_decoder,
    set_intra_op_threads,
    set_provider_options,
)


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


# The parts of genai_config.json that onnxruntime_genai.models.builder writes for the tiny model.
BUILT = {
    "model": {
        "context_length": 512,
        "decoder": {
            "session_options": {"log_id": "onnxruntime-genai", "provider_options": []},
            "filename": "model.onnx",
            "head_size": 16,
            "inputs": {
                "input_ids": "input_ids",
                "attention_mask": "attention_mask",
                "past_key_names": "past_key_values.%d.key",
                "past_value_names": "past_key_values.%d.value",
            },
            "num_attention_heads": 4,
            "num_hidden_layers": 2,
            "num_key_value_heads": 4,
        },
        "eos_token_id": 2,
    }
}


def _built(tmp_path: Path, **model: object) -> Path:
    config = json.loads(json.dumps(BUILT))
    config["model"].update(model)
    (tmp_path / "genai_config.json").write_text(json.dumps(config))
    return tmp_path


def test_the_decoder_section_is_read_typed(tmp_path: Path) -> None:
    decoder = read_decoder(_built(tmp_path))
    assert (decoder.filename, decoder.num_hidden_layers, decoder.num_key_value_heads, decoder.head_size) == (
        "model.onnx", 2, 4, 16,
    )  # fmt: skip
    assert decoder.inputs["input_ids"] == "input_ids"
    assert decoder.past_names == ("past_key_values.%d.key", "past_key_values.%d.value")
    assert eos_token_ids(tmp_path) == (2,) and context_length(tmp_path) == 512
    assert intra_op_threads(tmp_path) == 0
    assert eos_token_ids(_built(tmp_path, eos_token_id=[2, 7])) == (2, 7)
    assert eos_token_ids(_built(tmp_path, eos_token_id=None)) == ()


def test_a_decoder_without_its_layout_is_refused_by_name(tmp_path: Path) -> None:
    config = json.loads(json.dumps(BUILT))
    del config["model"]["decoder"]["head_size"]
    (tmp_path / "genai_config.json").write_text(json.dumps(config))
    with pytest.raises(GenaiConfigError, match=r"model\.decoder\.head_size is missing or not an integer"):
        read_decoder(tmp_path)
    (tmp_path / "genai_config.json").write_text(json.dumps({"model": {}}))
    with pytest.raises(GenaiConfigError, match=r"no model\.decoder section"):
        read_decoder(tmp_path)
    with pytest.raises(OSError):
        read_decoder(tmp_path / "missing")
    # settings fall back to their defaults instead
    assert (intra_op_threads(tmp_path), context_length(tmp_path)) == (0, None)
    assert (intra_op_threads(tmp_path / "missing"), context_length(tmp_path / "missing")) == (0, None)


def test_threads_and_provider_options_are_written_where_they_are_read(tmp_path: Path) -> None:
    folder = _built(tmp_path)
    written = set_intra_op_threads(folder, 2)
    assert written == {"log_id": "onnxruntime-genai", "provider_options": [], "intra_op_num_threads": 2}
    assert intra_op_threads(folder) == 2
    assert set_provider_options(folder, "cuda", {"enable_cuda_graph": "1"}) == {"enable_cuda_graph": "1"}
    assert set_provider_options(folder, "cuda", {"device_id": "0"}) == {
        "enable_cuda_graph": "1",
        "device_id": "0",
    }
    assert provider_options(folder, "cuda") == {"enable_cuda_graph": "1", "device_id": "0"}
    assert provider_options(folder, "dml") == {}
    assert read_decoder(folder).filename == "model.onnx" and intra_op_threads(folder) == 2
    (tmp_path / "genai_config.json").write_text(json.dumps({"model": {}}))
    with pytest.raises(GenaiConfigError, match=r"no model\.decoder section"):
        set_intra_op_threads(tmp_path, 2)
