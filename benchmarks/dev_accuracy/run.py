"""Accuracy of an exported model on the real dev split, against what its study reported.

    python benchmarks/dev_accuracy/run.py EXPORTED_DIR [--data ../shared/data/phrase-classification/dev.jsonl]

Prints accuracy with its 95% Wilson interval (the same interval the study gives), per-label
recall, and the study's own figures beside it: the search split it selected on and the confirm
split it never saw. Writes them to benchmarks/dev_accuracy/results-<name>.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from autotune.export.predict import predict
from evaluators import wilson_interval

HERE = Path(__file__).parent
DEFAULT_DATA = HERE.parents[1] / ".." / "shared" / "data" / "phrase-classification" / "dev.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path, help="an exported folder (autotune export)")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA.resolve())
    ap.add_argument(
        "--method",
        choices=("score", "greedy"),
        help="label rule (default: the one the study used, from task.json)",
    )
    args = ap.parse_args()
    if not args.data.is_file():
        raise SystemExit(f"run.py: {args.data}: no such file; pass --data PATH_TO/dev.jsonl")
    rows = [json.loads(line) for line in args.data.read_text().splitlines() if line.strip()]
    start = time.perf_counter()
    predicted = predict(args.model, [r["phrase"] for r in rows], method=args.method)
    seconds = time.perf_counter() - start
    hits = [int(p == r["tone"]) for p, r in zip(predicted, rows, strict=True)]
    acc = sum(hits) / len(hits)
    low, high = wilson_interval(sum(hits), len(hits))
    labels = sorted({r["tone"] for r in rows})
    recall = {
        lab: sum(h for h, r in zip(hits, rows, strict=True) if r["tone"] == lab)
        / sum(1 for r in rows if r["tone"] == lab)
        for lab in labels
    }
    reported = json.loads((args.model / "metrics.json").read_text())
    result = {
        "model": str(args.model.resolve()),
        "data": str(args.data),
        "rows": len(rows),
        "method": args.method or json.loads((args.model / "task.json").read_text()).get("label_scoring"),
        "accuracy": round(acc, 4),
        "ci95": [round(low, 4), round(high, 4)],
        "per_label_recall": {k: round(v, 4) for k, v in recall.items()},
        "predicted_counts": {lab: predicted.count(lab) for lab in labels},
        "study_search": (reported.get("accuracy") or {}).get("search"),
        "study_confirm": (reported.get("accuracy") or {}).get("confirm"),
        "seconds": round(seconds, 1),
        "params": reported["params"],
    }
    suffix = f"-{args.method}" if args.method else ""
    out = HERE / f"results-{args.model.resolve().name}{suffix}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
