#!/usr/bin/env bash
# The GPU check, in two halves, for a GPU machine that has CUDA, Python with PyTorch and JAX, but
# none of the Debian libraries and no package registry (DESIGN section 10):
#
#   bash scripts/gpu-check.sh bundle        # here: build for sm_90 into build-gpu/ and gather the
#                                           # binaries with the shared libraries they need into
#                                           # gpu-bundle.tar.xz (about 30 MB; git-ignored),
#                                           # with ptxas's resources per function
#   bash scripts/gpu-check.sh run OUTDIR    # there, from the repository root, with the bundle:
#                                           # the backend suite on the GPU, a memory check, the
#                                           # side-by-side benchmark and a kernel profile; logs and
#                                           # a summary go to OUTDIR
#
# Each stage of `run` has its own time limit so the whole stays under ~9 minutes, and a failing
# stage does not stop the next one. Correctness comes first (the suite, the memory and race
# checks), then speed (the two strategies on each workload, a kernel profile, the side-by-side
# benchmark, which takes whatever time is left). The exit status is that of the backend suite.
set -uo pipefail
cd "$(dirname "$0")/.."

bundle() {
  set -e
  cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPECSWEEP_CUDA=ON -DSPECSWEEP_MPI=OFF \
    -DCMAKE_CUDA_ARCHITECTURES=90 -DSPECSWEEP_NATIVE=OFF -DSPECSWEEP_WERROR=ON
  cmake --build build-gpu --parallel "$(nproc)" --target specsweep test_backends specsweep_throughput
  rm -rf gpu-bundle
  mkdir -p gpu-bundle/host gpu-bundle/tests gpu-bundle/bench gpu-bundle/lib
  cp build-gpu/host/specsweep gpu-bundle/host/
  cp build-gpu/tests/test_backends gpu-bundle/tests/
  cp build-gpu/bench/specsweep_throughput gpu-bundle/bench/
  # Every shared library the binaries load except the C library's own (the GPU machine's newer
  # glibc serves them), the driver's libcuda, and the CUDA toolkit's math libraries (hundreds of
  # MB; the GPU machine has its own CUDA 13, see cuda_library_path).
  for bin in gpu-bundle/*/*; do
    [[ -f $bin && -x $bin ]] || continue
    ldd "$bin" | awk '/=> \//{print $3}'
  done | sort -u |
    grep -Ev '/(libc|libm|libpthread|libdl|librt|ld-linux[^/]*|libcuda|libcublas(Lt)?|libcusolver|libcusparse|libnvJitLink)\.so' |
    xargs -r cp -L -t gpu-bundle/lib
  git rev-parse --short=12 HEAD >gpu-bundle/REVISION
  # The CUDA release the binaries were built with: the GPU machine's driver must support it.
  nvcc --version | grep -Eo 'release [0-9]+\.[0-9]+' | cut -d' ' -f2 >gpu-bundle/CUDA_RELEASE
  # What ptxas gave each kernel and each function it kept out of line (registers, stack, spills):
  # read beside the profile; a squeezed kernel is flagged (LOOK lines). One more compile, minutes.
  python3 scripts/kernel_resources.py build-gpu >gpu-bundle/RESOURCES.txt
  grep '^LOOK' gpu-bundle/RESOURCES.txt || true
  # Compressed, the bundle travels in a fraction of the 64 MiB a device call may carry.
  tar -cJf gpu-bundle.tar.xz gpu-bundle
  du -sh gpu-bundle gpu-bundle.tar.xz
}

# Folders holding the CUDA toolkit's cuBLAS and cuSOLVER on this machine: the toolkit's own, or
# the NVIDIA wheels Python's PyTorch brought.
cuda_library_path() {
  local dirs=(/usr/local/cuda/lib64 /usr/local/cuda/lib)
  dirs+=($(python3 -c 'import importlib, os
for m in ("nvidia.cublas", "nvidia.cusolver", "nvidia.cusparse", "nvidia.nvjitlink", "nvidia.cu13"):
    try:
        mod = importlib.import_module(m)
    except ImportError:
        continue
    for p in mod.__path__:
        print(os.path.join(p, "lib"))' 2>/dev/null))
  local IFS=:
  echo "${dirs[*]}"
}

run() {
  local out=${1:?usage: gpu-check.sh run OUTDIR}
  mkdir -p "$out"
  [[ -d gpu-bundle ]] || tar -xJf gpu-bundle.tar.xz
  export LD_LIBRARY_PATH="$PWD/gpu-bundle/lib:$(cuda_library_path)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  if ldd gpu-bundle/tests/test_backends | grep 'not found' | tee "$out/missing_libraries.txt"; then
    echo "missing shared libraries (above); LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  fi
  export PYTHONUNBUFFERED=1
  # A CUDA test that cannot reach the device fails here instead of skipping (a skip reads as a pass).
  export SPECSWEEP_REQUIRE_GPU=1
  local suite_status=1
  # Every stage's limit is cut to what is left of the whole run's (GPU_CHECK_SECONDS, default 540).
  local deadline=$((SECONDS + ${GPU_CHECK_SECONDS:-540}))
  left() { local l=$((deadline - SECONDS)); ((l < $1)) && echo $((l > 1 ? l : 1)) || echo "$1"; }
  # Up front, what the bundle needs against what the machine has: the CUDA release it was built
  # with against the newest the driver supports, and the cuBLAS/cuSOLVER/runtime it will load.
  {
    echo "revision $(cat gpu-bundle/REVISION) checked $(date -u +%F)"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
    local built driver_cuda
    built=$(cat gpu-bundle/CUDA_RELEASE 2>/dev/null || echo unknown)
    driver_cuda=$(nvidia-smi | grep -Eo 'CUDA Version: [0-9]+\.[0-9]+' | cut -d' ' -f3)
    if [[ $built == unknown || -z $driver_cuda ]]; then
      echo "CUDA: bundle built with $built, driver supports ${driver_cuda:-unknown}: not compared"
    elif [[ $(printf '%s\n%s\n' "$built" "$driver_cuda" | sort -V | head -n 1) == "$built" ]]; then
      echo "CUDA: bundle built with $built, driver supports up to $driver_cuda: ok"
    else
      echo "CUDA: bundle built with $built, driver supports only up to $driver_cuda: TOO OLD, expect cudaErrorInsufficientDriver"
    fi
    ldd gpu-bundle/tests/test_backends | grep -E 'libcudart|libcublas|libcusolver' | sed 's/^[[:space:]]*/loads /'
  } | tee "$out/device.txt"
  # A stage's test filter that matches fewer tests than it names has not checked what it says.
  expect_tests() {
    local ran
    ran=$(grep -Eo 'Running [0-9]+ tests?' "$1" | head -n 1 | grep -Eo '[0-9]+')
    [[ ${ran:-0} == "$2" ]] || echo "$1: ran ${ran:-0} tests where the filter names $2: FILTER STALE"
  }

  echo "== backend suite on the GPU (CPU oracle beside it)"
  timeout "$(left 240)" gpu-bundle/tests/test_backends --gtest_brief=1 --gtest_output="xml:$out/test_backends.xml" \
    >"$out/test_backends.log" 2>&1
  suite_status=$?
  tail -n 25 "$out/test_backends.log"
  python3 - "$out/test_backends.xml" <<'PY' | tee "$out/suite_counts.txt"
import sys, xml.etree.ElementTree as ET
try:
    cases = list(ET.parse(sys.argv[1]).getroot().iter("testcase"))
except Exception as e:
    sys.exit(f"no test report: {e}")
def kind(c):
    if c.find("failure") is not None: return "failed"
    return "skipped" if c.get("result") == "skipped" or c.find("skipped") is not None else "passed"
for backend in ("cuda", "cpu"):
    mine = [c for c in cases if c.get("name", "").endswith(backend) or f"/{backend}_" in c.get("name", "")
            or c.get("value_param", "").find(backend) >= 0]
    counts = {k: sum(kind(c) == k for c in mine) for k in ("passed", "failed", "skipped")}
    print(backend, counts)
print("failed:", [c.get("classname") + "." + c.get("name") for c in cases if kind(c) == "failed"])
PY

  echo "== specsweep selftest on the GPU"
  timeout "$(left 90)" gpu-bundle/host/specsweep selftest --backend cuda >"$out/selftest.log" 2>&1
  echo "selftest exit $?"; grep -v '^ok ' "$out/selftest.log" | tail -n 20

  echo "== memory check of the three strategies (compute-sanitizer memcheck)"
  timeout "$(left 90)" compute-sanitizer --tool memcheck --error-exitcode 9 gpu-bundle/tests/test_backends \
    --gtest_filter='*MatchesCpuOracle*/cuda_fused_muon_jordan5:*MatchesCpuOracle*/cuda_batched_specgd_exact:*MatchesCpuOracle*/cuda_block_muon_jordan5:*ManyCells*cuda' \
    >"$out/memcheck.log" 2>&1
  echo "memcheck exit $?"; tail -n 5 "$out/memcheck.log"; expect_tests "$out/memcheck.log" 4
  # The block strategy shares memory between a block's threads: races and barriers checked.
  for tool in racecheck synccheck; do
    timeout "$(left 60)" compute-sanitizer --tool $tool --error-exitcode 9 gpu-bundle/tests/test_backends \
      --gtest_filter='*MatchesCpuOracle*/cuda_block_specgd_exact:*MatchesCpuOracle*/cuda_block_rank_20_muon_newton_schulz:*MatchesCpuOracle*/cuda_fused_muon_jordan5' \
      >"$out/$tool.log" 2>&1
    echo "$tool exit $?"; tail -n 5 "$out/$tool.log"; expect_tests "$out/$tool.log" 3
  done

  echo "== strategies side by side: fused (thread per seed), batched (cuBLAS), block (a block per seed group), per workload"
  : >"$out/strategies.jsonl"
  for workload in kang-specgd-exact kang-muon-jordan5 medium-specgd-exact medium-muon-jordan5 \
                  large-specgd-exact large-muon-jordan5; do
    local seeds=16384 steps=200 strategies="auto fused batched block"
    # The block strategy stages the target in shared memory: beyond Kang's size it does not fit
    # and the cell would run fused. One thread per seed at 1024^2 takes minutes for a handful of
    # steps: the batched strategy only there.
    case $workload in
      medium-*) seeds=4096 steps=50 strategies="auto fused batched" ;;
      large-*) seeds=512 steps=10 strategies=batched ;;
    esac
    for strategy in $strategies; do
      timeout "$(left 60)" gpu-bundle/bench/specsweep_throughput --backend cuda --no-peak --repeat 3 --workload "$workload" \
        --seeds "$seeds" --steps "$steps" --strategy "$strategy" >>"$out/strategies.jsonl" 2>&1 ||
        echo "{\"workload\": \"$workload\", \"strategy\": \"$strategy\", \"failed\": true}" >>"$out/strategies.jsonl"
    done
  done
  cat "$out/strategies.jsonl"

  echo "== kernel profiles (Nsight Compute, one Kang launch of the fused and of the block strategy)"
  for strategy in fused block; do
    timeout "$(left 60)" ncu --clock-control none --set basic --section Occupancy --section MemoryWorkloadAnalysis \
      --launch-count 1 -k regex:'seed_kernel|block_kernel' gpu-bundle/bench/specsweep_throughput --backend cuda \
      --no-peak --strategy $strategy --workload kang-specgd-exact --seeds 16384 --steps 20 --repeat 1 \
      >"$out/ncu-$strategy.log" 2>&1
    echo "ncu $strategy exit $?"
    grep -E "Duration|Throughput|Achieved Occupancy|Registers|Shared Memory|L1/TEX Hit|L2 Hit|DRAM" "$out/ncu-$strategy.log" | head -20
  done
  echo "== side by side: specsweep CUDA, PyTorch, torch.compile, JAX"
  timeout "$(left 240)" python3 bench/gpu_vs_peers.py --build gpu-bundle --repeat 2 --budget 1.5 >"$out/peers.log" 2>&1
  echo "side-by-side exit $?"; tail -n 30 "$out/peers.log"

  echo "== summary"; cat "$out/device.txt" "$out/suite_counts.txt"
  echo "ptxas resources of this bundle (gpu-bundle/RESOURCES.txt):"; cat gpu-bundle/RESOURCES.txt 2>/dev/null
  return $suite_status
}

case "${1:-}" in
  bundle) bundle ;;
  run) shift; run "$@" ;;
  *) echo "usage: $0 bundle | run OUTDIR" >&2; exit 2 ;;
esac
