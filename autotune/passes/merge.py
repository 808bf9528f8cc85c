"""Merge a LoRA adapter into its base model: adapter -> plain Hugging Face folder."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from autotune.passes._base import Artifact, OliveMapping, Pass, PassContext
from autotune.passes._registry import register_pass
from autotune.space.params import Scalar

__all__ = ["Merge"]


class Merge(Pass):
    """Fold the adapter's low-rank update into the base weights, on the CPU, in the dtype the base
    is stored in (fp32 for the converted GGUF models; a bf16 base stays bf16, half the disk)."""

    name = "merge"
    input_kind = "adapter"
    output_kind = "hf"
    olive: ClassVar[OliveMapping | None] = OliveMapping(type="MergeAdapterWeights")

    def run(
        self, source: Artifact, params: Mapping[str, Scalar], ctx: PassContext, out: Path
    ) -> dict[str, Any]:
        from peft import PeftModel

        from autotune.inputs.models import load_causal_lm, load_tokenizer

        base = load_causal_lm(ctx.model, dtype="auto")
        merged = PeftModel.from_pretrained(base, str(source.path)).merge_and_unload()
        merged.save_pretrained(out)
        load_tokenizer(ctx.model.path, ctx.model.trust_remote_code).save_pretrained(out)
        return {}


register_pass(Merge)
