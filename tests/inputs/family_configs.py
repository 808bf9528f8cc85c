"""Tiny configs of every model family, each with its family's layout at toy sizes: head layout
and GQA, tied or untied embeddings, fused projections (Phi-3's qkv_proj and gate_up_proj),
sliding windows shorter than the test prompts (so the window slides), soft-capping, partial and
long RoPE (Phi-3.5 / Phi-4-mini), Granite's multipliers, LFM2's convolution layers, MoE blocks.
Read by the family matrix (test_families.py) and benchmarks/families.py."""

from __future__ import annotations

from typing import Any

__all__ = ["BASE", "BOS", "CONFIGS", "REFUSED_CONFIGS"]

BASE: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "max_position_embeddings": 512,
}
_SLIDING = ["sliding_attention", "full_attention"]


def _longrope(rotary_dims: int) -> dict[str, Any]:
    n = rotary_dims // 2
    return {
        "rope_type": "longrope",
        "rope_theta": 10000.0,
        "short_factor": [1.0 + 0.01 * i for i in range(n)],
        "long_factor": [1.5 + 0.05 * i for i in range(n)],
    }


# name -> config (over BASE); the name is the model_type unless a variant follows a dash
CONFIGS: dict[str, dict[str, Any]] = {
    "llama": {"model_type": "llama", "tie_word_embeddings": True},
    "mistral": {"model_type": "mistral", "sliding_window": None},
    "qwen2": {"model_type": "qwen2", "tie_word_embeddings": True},
    "qwen3": {"model_type": "qwen3", "tie_word_embeddings": True},
    "gemma": {"model_type": "gemma", "hidden_activation": "gelu_pytorch_tanh"},
    "gemma2": {
        "model_type": "gemma2",
        "sliding_window": 8,
        "query_pre_attn_scalar": 16,
        "attn_logit_softcapping": 50.0,
        "final_logit_softcapping": 30.0,
        "layer_types": _SLIDING,
    },
    "gemma3_text": {
        "model_type": "gemma3_text",
        "sliding_window": 8,
        "query_pre_attn_scalar": 16,
        "layer_types": _SLIDING,
    },
    "phi3": {"model_type": "phi3", "num_key_value_heads": 4, "original_max_position_embeddings": 512},
    "phi3-longrope": {  # Phi-3.5 / Phi-4-mini: long RoPE, partial rotary, tied embeddings
        "model_type": "phi3",
        "hidden_size": 128,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 64,
        "partial_rotary_factor": 0.75,
        "tie_word_embeddings": True,
        "original_max_position_embeddings": 128,
        "rope_parameters": _longrope(48),
    },
    "phi": {
        "model_type": "phi",
        "hidden_size": 128,
        "num_key_value_heads": 4,
        "head_dim": 32,
        "partial_rotary_factor": 0.5,
    },
    "granite": {
        "model_type": "granite",
        "embedding_multiplier": 12.0,
        "residual_multiplier": 0.22,
        "attention_multiplier": 0.0625,
        "logits_scaling": 8.0,
        "tie_word_embeddings": True,
    },
    "smollm3": {"model_type": "smollm3", "tie_word_embeddings": True},
    "ernie4_5": {"model_type": "ernie4_5", "tie_word_embeddings": True},
    "hunyuan_v1_dense": {"model_type": "hunyuan_v1_dense"},
    "lfm2": {"model_type": "lfm2", "layer_types": ["conv", "full_attention"], "block_ff_dim": 128},
    "lfm2_moe": {
        "model_type": "lfm2_moe",
        "layer_types": ["conv", "full_attention"],
        "num_experts": 4,
        "num_experts_per_tok": 2,
        "moe_intermediate_size": 64,
        "num_dense_layers": 1,
    },
    "exaone": {"model_type": "exaone", "tie_word_embeddings": True},
    "internlm3": {"model_type": "internlm3"},
    "iquestcoder": {"model_type": "iquestcoder"},
    "gpt_oss": {
        "model_type": "gpt_oss",
        "num_local_experts": 4,
        "num_experts_per_tok": 2,
        "sliding_window": 8,
        "layer_types": _SLIDING,
    },
}

# families whose tokenizers put a BOS first (Gemma's, Llama 3's): their tiny models' does too
BOS = frozenset({"llama", "gemma", "gemma2", "gemma3_text"})

# families refused for a graph that disagrees with transformers: the matrix checks it still does
REFUSED_CONFIGS: dict[str, dict[str, Any]] = {
    "olmo": {"model_type": "olmo"},
    "nemotron": {"model_type": "nemotron", "partial_rotary_factor": 0.5, "head_dim": 32},
    "granitemoehybrid": {
        "model_type": "granitemoehybrid",
        "layer_types": ["attention", "attention"],
        "num_local_experts": 0,
        "shared_intermediate_size": 128,
    },
}
