"""Model sources: a random model built from a config, then the same folder used as a local path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autotune.cache import Cache
from autotune.errors import AutotuneError
from autotune.inputs.models import prepare_model
from autotune.space.schema import ModelSpec
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
    import autotune.inputs.models

    checked: list[str | None] = []
    # a hub, reached
    monkeypatch.setattr(autotune.inputs.models, "_check_hub", lambda s: checked.append(s.id))
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
    from autotune.inputs.data import PromptFormat
    from autotune.inputs.models import load_tokenizer

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


@pytest.mark.slow
def test_a_gguf_tokenizer_is_read_once_per_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first read parses the GGUF and keeps the tokenizer; the next one loads what was kept,
    and encodes, templates and numbers its special tokens exactly as the GGUF's does."""
    from autotune.cache import file_sha256
    from autotune.inputs.models import _gguf_tokenizer, _packaged_gguf

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    gguf = _packaged_gguf("smollm2-135m-instruct")
    source = (str(gguf.parent), gguf.name, file_sha256(gguf))
    from transformers import AutoTokenizer

    from_gguf = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    _gguf_tokenizer(*source)
    entries = [p for p in (tmp_path / "autotune" / "tokenizer").iterdir() if not p.name.endswith(".lock")]
    (kept,) = entries  # one folder, no temporary left
    assert (kept / "tokenizer_config.json").is_file()
    from_kept = _gguf_tokenizer(*source)
    assert type(from_kept) is type(from_gguf) and from_kept.name_or_path == str(kept)
    texts = ["### Text: I miss my old friends.\n### The tone is:\nsadness", "é€漢字 <|im_end|>", " a\n\n\tb"]
    for text in texts:
        assert from_kept(text)["input_ids"] == from_gguf(text)["input_ids"]
    chat = [{"role": "user", "content": "hi"}]
    assert from_kept.apply_chat_template(chat, tokenize=False) == from_gguf.apply_chat_template(
        chat, tokenize=False
    )
    ids = ("pad_token_id", "eos_token_id", "bos_token_id")
    assert [getattr(from_kept, i) for i in ids] == [getattr(from_gguf, i) for i in ids]
    assert len(from_kept) == len(from_gguf)
