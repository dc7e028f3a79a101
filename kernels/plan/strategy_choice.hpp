#pragma once
// The CUDA backend's choice of a strategy per cell (kernels/cuda/cuda_backend.cu runs it), host
// code so that the CPU suite checks it: the cost model of bench/FLOP_MODEL.md ("Choosing a
// strategy") as a rule.
#include "backend.hpp"
#include "strategy/batched.hpp"

namespace specsweep {

// What a cell runs under: fused, batched or block (never automatic).
using GpuStrategy = BackendOptions::GpuStrategy;

// Targets with at least this many entries (m n) run batched (measured on an H200, bench/RESULTS.md:
// at 256^2, r = 16, the batched strategy ran 15-17x the fused one; at Kang's 60 x 70 they tied).
inline constexpr long kBatchedMinEntries = 128 * 128;

// Among the strategies that compute the cell: batched when the target is large, for there the
// per-seed GEMMs are large enough for cuBLAS and a seed's state outgrows a block's shared memory;
// else block, when a group of seeds fits the shared memory (group_seeds > 0, from
// strategy::block_group_seeds), for it keeps the state on chip and launches once; else fused,
// which computes every cell. A forced strategy is taken where it computes the cell, fused
// otherwise. The block strategy's advantage is counted, not yet measured: its constant is the
// first thing a GPU run calibrates.
template <class T>
GpuStrategy choose_strategy(const strategy::CellParams<T>& cell, int group_seeds,
                            GpuStrategy forced) {
  if (!strategy::batched_supports(cell)) return GpuStrategy::fused;
  switch (forced) {
    case GpuStrategy::fused:
    case GpuStrategy::batched:
      return forced;
    case GpuStrategy::block:
      return group_seeds > 0 ? GpuStrategy::block : GpuStrategy::fused;
    case GpuStrategy::automatic:
      break;
  }
  if (long(cell.shape.m) * cell.shape.n >= kBatchedMinEntries) return GpuStrategy::batched;
  return group_seeds > 0 ? GpuStrategy::block : GpuStrategy::fused;
}

}  // namespace specsweep
