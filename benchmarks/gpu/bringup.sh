#!/usr/bin/env bash
# Step 2 of the GPU bring-up, on the bare GPU machine (no registry; Python 3.12 with torch,
# transformers, peft there): receive the chunks pack_wheels.sh cut, one per call, then install.
#   benchmarks/gpu/bringup.sh receive .whl-gpu/part-aa     (once per chunk, calls back to back:
#                                                           the chunks wait in $STAGE meanwhile)
#   benchmarks/gpu/bringup.sh install                      (joins, checks every sha256, installs)
#   source benchmarks/gpu/env.sh                           (each later command: PYTHONPATH etc.)
# install ends by printing what the cuda target needs and whether it is there: the ORT CUDA
# provider, ORT GenAI CUDA, bitsandbytes' CUDA kernels and the GPU torch sees.
set -euo pipefail
cd "$(dirname "$0")/../.."
STAGE="${AUTOTUNE_GPU_STAGE:-/root/autotune-gpu}"
mkdir -p "$STAGE/chunks"
case "${1:-}" in
receive)
    shift
    for chunk in "$@"; do cp "$chunk" "$STAGE/chunks/"; done
    ls -l "$STAGE/chunks"
    ;;
install)
    cd "$STAGE"
    cat chunks/part-* | tar -xf -
    (cd "$OLDPWD" && grep -v '^#' benchmarks/gpu/wheels.txt) | while read -r sha file; do
        echo "$sha  .whl/$file" | sha256sum --check --quiet
    done
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$STAGE/site" .whl/*.whl
    rm -rf .whl chunks
    cd "$OLDPWD"
    # shellcheck source=/dev/null
    source benchmarks/gpu/env.sh
    python3 - <<'PY'
import onnxruntime as ort, onnxruntime_genai as og, torch, transformers, peft, bitsandbytes
print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))
print("transformers", transformers.__version__, "peft", peft.__version__, "bitsandbytes", bitsandbytes.__version__)
print("onnxruntime", ort.__version__, ort.get_available_providers())
print("onnxruntime_genai", og.__version__, "cuda" if og.is_cuda_available() else "NO CUDA")
assert "CUDAExecutionProvider" in ort.get_available_providers(), "onnxruntime-gpu did not load CUDA"
PY
    ;;
*)
    echo "usage: $0 receive CHUNK... | install" >&2
    exit 2
    ;;
esac
