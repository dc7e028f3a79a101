#!/usr/bin/env bash
# Installs the dependencies, builds everything warnings-as-errors and runs the test suite.
# Without a GPU the CUDA tests skip; the CUDA code is still compiled when nvcc is present.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-debian.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPECSWEEP_WERROR=ON
cmake --build build --parallel "$(nproc)"
ctest --test-dir build --output-on-failure --parallel "$(nproc)" --timeout 900

# The suite again under AddressSanitizer + UBSan (CUDA and benchmarks off): a memory error or
# undefined behaviour fails the test that reaches it. -O1 with assertions on: a quarter of -O3's
# build time on 2 cores. MPI and Slurm are left out (label mpi): Open MPI's launcher and
# libraries are not built with the sanitizers, and LeakSanitizer reports their allocations at
# exit. So are the claims (label claims): runs at the papers' sizes, minutes each under the
# sanitizers, through the code paths the rest of the suite covers.
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE=-O1 \
  -DCMAKE_C_FLAGS_RELEASE=-O1 -DSPECSWEEP_WERROR=ON -DSPECSWEEP_CUDA=OFF -DSPECSWEEP_BENCH=OFF \
  -DSPECSWEEP_SANITIZE=address,undefined -DSPECSWEEP_PYTHON_PACKAGE=OFF
cmake --build build-asan --parallel "$(nproc)"
# allocator_may_return_null: an absurd allocation fails as it does without the sanitizer (malloc
# returns null, new throws). HDF5 sizes some allocations from what a file says, so a damaged
# partial file can ask for one; HDF5 then reports an error, which is the contract the fault test
# checks (CI once saw AddressSanitizer abort on it instead, corruption 22 of a random seed).
# lsan.supp: one HDF5 leak on damaged files, explained there.
ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1:allocator_may_return_null=1 \
  LSAN_OPTIONS=suppressions="$PWD/tests/lsan.supp" \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure --parallel "$(nproc)" --timeout 900 -LE 'mpi|claims'
# The fuzz targets (fuzz/README.md), 60 s each from their seed corpora.
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPECSWEEP_WERROR=ON \
  -DSPECSWEEP_FUZZ=ON -DSPECSWEEP_TESTS=OFF -DSPECSWEEP_BENCH=OFF -DSPECSWEEP_CUDA=OFF -DSPECSWEEP_MPI=OFF \
  -DSPECSWEEP_PYTHON_PACKAGE=OFF
cmake --build build-fuzz --parallel "$(nproc)" --target fuzz
fuzz/run.sh build-fuzz 60
