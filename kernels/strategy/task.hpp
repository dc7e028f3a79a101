#pragma once
// What the GPU's execution strategies (fused.hpp, batched.hpp) read and write: a cell's
// parameters, the seeds of one task and the arrays their results go to. The per-seed arrays are
// interleaved by warp (element e of seed i at [(i / 32) * 32 * width + e * 32 + i % 32]) so that
// one thread per seed accesses them coalesced; task_results.hpp unpacks them on the host.
//
// The strategies are written for the host and the device alike (SPECSWEEP_HD): kernels/cuda runs
// them on the GPU, and tests/test_strategies.cpp runs the same code on the CPU against the CPU
// backend, so their logic is tested where no GPU is.
#include <cstdint>

#include "core/init.hpp"
#include "core/interleaved.hpp"
#include "core/trajectory.hpp"

namespace specsweep::strategy {

inline constexpr int kWarp = 32;

template <class T>
using WarpArray = Interleaved<T, kWarp>;

// Seed i's array of `width` values in a warp-interleaved block of arrays.
template <class U>
SPECSWEEP_HD WarpArray<U> seed_row(U* base, long i, int width) {
  return WarpArray<U>(base + (i / kWarp) * kWarp * width + i % kWarp);
}

// Everything about one cell a strategy reads (trivially copyable; on the GPU its pointers are
// device pointers).
template <class T>
struct CellParams {
  Shape shape;
  TargetView<T> target;
  OptimizerParams op;
  RunParams rp;
  EngineLayout layout;
  FactorInit factors[kMaxDepth];
  SpectralBasis basis;
  std::uint64_t master_seed;
  std::uint32_t cell;
  int init_scratch;  // doubles init_factor needs beyond the factors themselves
  int basin_probes;
  double norm2_half;  // of M rounded to T, as the host's CellPlan
};

// Per-seed results, in T, at these offsets of the seed's outcome array (outcome_width values).
struct OutcomeSlots {
  int modes;
  SPECSWEEP_HD int final_loss() const { return 0; }
  SPECSWEEP_HD int final_grad_norm() const { return 1; }
  SPECSWEEP_HD int steps_to_tol() const { return 2; }
  SPECSWEEP_HD int diverged() const { return 3; }
  SPECSWEEP_HD int init_det_sign() const { return 4; }
  SPECSWEEP_HD int window_loss() const { return 5; }
  SPECSWEEP_HD int final_sharpness() const { return 6; }
  SPECSWEEP_HD int recovery_error() const { return 7; }
  SPECSWEEP_HD int hit_step() const { return 8; }
  SPECSWEEP_HD int hit_value() const { return 8 + modes; }
  SPECSWEEP_HD int basin_converged() const { return 8 + 2 * modes; }
  SPECSWEEP_HD int basin_closer() const { return 9 + 2 * modes; }
  SPECSWEEP_HD int width() const { return 10 + 2 * modes; }
};

// Doubles per seed for initialization: the concatenated factors, then init_factor's scratch.
template <class T>
SPECSWEEP_HD int init_width(const CellParams<T>& c) {
  return c.layout.params + c.init_scratch;
}
// T values per seed kept for the basin probe: start point, final point, the restarts' hit arrays.
template <class T>
SPECSWEEP_HD int keep_width(const CellParams<T>& c) {
  return c.basin_probes > 0 ? 2 * c.layout.params + 2 * c.target.modes : 0;
}

// Seeds [first_seed, first_seed + count) of one cell, and where their data lives. Interleaved
// arrays hold ceil(count / 32) warps of 32 seeds; the trace arrays are plain, one row per traced
// seed [traced_first, traced_first + traced_count).
template <class T>
struct SeedTask {
  int cell;
  long first_seed, count;
  long first_warp;  // of this task within a fused launch
  long traced_first, traced_count;
  T* arena;              // interleaved, layout.total per seed
  double* init;          // interleaved, init_width per seed
  T* outcome;            // interleaved, OutcomeSlots::width per seed
  T* keep;               // interleaved, keep_width per seed (null without basin probe)
  T* traces;             // traced_count x record steps x packed_record_width
  double* init_factors;  // traced_count x params
  T* final_factors;      // traced_count x params
};

// Row of seed i (from task.first_seed) among the task's traced seeds, or -1 when it is not traced.
template <class T>
SPECSWEEP_HD long traced_row(const SeedTask<T>& task, long i) {
  const long row = task.first_seed + i - task.traced_first;
  return row >= 0 && row < task.traced_count ? row : -1;
}

// Seed i's initial factors, in double and concatenated, into init (init_factor's scratch after
// them), and into the task's init_factors row when the seed is traced.
template <class T>
SPECSWEEP_HD void initialize_seed(const CellParams<T>& c, const SeedTask<T>& task, long i,
                                  WarpArray<double> init) {
  const Shape& sh = c.shape;
  const int params = c.layout.params;
  const auto seed = static_cast<std::uint32_t>(task.first_seed + i);
  for (int k = 0; k < sh.depth; ++k) {
    const RandomStream stream(c.master_seed, c.cell, seed, Purpose::init,
                              static_cast<std::uint32_t>(k));
    init_factor(c.factors[k], k, sh.depth, sh.rows(k), sh.cols(k), stream, c.basis,
                init + sh.offset(k), init + params);
  }
  if (const long row = traced_row(task, i); row >= 0)
    for (int e = 0; e < params; ++e) task.init_factors[row * params + e] = init[e];
}

// Writes the record-step metrics of a traced seed (rows of `base`); never called when the run
// records nothing (record_count = 0), as for untraced seeds and basin restarts.
template <class T>
struct RecordSink {
  T* base;
  int width, r, modes, depth;
  bool delta_matrices;
  template <class P>
  SPECSWEEP_HD void operator()(int step, const RecordMetrics<T, P>& m) const {
    pack_record(m, 0, r, modes, depth, delta_matrices, base + static_cast<long>(step) * width);
  }
};

}  // namespace specsweep::strategy
