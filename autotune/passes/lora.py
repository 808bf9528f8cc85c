"""LoRA and QLoRA fine-tuning: base model + task data -> a peft adapter folder."""

from __future__ import annotations

import importlib.util
import json
import logging
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from autotune.errors import InvalidCombination
from autotune.inputs.families import ALL_LINEAR, linear_paths, resolve_targets
from autotune.passes._base import Artifact, OliveMapping, Pass, PassContext
from autotune.passes._registry import register_pass
from autotune.passes._training import encode_examples, train
from autotune.space.params import Choice, FloatRange, ParamSpec, Scalar

__all__ = ["LoRA", "QLoRA"]

_STATE = "trainer_state.pt"  # a rung's optimizer, scheduler and RNG state (see _training.train)


def _target_modules(value: Scalar, model: Any) -> str | list[str]:
    """peft's ``target_modules`` for a search value: all-linear, module names, or the groups
    attention and mlp resolved to this model's own layers (``inputs.families``)."""
    return resolve_targets(str(value), linear_paths(model))


def _compile_layers(model: Any) -> None:
    """Compile each decoder layer of a peft model in place ("regional" compilation: the layers
    share one graph). The embedding output is made to require grad so that the first layer sees
    the same input as the others and needs no graph of its own (measured on the H200 with a
    Phi-3-mini-shaped model: 26.6k tokens/s, 55% of the bf16 matmul rate, against 17.2k
    uncompiled; benchmarks/gpu/lora_speed.py)."""
    import torch

    base = model.get_base_model()
    layers = getattr(getattr(base, "model", None), "layers", None)
    if not isinstance(layers, torch.nn.ModuleList):
        raise InvalidCombination(f"lora.compile: no decoder layers found in {type(base).__name__}")
    base.enable_input_require_grads()
    for layer in layers:
        layer.compile()


# Olive's LoRA keys (both schemas) <-> autotune lora parameters.
_LORA_OLIVE = OliveMapping(
    type="LoRA",
    params={"rank": "r", "alpha": "alpha", "dropout": "lora_dropout", "target_modules": "target_modules"},
    also_read={"lora_r": "rank", "lora_alpha": "alpha", "dropout": "dropout"},
    training_args={
        "learning_rate": "learning_rate",
        "steps": "max_steps",
        "batch_size": "per_device_train_batch_size",
        "max_grad_norm": "max_grad_norm",
        "warmup_ratio": "warmup_ratio",
        "compile": "torch_compile",
    },
    # Olive's LoRA pass (olive/passes/pytorch/lora.py, its HFTrainingArguments) and
    # transformers.TrainingArguments for what Olive leaves to it
    olive_defaults={
        "rank": 64,
        "alpha": 16,
        "dropout": 0.05,
        "learning_rate": 2e-4,
        "warmup_ratio": 0.03,
        "max_grad_norm": 1.0,
        "batch_size": 8,
    },
    differences=(
        "the learning rate warms up linearly then decays by a cosine to 10% (Olive's default "
        "lr_scheduler_type is constant)",
        "the optimizer is AdamW without weight decay (Olive's default optim is paged_adamw_32bit)",
        "the loss covers the answer tokens only (Olive's trainer learns every token of the text)",
        "the dtype follows the target: fp32 on CPU, bf16 on CUDA (Olive's default torch_dtype is bfloat16)",
    ),
)


class LoRA(Pass):
    """Fine-tune low-rank adapters on the task; only the label tokens carry the loss."""

    name = "lora"
    input_kind = "hf"
    output_kind = "adapter"
    budget = "steps"
    params: ClassVar[tuple[ParamSpec, ...]] = (
        ParamSpec("rank", "int", 8, "LoRA rank r", Choice((4, 8, 16, 32)), minimum=1, maximum=1024),
        ParamSpec(
            "alpha",
            "int",
            16,
            "LoRA alpha (scale = alpha / rank)",
            Choice((8, 16, 32, 64)),
            minimum=1,
        ),
        ParamSpec(
            "dropout",
            "float",
            0.05,
            "LoRA dropout",
            Choice((0.0, 0.05, 0.1)),
            minimum=0.0,
            maximum=0.9,
        ),
        ParamSpec(
            "learning_rate",
            "float",
            1e-3,
            "AdamW peak learning rate",
            FloatRange(1e-4, 3e-3, log=True),
            minimum=1e-7,
            maximum=1.0,
        ),
        ParamSpec(
            "target_modules",
            "str_list",
            ALL_LINEAR,
            "module names to adapt (comma-separated or a list), the groups attention and mlp "
            "(resolved to each model family's own layers), or all-linear",
            Choice(("attention", ALL_LINEAR)),
        ),
        ParamSpec("steps", "int", 40, "optimizer steps", minimum=1),
        ParamSpec("batch_size", "int", 8, "examples per step", minimum=1),
        ParamSpec(
            "warmup_ratio",
            "float",
            0.1,
            "share of steps spent warming up",
            minimum=0.0,
            maximum=1.0,
        ),
        ParamSpec("max_length", "int", 256, "longest tokenized example kept", minimum=8),
        ParamSpec("max_grad_norm", "float", 1.0, "gradient clipping norm", minimum=0.0),
        ParamSpec(
            "compile",
            "bool",
            False,
            "torch.compile each decoder layer (one compile serves them all): faster steps on a GPU "
            "at larger batches, after a compile's seconds",
        ),
    )
    olive: ClassVar[OliveMapping | None] = _LORA_OLIVE

    def key_parts(self, params: Mapping[str, Scalar], ctx: PassContext) -> dict[str, Any]:
        return {
            "model": ctx.model.fingerprint,
            "data": ctx.data.fingerprint,
            "seed": ctx.seed,
            "device": ctx.target.device,
        }

    def load_base(self, ctx: PassContext, params: Mapping[str, Scalar]) -> Any:
        import torch

        from autotune.inputs.models import load_causal_lm

        dtype = getattr(torch, ctx.target.train_dtype)
        return load_causal_lm(ctx.model, dtype=dtype).to(ctx.target.device)

    def run(
        self, source: Artifact, params: Mapping[str, Scalar], ctx: PassContext, out: Path
    ) -> dict[str, Any]:
        import torch

        from autotune.inputs.models import load_tokenizer

        # peft imports bitsandbytes, whose CPU backend warns on every run that an optional
        # kernel package is missing; it changes nothing for LoRA, so keep it off the console
        logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
        torch.manual_seed(ctx.seed)
        tokenizer = load_tokenizer(ctx.model.path, ctx.model.trust_remote_code)
        model = self.load_base(ctx, params)
        model.config.use_cache = False
        rung, resume = ctx.rung, None
        if rung is not None and rung.resume is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(rung.resume), is_trainable=True)
            resume = torch.load(rung.resume / _STATE, weights_only=True)
        else:
            model = self._wrap(model, params)
        if params.get("compile"):
            _compile_layers(model)
        encoded = encode_examples(ctx.data.train, ctx.data.prompt, tokenizer, int(params["max_length"]))
        history = train(
            model,
            encoded,
            pad_id=int(tokenizer.pad_token_id),
            steps=int(params["steps"]),
            batch_size=int(params["batch_size"]),
            learning_rate=float(params["learning_rate"]),
            warmup_ratio=float(params["warmup_ratio"]),
            max_grad_norm=float(params["max_grad_norm"]),
            seed=ctx.seed,
            device=ctx.target.device,
            on_step=ctx.on_step,
            stop=rung.stop if rung else None,
            resume=resume,
        )
        state = history.pop("state")
        model.save_pretrained(str(out))
        if history["steps_done"] < int(params["steps"]):  # a rung: keep what resuming needs
            torch.save(state, out / _STATE)
        (out / "train_log.json").write_text(json.dumps(history))
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        return {
            "trainable_parameters": trainable,
            "final_loss": history["final_loss"],
            "train_seconds": history["train_seconds"],
            "steps_done": history["steps_done"],
        }

    def _wrap(self, model: Any, params: Mapping[str, Scalar]) -> Any:
        """``model`` with a fresh LoRA adapter of ``params``."""
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(
            r=int(params["rank"]),
            lora_alpha=int(params["alpha"]),
            lora_dropout=float(params["dropout"]),
            target_modules=_target_modules(params["target_modules"], model),
            task_type="CAUSAL_LM",
        )
        try:
            return get_peft_model(model, config)
        except ValueError as exc:
            raise InvalidCombination(f"{self.name}.target_modules: {str(exc).splitlines()[0]}") from None


class QLoRA(LoRA):
    """LoRA on a 4-bit (NF4) base loaded with bitsandbytes; merged into the full-precision base."""

    name = "qlora"
    params: ClassVar[tuple[ParamSpec, ...]] = (
        *LoRA.params,
        ParamSpec("quant_type", "str", "nf4", "4-bit data type", allowed=("nf4", "fp4")),
        ParamSpec("double_quant", "bool", True, "quantize the quantization constants too"),
    )
    olive: ClassVar[OliveMapping | None] = replace(
        _LORA_OLIVE,
        type="QLoRA",
        params={**_LORA_OLIVE.params, "quant_type": "quant_type", "double_quant": "double_quant"},
        olive_defaults={**_LORA_OLIVE.olive_defaults, "quant_type": "nf4", "double_quant": False},
    )

    def check(self, params: Mapping[str, Scalar], ctx: PassContext) -> None:
        if importlib.util.find_spec("bitsandbytes") is None:
            raise InvalidCombination(
                "qlora needs bitsandbytes, which is not installed: pip install 'autotune[qlora]'"
            )

    def load_base(self, ctx: PassContext, params: Mapping[str, Scalar]) -> Any:
        import torch
        from peft import prepare_model_for_kbit_training
        from transformers import BitsAndBytesConfig

        from autotune.inputs.models import load_causal_lm

        compute = getattr(torch, ctx.target.train_dtype)
        quant = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=str(params["quant_type"]),
            bnb_4bit_use_double_quant=bool(params["double_quant"]),
            bnb_4bit_compute_dtype=compute,
        )
        model = load_causal_lm(ctx.model, quantization_config=quant, device_map=ctx.target.device)
        return prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)


register_pass(LoRA)
register_pass(QLoRA)
