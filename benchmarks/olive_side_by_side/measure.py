"""Accuracy on dev.jsonl and latency of an ONNX GenAI folder, with autotune's own evaluators."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from evaluators import AccuracyEvaluator, EvalTask, LatencyEvaluator, ModelArtifact

folder, dev = Path(sys.argv[1]), Path(sys.argv[2])
rows = [json.loads(x) for x in dev.read_text().splitlines() if x.strip()]
task = EvalTask(
    tuple(f"### Text: {r['phrase']}\n### The tone is:\n" for r in rows),
    tuple(r["tone"] for r in rows),
    ("sadness", "joy", "fear", "surprise"),
)
artifact = ModelArtifact(folder, "onnx-genai")
acc = AccuracyEvaluator().evaluate(artifact, task)
lat = LatencyEvaluator(warmup=5, repeats=40).evaluate(artifact, task)
print(
    json.dumps(
        {
            "accuracy": acc["accuracy"],
            "p50_ms": lat["p50_ms"],
            "p90_ms": lat["p90_ms"],
            "decode_passes_per_s": lat["decode_passes_per_s"],
        }
    )
)
