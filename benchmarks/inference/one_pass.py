"""One-pass label scoring against a pass per label, side by side on a study's int4 winner.

    python benchmarks/inference/one_pass.py STUDY_OUT [--trial N] [--rounds 3] [--repeats 40]
        [--data ../shared/data/phrase-classification/dev.jsonl]

The same requests (the study's latency prompts, its warm-up discarded) are timed with both
scorers in alternating rounds in one run: "per_label" is the prompt's prefill in ORT GenAI, then
one pass per label longer than one token and a rewind (what the study did before issue 22);
"one" is the prompt and every label's tokens in one ONNX Runtime pass (evaluators._tree). Both
use the build's own thread setting. For each it prints p50/p90 with their bootstrap intervals,
the passes per request and the sum of their times, and the share of the bound: the time one pass
needs to read the weights it multiplies once, at this machine's read bandwidth measured in the
same run. Then both predict every phrase of the dev data (labels the study never searched on):
the predictions are compared one by one. Writes benchmarks/inference/results-one-pass-trialN.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from autotune.cache import Cache
from autotune.inputs.data import PromptFormat, load_task_data
from autotune.inputs.models import prepare_model
from autotune.study.run import open_output
from autotune.trial.splits import eval_task
from evaluators import LatencyEvaluator, ModelArtifact, predict_labels, wilson_interval

sys.path.insert(0, str(Path(__file__).parent))
from run import bandwidth_gb_s, onnx_decode_bytes

HERE = Path(__file__).parent
DEV = HERE.parents[1] / ".." / "shared" / "data" / "phrase-classification" / "dev.jsonl"
SCORERS = {"per_label": False, "one": True}


def _int4_trial(report: Any, number: int | None) -> Any:
    if number is not None:
        return report.row(number)
    winner = report.row(report.winner) if report.winner is not None else None
    if winner is not None and winner.params.get("build.precision") == "int4":
        return winner
    int4 = [r for r in report.rows if r.on_front and r.params.get("build.precision") == "int4"]
    if not int4:
        raise SystemExit("one_pass.py: no int4 trial on the front; pass --trial N")
    return max(int4, key=lambda r: r.metrics.get("accuracy", 0.0))


def _summary(runs: list[dict[str, Any]], bound_ms: float) -> dict[str, Any]:
    last = runs[-1]
    per_pass = last["prefill_mean_ms"] + last["decode_mean_ms"]
    return {
        "p50_ms": [round(r["p50_ms"], 1) for r in runs],
        "p50_ci95": [[round(x, 1) for x in r["p50_ci95"]] for r in runs],
        "p90_ms": [round(r["p90_ms"], 1) for r in runs],
        "p50_ms_median_of_rounds": round(statistics.median(r["p50_ms"] for r in runs), 1),
        "passes_per_request": last["passes_per_request"],
        "label_tokens_in_prefill": last["label_tokens_in_prefill_mean"],
        "prefill_mean_ms": round(last["prefill_mean_ms"], 1),
        "decode_mean_ms": round(last["decode_mean_ms"], 1),
        "sum_of_passes_ms": round(per_pass, 1),
        "bound_ms": round(bound_ms * last["passes_per_request"], 2),
        "runtime": last["runtime"],
        "threads": last["threads"],
        "prompt_len": last["prompt_len"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="a finished study's output folder")
    ap.add_argument("--trial", type=int, help="the build to time (default: the int4 winner)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=40)
    ap.add_argument("--data", type=Path, default=DEV.resolve())
    args = ap.parse_args()
    loaded, _study, report, _info = open_output(args.out.resolve(), None)
    row = _int4_trial(report, args.trial)
    folder = Path(str(row.artifact))
    model = prepare_model(loaded.space.model, Cache(args.out / "cache"), loaded.base_dir)
    task = eval_task(loaded.space, model, load_task_data(loaded.space.data, loaded.base_dir))
    ev = loaded.space.evaluation
    bw = bandwidth_gb_s()
    size = onnx_decode_bytes(folder)
    bound_ms = size["decode_bytes"] / (bw["read_gb_s"] * 1e9) * 1000
    artifact = ModelArtifact(folder, "onnx-genai")
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in SCORERS}
    for _ in range(args.rounds):
        for name, one_pass in SCORERS.items():
            latency = LatencyEvaluator(
                warmup=ev.latency_warmup,
                repeats=args.repeats,
                max_prompts=ev.latency_prompts,
                one_pass=one_pass,
            )
            runs[name].append(latency.evaluate(artifact, task))
    rows = [json.loads(line) for line in args.data.read_text().splitlines() if line.strip()]
    data = loaded.space.data
    fmt = PromptFormat(data.text_column, data.label_column, data.template, None, None)
    prompts = [fmt.render(r[data.text_column], None) for r in rows]
    gold = [r[data.label_column] for r in rows]
    predictions: dict[str, list[str]] = {}
    dev: dict[str, Any] = {}
    for name, one_pass in SCORERS.items():
        start = time.perf_counter()
        choices = predict_labels(artifact, prompts, task.label_set, eos=task.eos, one_pass=one_pass)
        predictions[name] = [c.label for c in choices]
        hits = sum(p == g for p, g in zip(predictions[name], gold, strict=True))
        dev[name] = {
            "accuracy": round(hits / len(rows), 4),
            "accuracy_ci95": [round(x, 4) for x in wilson_interval(hits, len(rows))],
            "seconds": round(time.perf_counter() - start, 1),
        }
    differ = [i for i, (a, b) in enumerate(zip(*predictions.values(), strict=True)) if a != b]
    result = {
        "study": str(args.out.resolve()),
        "date": time.strftime("%Y-%m-%d"),
        "trial": row.number,
        "build": {k.split(".", 1)[1]: v for k, v in row.params.items() if k.startswith("build.")},
        "decode_mb": round(size["decode_bytes"] / 2**20, 1),
        "bandwidth": bw,
        "rounds": args.rounds,
        "repeats": args.repeats,
        "warmup": ev.latency_warmup,
        "latency": {name: _summary(r, bound_ms) for name, r in runs.items()},
        "dev": {"data": str(args.data), "rows": len(rows), **dev, "predictions_differ": differ},
    }
    (HERE / f"results-one-pass-trial{row.number}.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"trial {row.number} ({result['build']}), {result['decode_mb']} MB multiplied per pass")
    print(f"read bandwidth {bw['read_gb_s']} GB/s ({bw['read_threads']} threads): {bound_ms:.2f} ms per pass")
    for name, s in result["latency"].items():
        print(
            f"{name:9} p50 {s['p50_ms']} ms (median {s['p50_ms_median_of_rounds']}), p90 {s['p90_ms']}; "
            f"{s['passes_per_request']:.0f} passes, sum {s['sum_of_passes_ms']} ms, "
            f"bound {s['bound_ms']} ms; "
            f"{s['runtime']} {s['threads']}"
        )
    for name in SCORERS:
        d = dev[name]
        print(f"dev {name:9} accuracy {d['accuracy']:.4f} {d['accuracy_ci95']} in {d['seconds']} s")
    print(f"predictions that differ: {len(differ)} of {len(rows)} {differ}")


if __name__ == "__main__":
    main()
