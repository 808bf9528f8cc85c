"""Configs as onnxruntime-genai 0.18's model builder reads them.

transformers 5 writes RoPE settings as ``rope_parameters`` (keyed by ``rope_type``, and per layer
type for models that mix sliding and full attention); the builder still reads some of them under
their transformers-4 names, and fails after a fine-tune was paid for:

- Phi-3.5 / Phi-4-mini (long RoPE): ``rope_parameters["type"]`` -> ``KeyError: 'type'``;
- Gemma 3: a flat ``rope_parameters`` and ``rope_local_base_freq`` -> ``KeyError: 'rope_type'``.

``adapt(config)`` adds those names to the loaded config object, changing no value the model
computes with. The builder's child process applies it to every config ``AutoConfig`` loads there
(``_builder_proc``). This file imports nothing of autotune: it is loaded by path in that process.
"""

from __future__ import annotations

from typing import Any

__all__ = ["adapt"]


def adapt(config: Any) -> Any:
    """``config`` (a transformers PretrainedConfig) with the names the builder reads; returned."""
    rope = getattr(config, "rope_parameters", None)
    if not isinstance(rope, dict):
        return config
    if "full_attention" in rope and isinstance(rope["full_attention"], dict):
        # per layer type: the builder takes the global layers' settings flat and the local
        # (sliding) layers' theta as rope_local_base_freq (Gemma 3)
        local = rope.get("sliding_attention") or {}
        if "rope_theta" in local and getattr(config, "rope_local_base_freq", None) is None:
            config.rope_local_base_freq = local["rope_theta"]
        config.rope_parameters = dict(rope["full_attention"])
        rope = config.rope_parameters
    if "rope_type" in rope and "type" not in rope:
        rope["type"] = rope["rope_type"]
    return config
