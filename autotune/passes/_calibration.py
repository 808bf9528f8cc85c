"""Calibration inputs for quantizers: training text, and KV-cache scales measured on it.

Calibration only ever reads the training rows (prompt, label, EOS), never data the search
selects on or reports. The builder's static KV-cache schemes (``kv_cache_quant_scheme``, e.g.
int8_per_tensor) need one scale per layer (or per channel) for keys and values: the largest
magnitude the cache will hold, over the largest level. It is read from what the Hugging Face
model caches for the calibration text (keys after rotary embedding, as the built
GroupQueryAttention caches them).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autotune.passes._base import PassContext

__all__ = ["QMAX", "calibration_texts", "kv_cache_scales"]

QMAX = {"int8": 128.0}  # the levels' largest magnitude per bit width the builder rescales by


def calibration_texts(ctx: PassContext, tokenizer: Any, count: int) -> list[str]:
    """``count`` training rows (a seeded sample) as the model sees them in training: the prompt,
    the label and the EOS token."""
    rows = list(ctx.data.train)
    random.Random(ctx.seed).shuffle(rows)
    eos = tokenizer.eos_token or ""
    return [ctx.data.prompt.render(r.text, tokenizer) + r.label + eos for r in rows[:count]]


def _layers(cache: Any) -> list[tuple[Any, Any]]:
    """(keys, values) per layer, each [batch, kv_heads, seq, head_size]."""
    if hasattr(cache, "layers"):
        return [(layer.keys, layer.values) for layer in cache.layers]
    return list(zip(cache.key_cache, cache.value_cache, strict=True))


def kv_cache_scales(model: Any, tokenizer: Any, texts: list[str], scheme: str, out: Path) -> dict[str, Any]:
    """Write the scale file for ``scheme`` (e.g. "int8_per_channel") from ``texts`` run through
    ``model`` one at a time (no padding); return what was written."""
    import torch

    bits, _, granularity = scheme.partition("_")
    per_channel = granularity == "per_channel"
    keys: list[Any] = []
    values: list[Any] = []
    with torch.inference_mode():
        for text in texts:
            ids = tokenizer(text, return_tensors="pt").input_ids[:, :256]
            cache = model(input_ids=ids, use_cache=True).past_key_values
            for i, (k, v) in enumerate(_layers(cache)):
                # [1, heads, seq, dim] -> per channel (head-major) absmax over the tokens
                k_max = k[0].abs().permute(1, 0, 2).reshape(k.shape[2], -1).amax(0)
                v_max = v[0].abs().permute(1, 0, 2).reshape(v.shape[2], -1).amax(0)
                if i == len(keys):
                    keys.append(k_max)
                    values.append(v_max)
                else:
                    keys[i] = torch.maximum(keys[i], k_max)
                    values[i] = torch.maximum(values[i], v_max)

    def scale(absmax: Any) -> float | list[float]:
        floor = absmax.clamp(min=1e-6) / QMAX[bits]
        return [float(x) for x in floor] if per_channel else float(floor.max())

    data = {
        "scales": {"k_scales": [scale(k) for k in keys], "v_scales": [scale(v) for v in values]},
        "qmax": QMAX[bits],
        "calibration_texts": len(texts),
    }
    out.write_text(json.dumps(data))
    return data
