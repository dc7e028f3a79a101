#pragma once
// The batched strategy, for large depth-2 problems: the seeds of one task advance in lockstep, one
// step per host iteration, with every product a cuBLAS GEMM over all of them. See
// batched_engine.cu.
#include "cuda/blas.cuh"
#include "cuda/device_cell.cuh"

namespace specsweep::cuda {

// Whether the batched strategy computes this cell: depth 2, the step integrator (RK4 runs fused)
// and no basin probe (its restarts run fused, seed by seed).
template <class T>
bool batched_supports(const DeviceCell<T>& c) {
  return c.shape.depth == 2 && c.op.integrator == Integrator::step && c.basin_probes == 0;
}

// T values per seed of the task's interleaved arena under this strategy: the factors in the
// core's layout, scratch for record_metrics (which covers residual_loss and product_det_sign),
// and the record-step metrics.
template <class T>
int batched_arena_width(const DeviceCell<T>& c) {
  return c.layout.params + record_metrics_workspace(c.shape) +
         metrics_values(c.shape, c.target.modes);
}

// Device bytes per seed of the batched strategy's own buffers (beyond the task's arrays).
template <class T>
std::size_t batched_bytes_per_seed(const DeviceCell<T>& c);

// Runs the task's seeds (all of one cell) to the end, writing the task's arrays as the fused
// kernel does: outcomes, traces and the traced seeds' initial and final factors.
template <class T>
void run_batched(const DeviceCell<T>& cell, const DeviceTask<T>& task, const BlasHandle& blas,
                 const SolverHandle& solver, cudaStream_t stream);

}  // namespace specsweep::cuda
