"""Every build of one fine-tune, scored on data the study never saw: which int4 recipe keeps accuracy.

    python benchmarks/quantization/run.py [--out runs/quant] [--dev PATH/dev.jsonl]

Runs the study of recipes.yaml (one LoRA, its merged model through each build the sweep lists:
builder int4 with round-to-nearest or k-quant, with int8 LM head / sensitive layers or a float LM
head; GPTQ calibrated on training rows; int8; fp32), then scores every build on dev.jsonl with
ONNX Runtime GenAI. Prints, per build: size, p50 latency from the study, dev accuracy with its 95%
interval, how many dev phrases it answers like fp32, and the exact paired test against fp32 on the
same phrases. Writes benchmarks/quantization/results.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
DEV = (HERE.parents[1] / ".." / "shared" / "data" / "phrase-classification" / "dev.jsonl").resolve()


def _recipe(row: dict) -> str:
    p = row["params"]
    if "gptq" in row["chain"]:
        return f"gptq b{p.get('gptq.block_size', 32)}"
    words = [p["build.precision"]]
    if p["build.precision"] in ("int4", "int8"):
        words.append(p.get("build.algo_config", "default"))
        mixed = p.get("build.matmul_mixed_precision", "none")
        if mixed != "none":
            words.append(mixed.replace("last_matmul:int8", "head8").replace("mixed_layers:int8", "layers8"))
        if p.get("build.nodes_to_exclude", "none") != "none":
            words.append(f"{p['build.nodes_to_exclude']} float")
    return " ".join(words)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/quant"))
    ap.add_argument("--dev", type=Path, default=DEV)
    args = ap.parse_args()
    if not args.dev.is_file():
        raise SystemExit(f"run.py: {args.dev}: no such file; pass --dev PATH_TO/dev.jsonl")
    start = time.perf_counter()
    study = [
        sys.executable,
        "-m",
        "autotune.cli",
        "--space",
        str(HERE / "recipes.yaml"),
        "--out",
        str(args.out),
    ]
    subprocess.run([*study, "--quiet"], check=True)
    study_s = time.perf_counter() - start

    from autotune.inputs.data import PromptFormat
    from evaluators import AccuracyEvaluator, EvalTask, ModelArtifact, paired_test, wilson_interval

    rows = [json.loads(line) for line in args.dev.read_text().splitlines() if line.strip()]
    fmt = PromptFormat("phrase", "tone", "### Text: {phrase}\n### The tone is:\n{tone}", None)
    labels = ("sadness", "joy", "fear", "surprise")
    task = EvalTask(
        tuple(fmt.render(r["phrase"], None) for r in rows), tuple(r["tone"] for r in rows), labels
    )
    report = json.loads((args.out / "report.json").read_text())
    builds = [r for r in report["rows"] if r["state"] == "complete" and r.get("artifact")]
    scored = {}
    for r in builds:
        result = AccuracyEvaluator().evaluate(ModelArtifact(Path(r["artifact"]), "onnx-genai"), task)
        scored[r["number"]] = (r, result)
    fp32 = next(
        n
        for n, (r, _) in scored.items()
        if r["params"].get("build.precision") == "fp32" and "gptq" not in r["chain"]
    )
    ref = [bool(c) for c in scored[fp32][1]["correct"]]
    table = []
    for n, (r, result) in sorted(scored.items(), key=lambda kv: -kv[1][1]["accuracy"]):
        correct = [bool(c) for c in result["correct"]]
        test = paired_test(ref, correct)
        low, high = wilson_interval(sum(correct), len(correct))
        table.append(
            {
                "trial": n,
                "recipe": _recipe(r),
                "size_mb": round(r["metrics"]["size_mb"], 1),
                "latency_p50_ms": round(r["metrics"]["latency_p50_ms"], 1),
                "search_accuracy": round(r["metrics"]["accuracy"], 4),
                "dev_accuracy": round(result["accuracy"], 4),
                "dev_ci95": [round(low, 3), round(high, 3)],
                "fp32_right_it_wrong": test.b,
                "fp32_wrong_it_right": test.c,
                "p_worse_than_fp32": round(test.p_worse, 4),
            }
        )
    print(
        f"study {study_s:.0f} s; dev.jsonl {len(rows)} phrases; paired exact test against trial {fp32} (fp32)"
    )
    head = ("recipe", "MB", "p50 ms", "search", "dev", "95% interval", "b/c", "p")
    print("{:34} {:>6} {:>7} {:>7} {:>6} {:>13} {:>7} {:>6}".format(*head))
    for t in table:
        print(
            f"{t['recipe']:34} {t['size_mb']:6.1f} {t['latency_p50_ms']:7.1f} {t['search_accuracy']:7.3f} "
            f"{t['dev_accuracy']:6.3f} {t['dev_ci95'][0]:6.3f}-{t['dev_ci95'][1]:.3f} "
            f"{t['fp32_right_it_wrong']:>3}/{t['fp32_wrong_it_right']:<3} {t['p_worse_than_fp32']:6.3f}"
        )
    out = {
        "date": time.strftime("%Y-%m-%d"),
        "study_seconds": round(study_s),
        "dev_rows": len(rows),
        "builds": table,
    }
    (HERE / "results.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
