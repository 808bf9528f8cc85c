"""Inference speed of one fine-tune: PyTorch fp32 eager against its ONNX builds, and the bound.

    python benchmarks/inference/run.py STUDY_OUT [--repeats 40]

From a finished study, takes the fine-tune of the report's winner, the merged PyTorch model and
every ONNX build of that same fine-tune (int4, int8, fp32, ORT int8), times the same requests on
each (prompt + answer tokens, greedy) with autotune's latency evaluator, measures this machine's
memory bandwidth, and prints p50/p90 per request, decode tokens/s, the speed-up over PyTorch and
the share of the read-bandwidth bound (weight bytes read once per token). Writes
benchmarks/inference/results.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from autotune.cache import Cache
from autotune.cli import _open
from autotune.data import load_task_data
from autotune.models import prepare_model
from autotune.runner import TrialRunner
from evaluators import LatencyEvaluator, ModelArtifact, SizeEvaluator

HERE = Path(__file__).parent


def bandwidth_gb_s(size: int = 1 << 30, repeats: int = 5) -> dict[str, float]:
    """Copy and read bandwidth of this machine's memory (numpy, 1 GiB), best of ``repeats``."""
    a = np.ones(size // 8, dtype=np.float64)
    b = np.empty_like(a)
    copy = read = 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        np.copyto(b, a)
        copy = max(copy, 2 * size / (time.perf_counter() - t) / 1e9)  # read + write
        t = time.perf_counter()
        float(a.sum())
        read = max(read, size / (time.perf_counter() - t) / 1e9)
    return {"copy_gb_s": round(copy, 1), "read_gb_s": round(read, 1)}


def _label(row: Any) -> str:
    """onnx-int4-b32, onnx-fp32, ort-int8 (per-tensor) or ort-int8-pc (per-channel)."""
    p = row.params
    if row.chain.split(">")[-1] == "quantize":
        return "ort-int8-pc" if p.get("quantize.per_channel") else "ort-int8"
    block = f"-b{p['build.block_size']}" if "build.block_size" in p else ""
    return f"onnx-{p['build.precision']}{block}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="a finished study's output folder")
    ap.add_argument("--repeats", type=int, default=40)
    args = ap.parse_args()
    loaded, _study, report = _open(args.out, None)
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
    task = TrialRunner(space=loaded.space, model=model, data=data, cache=cache, seed=0).eval_task()
    bw = bandwidth_gb_s()
    latency = LatencyEvaluator(warmup=5, repeats=args.repeats, max_prompts=8)
    rows = []
    candidates = [("pytorch-fp32-eager", ModelArtifact(cache.path("merge", merge_key), "hf"), None)]
    for r in sorted(same, key=lambda r: r.number):
        candidates.append((_label(r), ModelArtifact(Path(str(r.artifact)), "onnx-genai"), r))
    for label, artifact, row in candidates:
        lat = latency.evaluate(artifact, task)
        size = SizeEvaluator().evaluate(artifact, task)
        weight_bytes = size["onnx_bytes"] if artifact.kind == "onnx-genai" else size["bytes"]
        bound = bw["read_gb_s"] * 1e9 / weight_bytes
        rows.append(
            {
                "model": label,
                "threads": row.params.get("build.intra_op_threads", 0) if row else None,
                "trial": row.number if row else None,
                "accuracy": row.metrics["accuracy"]
                if row
                else report.row(report.winner).metrics.get("torch_accuracy"),
                "p50_ms": round(lat["p50_ms"], 1),
                "p90_ms": round(lat["p90_ms"], 1),
                "decode_tok_s": round(lat["decode_tokens_per_s"], 1),
                "weights_mb": round(weight_bytes / 2**20, 1),
                "bound_tok_s": round(bound, 1),
                "share_of_bound": round(lat["decode_tokens_per_s"] / bound, 3),
            }
        )
    base = rows[0]["decode_tok_s"]
    for r in rows:
        r["decode_vs_pytorch"] = round(r["decode_tok_s"] / base, 2)
    result = {
        "study": str(args.out.resolve()),
        "bandwidth": bw,
        "repeats": args.repeats,
        "prompt_len": lat["prompt_len"],
        "answer_tokens": lat["answer_tokens"],
        "rows": rows,
    }
    (HERE / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"memory bandwidth: copy {bw['copy_gb_s']} GB/s, read {bw['read_gb_s']} GB/s")
    header = ("model", "acc", "p50 ms", "p90 ms", "dec tok/s", "x eager", "MB", "bound", "of bound")
    print(f"{header[0]:22} " + " ".join(f"{h:>9}" for h in header[1:]))
    for r in rows:
        cells = (
            f"{r['accuracy']:.3f}",
            f"{r['p50_ms']:.1f}",
            f"{r['p90_ms']:.1f}",
            f"{r['decode_tok_s']:.1f}",
            f"{r['decode_vs_pytorch']:.2f}",
            f"{r['weights_mb']:.0f}",
            f"{r['bound_tok_s']:.0f}",
            f"{r['share_of_bound']:.1%}",
        )
        print(f"{r['model']:22} " + " ".join(f"{c:>9}" for c in cells))
    print(f"written to {HERE / 'results.json'}")


if __name__ == "__main__":
    main()
