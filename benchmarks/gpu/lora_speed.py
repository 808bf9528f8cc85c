"""LoRA / QLoRA training throughput of a Phi-3-mini-shaped model on one GPU, against the matmul rate.

    python benchmarks/gpu/lora_speed.py --out benchmarks/gpu/lora_speed.json
    python benchmarks/gpu/lora_speed.py --tiny --device cpu --out /tmp/lora_tiny.json   # dry run

What it measures, all in one run (figures printed as each finishes, and the JSON rewritten after
each, so a killed run keeps what it measured; run order: 1, 2 uncompiled, 3, then 2's compiled row,
the longest and least predictable):

1. The dense bf16 matmul rate: ``torch.matmul`` of two random 8192 x 8192 bf16 matrices on the
   device, 3 warm-ups discarded, mean of 10 timed products (perf_counter around them, with a device
   synchronize before and after); TFLOP/s = 2 n^3 / s. (n = 256 on CPU.)
2. LoRA training throughput of a Phi-3-mini-4k-instruct-shaped model with random weights, built in
   bf16 directly on the device (vocab 49152, SmolLM2's tokenizer, instead of Phi-3's 32064), peft
   ``LoraConfig(r=64, lora_alpha=64, lora_dropout=0.05, target_modules=["qkv_proj", "o_proj"])``
   (peft's defaults otherwise: the adapter weights are upcast to fp32). One step = forward on random
   token ids with labels = ids, backward, AdamW step (fused on CUDA), zero_grad. Swept: attention
   "eager" / "sdpa" x batch x sequence (8x128 = our LoRA pass's default shape, 8x512, 16x1024), then
   torch.compile (of each decoder layer by default: "regional" compilation, one compile reused by
   the 32 layers; ``--compile-scope model`` compiles the whole model) at the best uncompiled
   configuration. Per row: tokens/s = batch * seq * steps / s, ms per step, peak device memory
   (``torch.cuda.max_memory_allocated``, reset before each row; it includes the weights and the
   optimizer state) and the model FLOPs utilisation, MFU = tokens/s * flops_per_token / measured
   matmul rate (also against the nominal dense bf16 peak, ``--peak-tflops``, 989.4 for H100/H200 SXM).
3. QLoRA against LoRA at one shape (8x512) and attention (sdpa): the same model saved to a temporary
   folder and reloaded 4-bit NF4 by bitsandbytes (double quantization, bf16 compute),
   ``prepare_model_for_kbit_training(use_gradient_checkpointing=False)`` (which upcasts the
   remaining bf16 weights, norms, embedding and lm_head, to fp32), the same LoRA configuration.

FLOPs per token (stated in the JSON as ``flops_formula``):

    flops_per_token = 4 N + 12 L s h

N = the base model's parameters except the input embedding (the untied lm_head counts; it is a
matmul), L = layers, s = sequence length, h = hidden size. The frozen weights cost 2 N forward and
2 N backward (gradients of the activations only; no weight gradients since they are frozen). The
attention scores cost, per token and layer, 2 s h for Q K^T and 2 s h for A V forward (the causal
mask is not discounted), twice that backward (gradients of both operands, which are activations):
3 x 4 s h per layer. The LoRA adapters themselves (6 x their ~31 M parameters, about 1% of the
total) are left out. For QLoRA the same figure is used: the NF4 dequantization is overhead, not
model FLOPs.

Earlier measurement, for comparison (from the notes; printed as text, not re-measured): plain peft
LoRA r64 on qkv_proj/o_proj bf16 eager: 18k tokens/s, 35-37% of peak.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

BASELINE_NOTE = (
    "earlier measurement (notes, not re-measured here): plain peft LoRA r64 on qkv_proj/o_proj "
    "bf16 eager: 18k tokens/s (35-37% of peak)"
)
FLOPS_FORMULA = (
    "flops_per_token = 4*N + 12*L*s*h; N = base parameters excluding the input embedding (lm_head "
    "included), L = layers, s = sequence length, h = hidden size. 4*N: frozen weights, forward 2N + "
    "backward activation gradients 2N (no weight gradients). 12*L*s*h: attention scores, forward "
    "2*s*h (QK^T) + 2*s*h (AV) per layer, causal mask not discounted, backward twice the forward. "
    "LoRA adapter FLOPs (~1%) left out. MFU = tokens_per_s * flops_per_token / matmul rate."
)
DESCRIPTION = "LoRA / QLoRA training throughput of a Phi-3-mini-shaped model, against the matmul rate."
LORA_TARGETS = ["qkv_proj", "o_proj"]
GIB = 1024**3


@dataclass
class Row:
    """One measured (or failed, or skipped) configuration."""

    kind: str  # "lora", "lora+compile", "qlora"
    attn: str
    batch: int
    seq: int
    tokens_per_s: float | None = None
    step_ms: float | None = None
    steps: int = 0
    warmup: int = 0
    peak_mem_gib: float | None = None
    model_mem_gib: float | None = None
    flops_per_token: float | None = None
    mfu: float | None = None  # against the matmul rate measured in this run
    mfu_nominal: float | None = None  # against --peak-tflops
    loss: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def label(self) -> str:
        return f"{self.kind} {self.attn} {self.batch}x{self.seq}"


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def say(msg: str) -> None:
    print(msg, flush=True)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / GIB if device.type == "cuda" else None


def allocated_gib(device: torch.device) -> float | None:
    return torch.cuda.memory_allocated(device) / GIB if device.type == "cuda" else None


def version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


# --------------------------------------------------------------------------------------------- matmul


def matmul_tflops(
    device: torch.device, n: int, dtype: torch.dtype, warmup: int = 3, reps: int = 10
) -> dict[str, Any]:
    """Mean rate of ``reps`` products of two random n x n matrices, after ``warmup`` discarded."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    c = torch.empty(n, n, device=device, dtype=dtype)
    for _ in range(warmup):
        torch.matmul(a, b, out=c)
    sync(device)
    t = time.perf_counter()
    for _ in range(reps):
        torch.matmul(a, b, out=c)
    sync(device)
    s = (time.perf_counter() - t) / reps
    del a, b, c
    return {
        "n": n,
        "dtype": str(dtype).removeprefix("torch."),
        "reps": reps,
        "warmup": warmup,
        "mean_ms": s * 1e3,
        "tflops": 2 * n**3 / s / 1e12,
    }


# ---------------------------------------------------------------------------------------------- model


def make_config(tiny: bool) -> Any:
    from transformers import Phi3Config

    if tiny:
        return Phi3Config(
            vocab_size=512,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=4,
            max_position_embeddings=256,
            original_max_position_embeddings=256,
            tie_word_embeddings=False,
            bos_token_id=1,
            eos_token_id=2,
            pad_token_id=0,
            use_cache=False,
        )
    return Phi3Config(
        vocab_size=49152,
        hidden_size=3072,
        intermediate_size=8192,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=32,
        max_position_embeddings=4096,
        original_max_position_embeddings=4096,
        tie_word_embeddings=False,
        use_cache=False,
    )


def param_counts(cfg: Any) -> dict[str, int]:
    """Exact counts from a model built on the meta device (no memory, no time)."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        m = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)
    total = sum(p.numel() for p in m.parameters())
    emb = m.get_input_embeddings().weight.numel()
    return {"total": total, "input_embedding": emb, "N_flops": total - emb}


def flops_per_token(n_flops: int, layers: int, seq: int, hidden: int) -> float:
    return 4.0 * n_flops + 12.0 * layers * seq * hidden


def build_base(cfg: Any, device: torch.device, attn: str) -> Any:
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16, attn_implementation=attn)
    return model


def lora_config() -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=64, lora_alpha=64, lora_dropout=0.05, target_modules=LORA_TARGETS, task_type="CAUSAL_LM"
    )


def add_lora(base: Any, device: torch.device) -> tuple[Any, torch.optim.Optimizer, dict[str, Any]]:
    from peft import get_peft_model

    model = get_peft_model(base, lora_config())
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0, fused=device.type == "cuda")
    info = {
        "lora_params": sum(p.numel() for p in params),
        "lora_dtype": str(params[0].dtype).removeprefix("torch.") if params else None,
    }
    return model, opt, info


def decoder_layers(model: Any) -> torch.nn.ModuleList:
    """The decoder's ModuleList under a (peft-wrapped) causal LM."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.model.layers


# ------------------------------------------------------------------------------------------- training


def train_step(model: Callable[..., Any], opt: torch.optim.Optimizer, ids: torch.Tensor) -> torch.Tensor:
    out = model(input_ids=ids, labels=ids, use_cache=False)
    out.loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    return out.loss.detach()


def run_steps(
    model: Callable[..., Any], opt: torch.optim.Optimizer, ids: torch.Tensor, n: int, device: torch.device
) -> tuple[float, torch.Tensor | None]:
    """Seconds for ``n`` steps (synchronized before and after) and the last loss."""
    loss: torch.Tensor | None = None
    sync(device)
    t = time.perf_counter()
    for _ in range(n):
        loss = train_step(model, opt, ids)
    sync(device)
    return time.perf_counter() - t, loss


def measure(
    row: Row,
    model: Callable[..., Any],
    opt: torch.optim.Optimizer,
    device: torch.device,
    vocab: int,
    steps: int,
    warmup: int,
    max_timed_s: float,
    first_is_compile: bool = False,
) -> None:
    """Fill ``row`` with the timed figures; exceptions (out of memory, compile errors) go to the caller."""
    reset_peak(device)
    ids = torch.randint(0, vocab, (row.batch, row.seq), device=device)
    if first_is_compile:  # the first step compiles (forward and backward): timed on its own
        s, _ = run_steps(model, opt, ids, 1, device)
        row.extra["compile_s"] = round(s, 2)
    s, _ = run_steps(model, opt, ids, warmup, device)
    row.warmup = warmup + (1 if first_is_compile else 0)
    # keep the timed part under max_timed_s: fewer steps (at least 3) when one step is slow
    per = s / max(warmup, 1)
    n = max(3, min(steps, math.floor(max_timed_s / per))) if per > 0 else steps
    s, loss = run_steps(model, opt, ids, n, device)
    row.steps = n
    row.step_ms = s / n * 1e3
    row.tokens_per_s = row.batch * row.seq * n / s
    row.peak_mem_gib = peak_gib(device)
    row.loss = float(loss) if loss is not None else None


def finish(
    row: Row, n_flops: int, layers: int, hidden: int, rate_tflops: float, peak_tflops: float | None
) -> None:
    row.flops_per_token = flops_per_token(n_flops, layers, row.seq, hidden)
    if row.tokens_per_s is not None:
        achieved = row.tokens_per_s * row.flops_per_token
        row.mfu = achieved / (rate_tflops * 1e12)
        if peak_tflops:
            row.mfu_nominal = achieved / (peak_tflops * 1e12)


# ------------------------------------------------------------------------------------------ reporting


def fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def row_cells(r: Row) -> list[str]:
    note = r.error or ", ".join(
        f"{k}={v}" for k, v in r.extra.items() if k in ("compile_s", "unique_graphs", "graph_breaks", "scope")
    )
    return [
        r.kind,
        r.attn,
        f"{r.batch}x{r.seq}",
        fmt(r.tokens_per_s, ",.0f"),
        fmt(r.step_ms, ".1f"),
        fmt(r.peak_mem_gib, ".1f"),
        fmt(None if r.mfu is None else 100 * r.mfu, ".1f"),
        fmt(None if r.mfu_nominal is None else 100 * r.mfu_nominal, ".1f"),
        fmt(r.loss, ".3f"),
        note,
    ]


HEADERS = ["kind", "attn", "BxS", "tokens/s", "ms/step", "peak GiB", "MFU %", "MFU % nominal", "loss", "note"]


def print_table(rows: list[Row], title: str) -> None:
    try:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for h in HEADERS:
            table.add_column(
                h, justify="right" if h not in ("kind", "attn", "note") else "left", overflow="fold"
            )
        for r in rows:
            table.add_row(*row_cells(r))
        Console(width=max(140, shutil.get_terminal_size().columns)).print(table)
    except ImportError:
        say(title)
        cells = [HEADERS] + [row_cells(r) for r in rows]
        widths = [max(len(c[i]) for c in cells) for i in range(len(HEADERS))]
        for c in cells:
            say("  ".join(x.ljust(w) for x, w in zip(c, widths, strict=True)))


class Results:
    """The JSON document, rewritten (atomically) after every row."""

    def __init__(self, path: Path, doc: dict[str, Any]) -> None:
        self.path = path
        self.doc = doc
        self.rows: list[Row] = []

    def add(self, row: Row) -> None:
        self.rows.append(row)
        if row.error:
            say(f"[{row.label}] {row.error}")
        else:
            mfu = fmt(None if row.mfu is None else 100 * row.mfu, ".1f")
            nominal = fmt(None if row.mfu_nominal is None else 100 * row.mfu_nominal, ".1f")
            say(
                f"[{row.label}] {fmt(row.tokens_per_s, ',.0f')} tokens/s, {fmt(row.step_ms, '.1f')} ms/step, "
                f"peak {fmt(row.peak_mem_gib, '.2f')} GiB, MFU {mfu}% (nominal {nominal}%), "
                f"loss {fmt(row.loss, '.3f')}, {row.steps} steps {row.extra or ''}"
            )
        self.write()

    def write(self) -> None:
        self.doc["rows"] = [asdict(r) | {"label": r.label} for r in self.rows]
        self.doc["elapsed_s"] = round(time.perf_counter() - self.doc["_t0"], 1)
        out = {k: v for k, v in self.doc.items() if not k.startswith("_")}
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(out, indent=2, default=str) + "\n")
        os.replace(tmp, self.path)


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    t = time.perf_counter()
    say(f"... {name}")
    yield
    say(f"... {name}: {time.perf_counter() - t:.1f} s")


# ----------------------------------------------------------------------------------------------- runs


@dataclass
class Ctx:
    cfg: Any
    device: torch.device
    n_flops: int
    rate_tflops: float
    peak_tflops: float | None
    steps: int
    warmup: int
    max_timed_s: float
    results: Results

    def done(self, row: Row) -> None:
        finish(
            row,
            self.n_flops,
            self.cfg.num_hidden_layers,
            self.cfg.hidden_size,
            self.rate_tflops,
            self.peak_tflops,
        )
        self.results.add(row)


def sweep_attn(ctx: Ctx, attn: str, shapes: list[tuple[int, int]]) -> None:
    """One model with LoRA for ``attn``, measured at every shape (a failure ends only its row)."""
    try:
        with phase(f"build {attn} model + LoRA"):
            model, opt, info = add_lora(build_base(ctx.cfg, ctx.device, attn), ctx.device)
    except Exception as e:  # reported as rows, the script goes on
        err = first_line(e)
        for b, s in shapes:
            ctx.done(Row("lora", attn, b, s, error=f"build failed: {err}"))
        return
    ctx.results.doc.setdefault("lora", info)
    say(f"LoRA trainable parameters: {info['lora_params']:,} ({info['lora_dtype']})")
    model_mem = allocated_gib(ctx.device)
    for b, s in shapes:
        row = Row("lora", attn, b, s, model_mem_gib=model_mem)
        try:
            measure(row, model, opt, ctx.device, ctx.cfg.vocab_size, ctx.steps, ctx.warmup, ctx.max_timed_s)
        except Exception as e:  # reported in its row
            row.error = first_line(e)
        opt.zero_grad(set_to_none=True)
        free(ctx.device)
        ctx.done(row)
    del model, opt


def _compiled_body(ctx: Ctx, row: Row, scope: str) -> None:
    import torch._dynamo
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    with phase(f"build {row.attn} model + LoRA for compile ({scope})"):
        model, opt, _ = add_lora(build_base(ctx.cfg, ctx.device, row.attn), ctx.device)
    row.model_mem_gib = allocated_gib(ctx.device)
    # The embedding output made to require grad: decoder layer 0 then sees the same input as the others
    # and one compiled graph serves all of them (else layer 0 compiles a second one: compile time x2),
    # at the cost of layer 0's input gradient (~1% more FLOPs than the uncompiled rows, not counted).
    model.get_base_model().enable_input_require_grads()
    row.extra["input_require_grads"] = True
    if scope == "layers":  # regional: each decoder layer compiled in place, one compile reused
        for layer in decoder_layers(model):
            layer.compile()
        fn: Callable[..., Any] = model
    else:
        fn = torch.compile(model)
    measure(
        row,
        fn,
        opt,
        ctx.device,
        ctx.cfg.vocab_size,
        ctx.steps,
        ctx.warmup + 2,
        ctx.max_timed_s,
        first_is_compile=True,
    )
    row.extra["unique_graphs"] = int(counters["stats"]["unique_graphs"])
    row.extra["graph_breaks"] = int(sum(counters["graph_break"].values()))


def run_compiled(ctx: Ctx, attn: str, b: int, s: int, scope: str) -> None:
    """torch.compile at one configuration; a failure is a row with the error's first line."""
    row = Row("lora+compile", attn, b, s, extra={"scope": scope})
    try:
        _compiled_body(ctx, row, scope)  # its locals (model, optimizer) are gone when it returns
    except Exception as e:  # reported as a row, the script goes on
        row.error = first_line(e)
    free(ctx.device)
    with contextlib.suppress(Exception):
        torch._dynamo.reset()
    free(ctx.device)
    ctx.done(row)


def _qlora_body(ctx: Ctx, row: Row, tmp: str) -> None:
    import bitsandbytes  # noqa: F401 - fail early (and skip) when missing
    from peft import get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    with phase(f"build bf16 {row.attn} model, save to {tmp}"):
        base = build_base(ctx.cfg, ctx.device, row.attn)
        t = time.perf_counter()
        base.save_pretrained(tmp)
        row.extra["save_s"] = round(time.perf_counter() - t, 1)
        del base
        free(ctx.device)
    with phase("reload 4-bit NF4 (bitsandbytes)"):
        t = time.perf_counter()
        q = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
        model = AutoModelForCausalLM.from_pretrained(
            tmp,
            quantization_config=q,
            dtype=torch.bfloat16,
            device_map=ctx.device.type,
            attn_implementation=row.attn,
        )
        row.extra["load_s"] = round(time.perf_counter() - t, 1)
    row.extra["n_4bit_linears"] = sum(1 for m in model.modules() if type(m).__name__ == "Linear4bit")
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    model = get_peft_model(model, lora_config())
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0, fused=ctx.device.type == "cuda")
    row.extra["lora_dtype"] = str(params[0].dtype).removeprefix("torch.") if params else None
    row.model_mem_gib = allocated_gib(ctx.device)
    free(ctx.device)
    measure(row, model, opt, ctx.device, ctx.cfg.vocab_size, ctx.steps, ctx.warmup, ctx.max_timed_s)


def run_qlora(ctx: Ctx, attn: str, b: int, s: int, tmp_root: str) -> None:
    """QLoRA (bitsandbytes NF4) at one configuration; missing or failing bitsandbytes is a row."""
    row = Row("qlora", attn, b, s)
    tmp = tempfile.mkdtemp(prefix="lora_speed_", dir=tmp_root)
    try:
        _qlora_body(ctx, row, tmp)  # its locals (model, optimizer) are gone when it returns
    except ImportError as e:
        row.error = f"skipped: {first_line(e)}"
    except Exception as e:  # reported as a row, the script goes on
        row.error = first_line(e)
    shutil.rmtree(tmp, ignore_errors=True)
    free(ctx.device)
    ctx.done(row)


def parse_shapes(text: str) -> list[tuple[int, int]]:
    out = []
    for part in text.split(","):
        b, s = part.lower().split("x")
        out.append((int(b), int(s)))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=DESCRIPTION)
    p.add_argument("--out", type=Path, required=True, help="JSON file written after every row")
    p.add_argument("--tiny", action="store_true", help="tiny Phi3 config and shapes: a dry run of the logic")
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    p.add_argument("--steps", type=int, default=None, help="timed steps per row (default 10, tiny 3)")
    p.add_argument("--warmup", type=int, default=None, help="discarded steps per row (default 3, tiny 1)")
    p.add_argument(
        "--max-timed-s",
        type=float,
        default=8.0,
        help="fewer timed steps (at least 3) where --steps of them would take longer",
    )
    p.add_argument("--attn", default="eager,sdpa", help="attention implementations to sweep")
    p.add_argument("--shapes", default=None, help="BxS list (default 8x128,8x512,16x1024; tiny 2x32,2x64)")
    p.add_argument("--qlora-shape", default=None, help="BxS of the QLoRA row (default 8x512; tiny 2x64)")
    p.add_argument("--qlora-attn", default="sdpa")
    p.add_argument(
        "--compile-scope",
        choices=["layers", "model"],
        default="layers",
        help="torch.compile each decoder layer (regional, default) or the whole model",
    )
    p.add_argument("--skip-qlora", action="store_true")
    p.add_argument("--skip-compile", action="store_true")
    p.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="nominal dense bf16 peak for the second MFU column (default 989.4 on H100/H200)",
    )
    p.add_argument("--tmp-dir", default="/tmp", help="where the QLoRA path saves the bf16 model")
    args = p.parse_args(argv)

    t0 = time.perf_counter()
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    steps = args.steps or (3 if args.tiny else 10)
    warmup = args.warmup if args.warmup is not None else (1 if args.tiny else 3)
    shapes = parse_shapes(args.shapes or ("2x32,2x64" if args.tiny else "8x128,8x512,16x1024"))
    qshape = parse_shapes(args.qlora_shape or ("2x64" if args.tiny else "8x512"))[0]
    attns = [a.strip() for a in args.attn.split(",") if a.strip()]

    gpu: dict[str, Any] = {"type": device.type}
    if device.type == "cuda":
        prop = torch.cuda.get_device_properties(device)
        gpu |= {
            "name": prop.name,
            "capability": f"{prop.major}.{prop.minor}",
            "memory_gib": round(prop.total_memory / GIB, 1),
            "cuda": torch.version.cuda,
        }
    else:
        gpu |= {"name": platform.processor() or platform.machine(), "threads": torch.get_num_threads()}
    peak = args.peak_tflops
    if peak is None and device.type == "cuda" and any(k in gpu["name"] for k in ("H100", "H200")):
        peak = 989.4

    cfg = make_config(args.tiny)
    counts = param_counts(cfg)
    say(f"device: {gpu}")
    say(
        f"Phi3-shaped model: {counts['total'] / 1e9:.3f} B parameters ({counts['total']:,}); "
        f"N for FLOPs (without the input embedding) {counts['N_flops']:,}"
    )
    say(BASELINE_NOTE)

    doc: dict[str, Any] = {
        "_t0": t0,
        "benchmark": "lora_speed",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "argv": sys.argv,
        "tiny": args.tiny,
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            **{k: version(k) for k in ("transformers", "peft", "bitsandbytes", "accelerate")},
        },
        "device": gpu,
        "model_config": {
            k: getattr(cfg, k)
            for k in (
                "vocab_size",
                "hidden_size",
                "intermediate_size",
                "num_hidden_layers",
                "num_attention_heads",
                "num_key_value_heads",
                "max_position_embeddings",
                "tie_word_embeddings",
            )
        },
        "params": counts,
        "lora_config": {"r": 64, "lora_alpha": 64, "lora_dropout": 0.05, "target_modules": LORA_TARGETS},
        "flops_formula": FLOPS_FORMULA,
        "nominal_peak_tflops": peak,
        "baseline_note": BASELINE_NOTE,
        "steps": steps,
        "warmup": warmup,
        "max_timed_s": args.max_timed_s,
    }
    results = Results(args.out, doc)

    with phase("matmul rate"):
        n = 256 if device.type == "cpu" else 8192
        mm = matmul_tflops(device, n, torch.bfloat16)
        free(device)
    doc["matmul"] = mm
    say(f"matmul {n}x{n} bf16: {mm['tflops']:.2f} TFLOP/s ({mm['mean_ms']:.3f} ms per product)")
    results.write()

    ctx = Ctx(cfg, device, counts["N_flops"], mm["tflops"], peak, steps, warmup, args.max_timed_s, results)
    for attn in attns:
        sweep_attn(ctx, attn, shapes)
        free(device)

    # QLoRA before compile: compile is the longest and least predictable part, so a run killed by a
    # time limit loses only that row.
    if not args.skip_qlora:
        run_qlora(ctx, args.qlora_attn, qshape[0], qshape[1], args.tmp_dir)
        q = next((r for r in results.rows if r.kind == "qlora" and r.tokens_per_s), None)
        ref = next(
            (
                r
                for r in results.rows
                if r.kind == "lora"
                and r.attn == args.qlora_attn
                and (r.batch, r.seq) == qshape
                and r.tokens_per_s
            ),
            None,
        )
        if q and ref and q.tokens_per_s and ref.tokens_per_s:
            doc["qlora_vs_lora"] = {
                "shape": f"{qshape[0]}x{qshape[1]}",
                "attn": args.qlora_attn,
                "tokens_per_s_ratio": q.tokens_per_s / ref.tokens_per_s,
                "peak_mem_ratio": (
                    q.peak_mem_gib / ref.peak_mem_gib if q.peak_mem_gib and ref.peak_mem_gib else None
                ),
                "model_mem_ratio": (
                    q.model_mem_gib / ref.model_mem_gib if q.model_mem_gib and ref.model_mem_gib else None
                ),
            }
            say(f"QLoRA / LoRA at {qshape[0]}x{qshape[1]} {args.qlora_attn}: {doc['qlora_vs_lora']}")

    ok = [r for r in results.rows if r.kind == "lora" and r.tokens_per_s]
    if not args.skip_compile:
        if ok:
            best = max(ok, key=lambda r: r.tokens_per_s or 0.0)
            run_compiled(ctx, best.attn, best.batch, best.seq, args.compile_scope)
        else:
            ctx.done(Row("lora+compile", "-", 0, 0, error="skipped: no uncompiled row succeeded"))

    results.write()
    say("")
    print_table(
        results.rows,
        f"LoRA speed on {gpu['name']}: matmul {mm['tflops']:.1f} TFLOP/s measured"
        + (f", {peak} nominal" if peak else ""),
    )
    say(BASELINE_NOTE)
    say(f"formula: {FLOPS_FORMULA}")
    say(f"wrote {args.out} in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
