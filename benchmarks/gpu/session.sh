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

stage_tuner() {  # the tuner's pick of int4 builder options at Phi-3-mini scale (phi3-tuner.yaml)
    local out="$WORK/tuner"
    timeout 570 python3 -m autotune.cli --space benchmarks/gpu/phi3-tuner.yaml --out "$out" \
        --timeout "${TUNER_TIMEOUT:-400}" 2>&1 | tee "$OUT/tuner.log"
    python3 -m autotune.cli report "$out" --html >>"$OUT/tuner.log" 2>&1
    (cd "$out" && tar -czf "$OUT/tuner.tgz" --ignore-failed-read report.html report.json trials.csv run.json)
}

stage_tuner_decode() {  # decode.py on each build of the tuner study, exported as it is, and on the builder's default int4
    local out="$WORK/tuner" args=() n label
    while read -r n label; do
        python3 -m autotune.cli export "$out" --trial "$n" --dest "$WORK/tuner-export/$label" >>"$OUT/tuner_decode.log" 2>&1 &&
            args+=(--measure "$label=$WORK/tuner-export/$label")
    done < <(python3 benchmarks/gpu/tuner_builds.py "$out/report.json")
    timeout 560 python3 benchmarks/gpu/decode.py --precisions int4 "${args[@]}" --batches "${TUNER_BATCHES:-1,8}" \
        --prompts "${TUNER_PROMPTS:-16,1024}" --out "$OUT/decode_tuner.json" --work "$WORK/decode" 2>&1 | tee -a "$OUT/tuner_decode.log"
}

for stage in "$@"; do
    echo "=== $stage $(date -u +%H:%M:%S)"
    "stage_$stage" || echo "=== $stage failed ($?)"
done
echo "=== done $(date -u +%H:%M:%S)"
