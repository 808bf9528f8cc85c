"""The training loop resumes exactly: a run cut at a rung and resumed equals the uninterrupted one."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from autotune.passes._training import batch_order, train


def test_batch_order_is_a_function_of_its_arguments() -> None:
    order = batch_order(10, 7, 4, seed=3)
    assert order == batch_order(10, 7, 4, seed=3) and order != batch_order(10, 7, 4, seed=4)
    assert [len(b) for b in order] == [4] * 7
    flat = [i for b in order for i in b]
    assert sorted(flat[:10]) == list(range(10))  # each epoch sees every example once
    assert batch_order(10, 3, 4, seed=3) == order[:3]  # a shorter run is a prefix


@pytest.mark.slow
def test_cut_and_resumed_run_equals_the_straight_run() -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4,
    )  # fmt: skip
    base = LlamaForCausalLM(cfg)
    lora = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.2, target_modules=["q_proj", "v_proj"])
    data = [([1, 2, 3, 4, 5 + i % 7], [-100, -100, 3, 4, 5 + i % 7]) for i in range(12)]
    kw: dict[str, Any] = dict(
        pad_id=0, steps=8, batch_size=4, learning_rate=1e-2, warmup_ratio=0.25, seed=1, device="cpu"
    )

    def weights(model: Any) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}

    torch.manual_seed(2)
    straight = get_peft_model(copy.deepcopy(base), lora)
    torch.manual_seed(2)
    cut = get_peft_model(copy.deepcopy(base), lora)
    full = train(straight, data, **kw)
    first = train(cut, data, stop=3, **kw)
    assert first["steps_done"] == 3 and len(first["losses"]) == 3
    assert any(
        not torch.equal(a, b) for a, b in zip(weights(cut).values(), weights(straight).values(), strict=True)
    )
    second = train(cut, data, resume=first["state"], **kw)
    assert second["steps_done"] == 8 and second["losses"] == full["losses"]
    for name, w in weights(straight).items():
        assert torch.equal(w, weights(cut)[name]), name
