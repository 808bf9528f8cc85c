"""Model sources: a random model built from a config, then the same folder used as a local path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autotune.cache import Cache
from autotune.errors import AutotuneError
from autotune.models import prepare_model
from autotune.space import ModelSpec
from tests.conftest import tiny_raw


@pytest.mark.slow
def test_random_then_local_folder(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    spec = ModelSpec.model_validate(tiny_raw()["model"])
    built = prepare_model(spec, cache, tmp_path)
    again = prepare_model(spec, cache, tmp_path)
    assert built == again and (Path(built.path) / "config.json").is_file()
    assert (Path(built.path) / "tokenizer.json").is_file()

    local = prepare_model(ModelSpec(path=built.path), cache, tmp_path)
    assert local.path == built.path and len(local.fingerprint) == 64
    assert prepare_model(ModelSpec(path=built.path), cache, tmp_path).fingerprint == local.fingerprint
    config = Path(built.path) / "config.json"
    config.write_text(config.read_text() + " ")
    os.utime(config, ns=(1, 1))
    assert prepare_model(ModelSpec(path=built.path), cache, tmp_path).fingerprint != local.fingerprint


def test_hub_id_is_checked_then_kept_as_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = ModelSpec(id="microsoft/Phi-3-mini-4k-instruct")
    with pytest.raises(AutotuneError, match=r"model\.id: 'microsoft/Phi-3-mini-4k-instruct' cannot"):
        prepare_model(spec, Cache(tmp_path), tmp_path)  # not in this machine's HF cache, no hub
    import autotune.models

    checked: list[str | None] = []
    monkeypatch.setattr(autotune.models, "_check_hub", lambda s: checked.append(s.id))  # a hub, reached
    model = prepare_model(spec, Cache(tmp_path), tmp_path)
    assert checked == [spec.id]
    assert model.path == "microsoft/Phi-3-mini-4k-instruct" and not model.trust_remote_code


def test_missing_sources_are_clear(tmp_path: Path) -> None:
    with pytest.raises(AutotuneError, match="not a Hugging Face model folder"):
        prepare_model(ModelSpec(path="nowhere"), Cache(tmp_path), tmp_path)
    with pytest.raises(AutotuneError, match=r"model\.gguf: file not found"):
        prepare_model(ModelSpec(gguf="x.gguf"), Cache(tmp_path), tmp_path)


def test_exactly_one_source() -> None:
    with pytest.raises(ValueError, match="exactly one of"):
        ModelSpec(id="a", path="b")


@pytest.mark.slow
def test_chat_template_prompt_ends_at_the_answer(tmp_path: Path) -> None:
    from autotune.data import PromptFormat
    from autotune.models import load_tokenizer

    built = prepare_model(ModelSpec.model_validate(tiny_raw()["model"]), Cache(tmp_path / "c"), tmp_path)
    tok = load_tokenizer(built.path)
    fmt = PromptFormat("phrase", "tone", None, "Tone of: {phrase}", "Answer with one word.")
    prompt = fmt.render("I won!", tok)
    assert "Tone of: I won!" in prompt and "Answer with one word." in prompt
    assert prompt.rstrip().endswith("assistant")  # SmolLM2's template opens the assistant turn


def test_a_random_model_is_stored_in_its_dtype(tmp_path: Path) -> None:
    import torch
    from safetensors import safe_open

    raw = tiny_raw()["model"]
    cache = Cache(tmp_path / "cache")
    fp32 = prepare_model(ModelSpec.model_validate(raw), cache, tmp_path)
    raw["random"]["dtype"] = "bfloat16"
    bf16 = prepare_model(ModelSpec.model_validate(raw), cache, tmp_path)
    assert bf16.fingerprint != fp32.fingerprint
    for model, want in ((fp32, torch.float32), (bf16, torch.bfloat16)):
        (weights,) = Path(model.path).glob("*.safetensors")
        with safe_open(str(weights), "pt") as f:
            assert {f.get_tensor(k).dtype for k in f.keys()} == {want}  # noqa: SIM118
