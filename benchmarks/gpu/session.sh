#!/usr/bin/env bash
# The GPU runs of issue 12, as stages, on the GPU machine after bringup.sh install:
#   benchmarks/gpu/session.sh STAGE...     (tests, lora, study, decode)
# Each stage writes its log and results under $OUT (the device tool brings that folder back);
# a failing stage is reported and the next one still runs.
set -uo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=/dev/null
source benchmarks/gpu/env.sh
OUT="${OUT:-/tmp/autotune-gpu-out}"
WORK="${AUTOTUNE_GPU_WORK:-/root/autotune-work}"
mkdir -p "$OUT" "$WORK"

stage_tests() {  # the gpu-marked tests (LoRA, QLoRA, -e cuda builds in ORT GenAI CUDA, a tiny study)
    timeout 240 python3 -m pytest -m gpu tests/gpu -q -p no:cacheprovider -x 2>&1 | tee "$OUT/gpu-tests.log"
}

stage_lora() {  # LoRA / QLoRA training speed and MFU on a Phi-3-mini-shaped model
    timeout 330 python3 benchmarks/gpu/lora_speed.py --out "$OUT/lora_speed.json" 2>&1 | tee "$OUT/lora_speed.log"
}

stage_study() {  # the cuda study on the packaged SmolLM2, its report, export and predict
    local out="$WORK/study"
    timeout 540 python3 -m autotune.cli --space smollm2-emotion-cuda --out "$out" \
        --timeout "${STUDY_TIMEOUT:-330}" 2>&1 | tee "$OUT/study.log"
    python3 -m autotune.cli report "$out" --html >>"$OUT/study.log" 2>&1
    python3 -m autotune.cli export "$out" --dest "$out/winner" 2>&1 | tee -a "$OUT/study.log"
    python3 -m autotune.cli predict --model "$out/winner" "I miss my old friends so much." \
        "We won the championship!" "There is a spider on my bed!" \
        "I did not expect to see you here!" 2>&1 | tee -a "$OUT/study.log"
    (cd "$out" && tar -czf "$OUT/study.tgz" --ignore-failed-read report.html report.json trials.csv \
        run.json winner/metrics.json winner/autotune.yaml winner/task.json winner/genai_config.json)
}

stage_decode() {  # ORT GenAI CUDA decode speed of int4 / fp16 / bf16 against the bandwidth bound
    timeout 570 python3 benchmarks/gpu/decode.py --out "$OUT/decode.json" --work "$WORK/decode" \
        ${DECODE_ARGS:-} 2>&1 | tee "$OUT/decode.log"
}

for stage in "$@"; do
    echo "=== $stage $(date -u +%H:%M:%S)"
    "stage_$stage" || echo "=== $stage failed ($?)"
done
echo "=== done $(date -u +%H:%M:%S)"
