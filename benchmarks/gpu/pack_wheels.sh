#!/usr/bin/env bash
# Step 1 of the GPU bring-up, on a machine with a package registry: download the wheels that
# benchmarks/gpu/wheels.txt pins (Python 3.12, manylinux x86-64), check each sha256, and cut them
# into chunks small enough for one transfer each (the device tool carries 64 MiB per call).
#   benchmarks/gpu/pack_wheels.sh [CHUNK_SIZE]      -> .whl/*.whl and .whl-gpu/part-aa, -ab, ...
# Then, on the GPU machine, one call per chunk: benchmarks/gpu/bringup.sh receive .whl-gpu/part-XX
# and, with the last one: benchmarks/gpu/bringup.sh install (see bringup.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
size="${1:-60M}"
list=benchmarks/gpu/wheels.txt
mkdir -p .whl
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64 \
    manylinux2014_x86_64 manylinux1_x86_64; do platforms+=(--platform "$p"); done
grep -v '^#' "$list" | while read -r sha file; do
    if [ ! -f ".whl/$file" ]; then
        # the wheel's file name gives its distribution and version
        dist="${file%%-*}"; rest="${file#*-}"; version="${rest%%-*}"
        python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
            --implementation cp "${platforms[@]}" -d .whl "$dist==$version"
    fi
    echo "$sha  .whl/$file" | sha256sum --check --quiet
done
rm -rf .whl-gpu && mkdir -p .whl-gpu
files=$(grep -v '^#' "$list" | awk '{print ".whl/" $2}')
# shellcheck disable=SC2086
tar -cf - $files | split -b "$size" - .whl-gpu/part-
ls -l .whl-gpu
