"""Accuracy of an exported model on the real dev split, against what its study reported.

    python benchmarks/dev_accuracy/run.py EXPORTED_DIR [--data ../shared/data/phrase-classification/dev.jsonl]

Prints accuracy with a bootstrap 95% interval, per-label recall and the study's own figure, and
writes them to benchmarks/dev_accuracy/results-<name>.json.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from autotune.predict import predict

HERE = Path(__file__).parent
DEFAULT_DATA = HERE.parents[1] / ".." / "shared" / "data" / "phrase-classification" / "dev.jsonl"


def bootstrap(hits: list[int], n: int = 2000, seed: int = 0) -> tuple[float, float]:
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(hits, k=len(hits))) / len(hits) for _ in range(n))
    return means[int(0.025 * n)], means[int(0.975 * n) - 1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path, help="an exported folder (autotune export)")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA.resolve())
    args = ap.parse_args()
    if not args.data.is_file():
        raise SystemExit(f"run.py: {args.data}: no such file; pass --data PATH_TO/dev.jsonl")
    rows = [json.loads(line) for line in args.data.read_text().splitlines() if line.strip()]
    start = time.perf_counter()
    predicted = predict(args.model, [r["phrase"] for r in rows])
    seconds = time.perf_counter() - start
    hits = [int(p == r["tone"]) for p, r in zip(predicted, rows, strict=True)]
    acc = sum(hits) / len(hits)
    low, high = bootstrap(hits)
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
        "accuracy": round(acc, 4),
        "ci95": [round(low, 4), round(high, 4)],
        "per_label_recall": {k: round(v, 4) for k, v in recall.items()},
        "study_accuracy": reported["metrics"].get("accuracy"),
        "study_eval_rows": reported["details"].get("eval_rows"),
        "seconds": round(seconds, 1),
        "params": reported["params"],
    }
    out = HERE / f"results-{args.model.resolve().name}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
