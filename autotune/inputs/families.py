"""Model families: which causal LM architectures autotune carries from a LoRA fine-tune to an
ONNX Runtime GenAI model, and why the others are refused before any training.

A family is a transformers ``model_type`` whose causal LM class onnxruntime-genai's model builder
(0.18) has a graph for. Each one listed was measured end to end on a tiny random model of its
layout (tests/inputs/test_families.py: LoRA, merge, the fp32/int8/int4 builds, ORT GenAI against
PyTorch); the README's family table gives the figures. What a model needs is read from its
config (``check_config``): a family the builder has no graph for, or whose graph disagrees with
transformers, a rotary width ONNX Runtime's attention refuses, a sliding window longer than the
context, a precision the builder cannot make of it. LoRA target groups (``attention``, ``mlp``)
are resolved from the model's own module tree (``linear_modules``, ``resolve_targets``), so one
space works across families.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from autotune.errors import ModelError

__all__ = [
    "ALL_LINEAR",
    "FAMILIES",
    "GROUPS",
    "Family",
    "check_config",
    "check_precisions",
    "check_targets",
    "family_of",
    "linear_modules",
    "linear_paths",
    "resolve_targets",
]

ALL_LINEAR = "all-linear"


@dataclass(frozen=True)
class Family:
    """A model_type autotune knows: what it is, and what the builder or runtime refuses of it."""

    model_type: str
    name: str  # what users call its models
    refused: str = ""  # why no model of this family can be carried (measured); "" = supported
    precisions: tuple[str, ...] = ()  # the only build precisions that work; () = every one


def _disagrees(low: float, high: float) -> str:
    """The reason of a family whose built graph computes something else than transformers."""
    return (
        f"the model builder's graph for it disagrees with transformers at fp32 (logits off by "
        f"{low:g} to {high:g} on tiny models, where the carried families agree within 1e-5 and "
        "Phi-2's approximated GELU within 0.01)"
    )


FAMILIES: dict[str, Family] = {
    f.model_type: f
    for f in (
        Family("llama", "Llama 2 / 3.x, SmolLM2"),
        # transformers runs these as LlamaForCausalLM: the builder's Llama graph
        Family("exaone", "EXAONE"),
        Family("internlm3", "InternLM3"),
        Family("iquestcoder", "IQuest-Coder"),
        Family("mistral", "Mistral"),
        Family("qwen2", "Qwen2 / Qwen2.5"),
        Family("qwen3", "Qwen3"),
        Family("gemma", "Gemma"),
        Family("gemma2", "Gemma 2"),
        Family("gemma3_text", "Gemma 3 (text)"),
        Family("phi3", "Phi-3 / Phi-3.5 / Phi-4-mini"),
        Family("phi", "Phi-1.5 / Phi-2"),
        Family("granite", "Granite 3.x"),
        Family("smollm3", "SmolLM3"),
        Family("ernie4_5", "ERNIE 4.5"),
        Family("hunyuan_v1_dense", "Hunyuan dense"),
        Family("lfm2", "LFM2"),
        Family("lfm2_moe", "LFM2-MoE"),
        Family("gpt_oss", "gpt-oss", precisions=("fp32",)),
        Family("olmo", "OLMo", refused=_disagrees(0.066, 0.52)),
        Family("nemotron", "Nemotron", refused=_disagrees(0.0072, 0.077)),
        Family("granitemoehybrid", "Granite 4.0", refused=_disagrees(0.012, 0.90)),
    )
}

# why the builder cannot make some precisions of a family (one line, after "build.precision X")
_PRECISION_WHY = {
    "gpt_oss": "the builder quantizes gpt-oss only from its original MXFP4 checkpoint, which a "
    "merged fine-tune is not",
}

# LoRA target groups: a module belongs to a group when a component of its path says so
GROUPS: dict[str, re.Pattern[str]] = {
    "attention": re.compile(r"^(self_attn|attn|attention|self_attention)$"),
    "mlp": re.compile(r"^(mlp|feed_forward|ffn|shared_mlp|block_sparse_moe)$"),
}


def family_of(config: Any) -> Family:
    """The family of a transformers config, or a ModelError saying why none carries it."""
    model_type = getattr(config, "model_type", None)
    family = FAMILIES.get(str(model_type))
    if family is None:
        known = ", ".join(sorted(k for k, f in FAMILIES.items() if not f.refused))
        raise ModelError(
            f"model: {model_type!r} is not a family autotune carries to ONNX Runtime GenAI (the "
            f"model builder has no graph for it, or it was not measured); supported: {known}"
        )
    if family.refused:
        raise ModelError(f"model: {family.name} ({model_type}) is refused: {family.refused}")
    return family


def _rotary_dims(config: Any) -> int | None:
    heads = getattr(config, "num_attention_heads", None)
    hidden = getattr(config, "hidden_size", None)
    head_dim = getattr(config, "head_dim", None) or (hidden // heads if hidden and heads else None)
    if not isinstance(head_dim, int):
        return None
    rope = getattr(config, "rope_parameters", None) or {}
    factor = getattr(config, "partial_rotary_factor", None) or rope.get("partial_rotary_factor") or 1.0
    return int(head_dim * float(factor))


def check_config(config: Any) -> Family:
    """Refuse, in one ModelError line, a model the builder or ONNX Runtime GenAI cannot run;
    the model's family otherwise."""
    family = family_of(config)
    name = f"{family.name} ({config.model_type})"
    rotary = _rotary_dims(config)
    if rotary is not None and rotary % 16:
        raise ModelError(
            f"model: {name} rotates {rotary} dims of each head (head_dim x partial_rotary_factor); "
            "ONNX Runtime's attention needs a multiple of 16"
        )
    window = getattr(config, "sliding_window", None)
    context = getattr(config, "max_position_embeddings", None)
    sliding = getattr(config, "use_sliding_window", True) is not False
    if sliding and isinstance(window, int) and isinstance(context, int) and window > context:
        raise ModelError(
            f"model: {name} has sliding_window {window} > max_position_embeddings {context}; ONNX "
            "Runtime GenAI's KV cache must hold the whole window: lower sliding_window"
        )
    return family


def check_precisions(family: Family, precisions: Iterable[str], where: str) -> None:
    """A precision the builder cannot make of ``family`` is refused, naming ``where`` it is set."""
    if not family.precisions:
        return
    bad = [p for p in precisions if p not in family.precisions]
    if bad:
        why = _PRECISION_WHY.get(family.model_type, "the model builder cannot make it")
        raise ModelError(
            f"{where}: {', '.join(bad)} cannot be built for {family.name}: {why}; use "
            f"{', '.join(family.precisions)}"
        )


def linear_modules(config: Any) -> list[str]:
    """Paths of the model's linear layers (the output head excluded), from its config alone:
    the model is made on the meta device, without weights."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return linear_paths(model)


def linear_paths(model: Any) -> list[str]:
    """Paths of a loaded model's linear layers, its output head excluded."""
    import torch

    head = model.get_output_embeddings()
    return [
        name
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and module is not head
    ]


def _group(modules: Iterable[str], group: str) -> list[str]:
    pattern = GROUPS[group]
    return [m for m in modules if any(pattern.match(part) for part in m.split(".")[:-1])]


def _named(modules: Iterable[str], name: str) -> list[str]:
    """The modules peft's ``target_modules`` entry ``name`` selects (the path or its suffix)."""
    return [m for m in modules if m == name or m.endswith("." + name)]


def _names(value: str) -> list[str]:
    return [n.strip() for n in value.split(",") if n.strip()]


def check_targets(values: Iterable[str], modules: list[str], family: Family, where: str) -> None:
    """Every module name or group in LoRA's ``target_modules`` search values exists in the model."""
    leaves = sorted({m.rsplit(".", 1)[-1] for m in modules})
    for value in values:
        if value == ALL_LINEAR:
            continue
        names = _names(value)
        if ALL_LINEAR in names:
            others = ", ".join(n for n in names if n != ALL_LINEAR)
            raise ModelError(
                f"{where}: {value!r} lists {ALL_LINEAR} among module names; it stands alone: "
                f"write [[{others}], {ALL_LINEAR}] for a choice of both"
            )
        for name in names:
            found = _group(modules, name) if name in GROUPS else _named(modules, name)
            if not found:
                what = (
                    f"the group {name} matches no linear layer"
                    if name in GROUPS
                    else (f"{name} is not a linear layer")
                )
                raise ModelError(
                    f"{where}: {what} of {family.name} ({family.model_type}), whose linear layers "
                    f"are {', '.join(leaves)}; name those, or {', '.join(GROUPS)} or {ALL_LINEAR}"
                )


def resolve_targets(value: str, modules: list[str]) -> str | list[str]:
    """peft's ``target_modules`` for one search value: ``all-linear`` as is; module names as a
    list; a value naming a group (``attention``, ``mlp``) as the full paths of its layers."""
    if value == ALL_LINEAR:
        return ALL_LINEAR
    out: list[str] = []
    for name in _names(value):
        out += _group(modules, name) if name in GROUPS else [name]
    return list(dict.fromkeys(out))
