#!/usr/bin/env bash
# Installs the dependencies, builds specsweep and runs examples/quickstart.toml (on the GPU when
# the CUDA backend is built and a device is present, else on the CPU) into quickstart.h5.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-debian.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build --parallel "$(nproc)" --target specsweep
# --force: each run of this script replaces the quickstart output of the one before.
./build/host/specsweep run examples/quickstart.toml --out quickstart.h5 --backend auto --force
