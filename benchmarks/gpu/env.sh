# Source in every command on the GPU machine after bringup.sh install: the installed wheels and
# this checkout come first on the path (onnxruntime-gpu ahead of the image's CPU onnxruntime).
STAGE="${AUTOTUNE_GPU_STAGE:-/root/autotune-gpu}"
export PYTHONPATH="$STAGE/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
autotune() { python3 -m autotune.cli "$@"; }
