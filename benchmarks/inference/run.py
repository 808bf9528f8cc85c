"""Inference speed of one fine-tune: PyTorch fp32 eager against its ONNX builds, and the bound.

    python benchmarks/inference/run.py STUDY_OUT [--repeats 40]

From a finished study, takes the fine-tune of the report's winner, the merged PyTorch model and
every ONNX build of that same fine-tune, and times the same requests on each with autotune's
latency evaluator: one request is what `autotune predict` does (the prompt's prefill, then one
forward pass per label continuation to score it). It prints p50/p90 per request with their
bootstrap intervals, prefill tokens/s, decode forward passes/s (passes actually run), the speed-up
over PyTorch eager and the share of the bandwidth bound: read bandwidth (all cores, measured in
the same run) / bytes one decode pass reads (every weight except a table that is only gathered,
i.e. an untied embedding). Writes benchmarks/inference/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from autotune.cache import Cache
from autotune.inputs.data import load_task_data
from autotune.inputs.models import prepare_model
from autotune.study.run import open_output
from autotune.trial.splits import eval_task
from evaluators import LatencyEvaluator, ModelArtifact

HERE = Path(__file__).parent
_GATHER_OPS = {"Gather", "GatherBlockQuantized"}
_FOLDED = {"Transpose", "Reshape", "Cast", "Identity"}


def bandwidth_gb_s(size: int = 1 << 30, repeats: int = 5) -> dict[str, float]:
    """Read bandwidth with every core summing its own slice (numpy releases the GIL), and the
    single-thread copy bandwidth; best of ``repeats``, 1 GiB."""
    threads = os.cpu_count() or 1
    a = np.ones(size // 8, dtype=np.float64)
    b = np.empty_like(a)
    parts = np.array_split(a, threads)
    copy = read = 0.0
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(repeats):
            t = time.perf_counter()
            np.copyto(b, a)
            copy = max(copy, 2 * size / (time.perf_counter() - t) / 1e9)  # read + write
            t = time.perf_counter()
            list(pool.map(lambda p: float(p.sum()), parts))
            read = max(read, size / (time.perf_counter() - t) / 1e9)
    return {"copy_gb_s": round(copy, 1), "read_gb_s": round(read, 1), "read_threads": threads}


def onnx_decode_bytes(folder: Path) -> dict[str, int]:
    """Bytes of the ONNX graph's initializers, and those one decode pass reads: all but the
    tables consumed only by Gather nodes (an embedding lookup reads one row per token). A
    Transpose / Reshape / Cast of an initializer is folded by ORT at load, so what it feeds counts.
    """
    import onnx

    graph = onnx.load(str(folder / "model.onnx"), load_external_data=False).graph
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def ops(name: str) -> set[str]:
        out: set[str] = set()
        for node in consumers.get(name, []):
            if node.op_type in _FOLDED:
                out |= {op for o in node.output for op in ops(o)}
            else:
                out.add(node.op_type)
        return out

    total = gathered = 0
    for init in graph.initializer:
        size = len(init.raw_data)
        for entry in init.external_data:
            if entry.key == "length":
                size = int(entry.value)
        total += size
        used = ops(init.name)
        if used and used <= _GATHER_OPS:
            gathered += size
    return {"weight_bytes": total, "gathered_bytes": gathered, "decode_bytes": total - gathered}


def torch_decode_bytes(folder: Path) -> dict[str, int]:
    """The same for an HF folder: the input embedding is gathered unless tied to the LM head."""
    from transformers import AutoConfig, AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder)
    total = sum(p.numel() * p.element_size() for p in model.parameters())
    emb = model.get_input_embeddings().weight
    tied = bool(getattr(AutoConfig.from_pretrained(folder), "tie_word_embeddings", False))
    gathered = 0 if tied else emb.numel() * emb.element_size()
    return {"weight_bytes": total, "gathered_bytes": gathered, "decode_bytes": total - gathered}


def _label(row: Any) -> str:
    """onnx-int4-b32, onnx-fp32, ort-int8 (per-tensor) or ort-int8-pc (per-channel)."""
    p = row.params
    if row.chain.split(">")[-1] == "quantize":
        return "ort-int8-pc" if p.get("quantize.per_channel") else "ort-int8"
    block = f"-b{p['build.block_size']}" if "build.block_size" in p else ""
    return f"onnx-{p['build.precision']}{block}"


def _row(
    label: str, lat: dict[str, Any], size: dict[str, int], bw: dict[str, float], trial: Any
) -> dict[str, Any]:
    bound = bw["read_gb_s"] * 1e9 / size["decode_bytes"]
    return {
        "model": label,
        "trial": trial.number if trial else None,
        "accuracy": trial.metrics.get("accuracy") if trial else None,
        "threads": lat["threads"],
        "p50_ms": round(lat["p50_ms"], 1),
        "p50_ci95": [round(x, 1) for x in lat["p50_ci95"]],
        "p90_ms": round(lat["p90_ms"], 1),
        "p90_ci95": [round(x, 1) for x in lat["p90_ci95"]],
        "prefill_tok_s": round(lat["prefill_tokens_per_s"], 1),
        "decode_passes_s": round(lat["decode_passes_per_s"], 1),
        "passes_per_request": lat["passes_per_request"],
        "tokens_per_decode_pass": round(lat["decode_tokens_per_pass"], 2),
        "decode_mb": round(size["decode_bytes"] / 2**20, 1),
        "gathered_mb": round(size["gathered_bytes"] / 2**20, 1),
        "bound_passes_s": round(bound, 1),
        "share_of_bound": round(lat["decode_passes_per_s"] / bound, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="a finished study's output folder")
    ap.add_argument("--repeats", type=int, default=40)
    args = ap.parse_args()
    loaded, _study, report, _info = open_output(args.out, None)
    if report.winner is None:
        raise SystemExit("run.py: the study has no complete trial")
    lora_key = next(s["key"] for s in report.row(report.winner).steps if s["name"] == "lora")
    same = [
        r
        for r in report.rows
        if r.state == "complete" and any(s["name"] == "lora" and s["key"] == lora_key for s in r.steps)
    ]
    merge_key = next(s["key"] for s in same[0].steps if s["name"] == "merge")
    cache = Cache(args.out / "cache")
    model = prepare_model(loaded.space.model, cache, loaded.base_dir)
    data = load_task_data(loaded.space.data, loaded.base_dir)
    task = eval_task(loaded.space, model, data)
    bw = bandwidth_gb_s()
    latency = LatencyEvaluator(warmup=5, repeats=args.repeats, max_prompts=8)
    merged = cache.path("merge", merge_key)
    rows = [
        _row("pytorch-fp32-eager", latency.evaluate(ModelArtifact(merged, "hf"), task),
             torch_decode_bytes(merged), bw, None)
    ]  # fmt: skip
    for r in sorted(same, key=lambda r: r.number):
        folder = Path(str(r.artifact))
        lat = latency.evaluate(ModelArtifact(folder, "onnx-genai"), task)
        rows.append(_row(_label(r), lat, onnx_decode_bytes(folder), bw, r))
    base = rows[0]["decode_passes_s"]
    for r in rows:
        r["decode_vs_pytorch"] = round(r["decode_passes_s"] / base, 2)
    result = {
        "study": str(args.out.resolve()),
        "date": time.strftime("%Y-%m-%d"),
        "bandwidth": bw,
        "repeats": args.repeats,
        "request": "prompt prefill + one forward pass per label continuation (what predict does)",
        "rows": rows,
    }
    (HERE / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    print(
        f"memory bandwidth: read {bw['read_gb_s']} GB/s ({bw['read_threads']} threads), "
        f"copy {bw['copy_gb_s']} GB/s"
    )
    header = (
        "model",
        "acc",
        "p50 ms",
        "p90 ms",
        "prefill t/s",
        "passes/s",
        "x eager",
        "MB/pass",
        "bound",
        "of bound",
    )
    print(f"{header[0]:20} " + " ".join(f"{h:>11}" for h in header[1:]))
    for r in rows:
        cells = (
            "-" if r["accuracy"] is None else f"{r['accuracy']:.3f}",
            f"{r['p50_ms']:.1f}",
            f"{r['p90_ms']:.1f}",
            f"{r['prefill_tok_s']:.0f}",
            f"{r['decode_passes_s']:.1f}",
            f"{r['decode_vs_pytorch']:.2f}",
            f"{r['decode_mb']:.0f}",
            f"{r['bound_passes_s']:.0f}",
            f"{r['share_of_bound']:.1%}",
        )
        print(f"{r['model']:20} " + " ".join(f"{c:>11}" for c in cells))
    print(f"written to {HERE / 'results.json'}")


if __name__ == "__main__":
    main()
