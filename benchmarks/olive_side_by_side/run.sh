#!/usr/bin/env bash
# Olive itself against autotune on the same workflow (LoRA -> MergeAdapterWeights -> ModelBuilder
# int4), the same local SmolLM2 folder and the same data, on this machine, one after the other.
# Olive lives in its own virtual environment here (never a dependency of autotune); its known
# fixes (NOTES.md): `requests`, and onnxruntime-genai 0.14.1 for its ModelBuilder pass.
#   benchmarks/olive_side_by_side/run.sh [WORK_DIR]      (run from the repo root, autotune's venv active)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${1:-/tmp/olive-side-by-side}
data=$(cd "$here/../../.." && pwd)/shared/data/phrase-classification
mkdir -p "$work"
if [ ! -x "$work/venv/bin/olive" ]; then
  python3 -m venv "$work/venv"
  "$work/venv/bin/pip" install -q torch==2.13.0
  "$work/venv/bin/pip" install -q olive-ai==0.13.0 requests onnxruntime-genai==0.14.1 onnx-ir peft transformers accelerate datasets
fi
model=$(python -c "
from pathlib import Path
from autotune.cache import Cache
from autotune.inputs.models import prepare_model
from autotune.space.schema import ModelSpec
print(prepare_model(ModelSpec(packaged='smollm2-135m-instruct'), Cache(Path('$work/model-cache')), Path('.')).path)")
config=$(python "$here/make_config.py" "$model" "$data/train.jsonl" "$work")
start=$(date +%s.%N)
"$work/venv/bin/olive" run --config "$config" > "$work/olive.log" 2>&1 || { echo "olive failed:"; tail -5 "$work/olive.log"; }
olive_s=$(echo "$(date +%s.%N) - $start" | bc)
start=$(date +%s.%N)
autotune run --config "$config" --out "$work/autotune" --quiet > "$work/autotune.log" 2>&1
autotune_s=$(echo "$(date +%s.%N) - $start" | bc)
olive_model=$(dirname "$(find "$work/olive-output" -name genai_config.json | head -1)")
{
  echo "{\"olive_wall_s\": $olive_s, \"autotune_wall_s\": $autotune_s,"
  echo " \"olive\": $(python "$here/measure.py" "$olive_model" "$data/dev.jsonl"),"
  echo " \"autotune\": $(python "$here/measure.py" "$work/autotune/output_model" "$data/dev.jsonl")}"
} | tee "$here/results.json"
