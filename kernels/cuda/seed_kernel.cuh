#pragma once
// The fused strategy's launch: one thread per seed of the launch's tasks runs
// strategy::run_one_seed. The arrays of the 32 seeds of a warp are interleaved element-major, so
// each access of the per-seed algorithm is one coalesced transaction.
#include "strategy/fused.hpp"

namespace specsweep::cuda {

inline constexpr int kBlockThreads = 128;

// The register budget, stated rather than left to ptxas: given only a thread count it picks one by
// its own heuristics, and that pick swung between 128, 168 and 32 registers (32: full occupancy,
// with tens of KB of spill code in every per-step function) on source changes that did not touch
// the kernel (bench/RESULTS.md, "the fused kernel's register budget"). Blocks per SM set the
// budget at 65536 / (128 x blocks). fp32 takes 3 (168 registers), which spills about half what 4
// (128) does in the per-step functions; fp64 takes 4 (128), what it has always had. Which
// occupancy runs faster is for the first profile to say.
template <class T>
inline constexpr int kSeedKernelBlocksPerSm = sizeof(T) == sizeof(float) ? 3 : 4;

// A warp never spans two tasks (each task starts at its own warp), so the threads of a warp
// share the cell and branch alike.
template <class T>
__global__ void __launch_bounds__(kBlockThreads, kSeedKernelBlocksPerSm<T>)
    seed_kernel(const strategy::CellParams<T>* cells, const strategy::SeedTask<T>* tasks,
                int task_count) {
  const long thread = static_cast<long>(blockIdx.x) * blockDim.x + threadIdx.x;
  const long warp = thread / strategy::kWarp;
  int lo = 0, hi = task_count;  // the last task with first_warp <= warp
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (tasks[mid].first_warp <= warp)
      lo = mid;
    else
      hi = mid;
  }
  const strategy::SeedTask<T>& task = tasks[lo];
  const long i = thread - task.first_warp * strategy::kWarp;
  if (i < 0 || i >= task.count) return;
  strategy::run_one_seed(cells[task.cell], task, i);
}

}  // namespace specsweep::cuda
