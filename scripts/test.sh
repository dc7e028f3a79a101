#!/usr/bin/env bash
# Installs the dependencies, builds everything warnings-as-errors and runs the test suite.
# Without a GPU the CUDA tests skip; the CUDA code is still compiled when nvcc is present.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-debian.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPECSWEEP_WERROR=ON
cmake --build build --parallel "$(nproc)"
ctest --test-dir build --output-on-failure --parallel "$(nproc)" --timeout 900
