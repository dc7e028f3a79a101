#pragma once
// The fused seed kernel: one thread runs one seed's whole trajectory (initialization, every step,
// hitting times, record-step metrics of traced seeds, the basin probe) with the per-seed algorithm
// of kernels/core, lane type = the scalar T. The arrays of the 32 seeds of a warp are interleaved
// element-major (Interleaved<T, 32>), so each access of the algorithm is one coalesced transaction.
// Its CPU reference is kernels/cpu, which runs the same core code; cuda_backend.cu owns the memory,
// the chunking and the copies.
#include "cuda/device_cell.cuh"

namespace specsweep::cuda {

template <class T>
__device__ void run_one_seed(const DeviceCell<T>& c, const DeviceTask<T>& task, long i) {
  const Shape& sh = c.shape;
  const EngineLayout& lay = c.layout;
  const long warp = i / kWarp, lane = i % kWarp;
  const long seed = task.first_seed + i;
  const OutcomeSlots slots{c.target.modes};
  WarpArray<T> arena(task.arena + warp * kWarp * lay.total + lane);
  WarpArray<double> init(task.init + warp * kWarp * init_width(c) + lane);
  WarpArray<T> outcome(task.outcome + warp * kWarp * slots.width() + lane);
  const long trow = seed - task.traced_first;
  const bool traced = trow >= 0 && trow < task.traced_count;

  for (int e = 0; e < lay.total; ++e) arena[e] = T(0);
  for (int k = 0; k < sh.depth; ++k) {
    const RandomStream stream(c.master_seed, c.cell, static_cast<std::uint32_t>(seed),
                              Purpose::init, static_cast<std::uint32_t>(k));
    init_factor(c.factors[k], k, sh.depth, sh.rows(k), sh.cols(k), stream, c.basis,
                init + sh.offset(k), init + lay.params);
  }
  for (int e = 0; e < lay.params; ++e) arena[lay.F + e] = T(init[e]);
  if (traced)
    for (int e = 0; e < lay.params; ++e) task.init_factors[trow * lay.params + e] = init[e];

  RunParams rp = c.rp;
  if (!traced) rp.record_count = 0;
  const int width = packed_record_width(sh.r, sh.depth);
  const RecordSink<T> sink{traced ? task.traces + trow * rp.record_count * width : nullptr, width,
                           sh.r, c.target.modes, sh.depth};
  TrajectoryOutcome<T, WarpArray<T>> out{
      T(0), T(0), T(0), T(0), T(0), outcome + slots.hit_step(), outcome + slots.hit_value()};
  const bool probe = c.basin_probes > 0;
  WarpArray<T> keep(task.keep + warp * kWarp * keep_width(c) + lane);
  if (probe)
    for (int e = 0; e < lay.params; ++e) keep[e] = arena[lay.F + e];

  run_trajectory(sh, c.target, c.op, rp, lay, arena, out, sink);
  outcome[slots.final_loss()] = out.final_loss;
  outcome[slots.final_grad_norm()] = out.final_grad_norm;
  outcome[slots.steps_to_tol()] = out.steps_to_tol;
  outcome[slots.diverged()] = out.diverged;
  outcome[slots.init_det_sign()] = out.init_det_sign;
  if (traced)
    for (int e = 0; e < lay.params; ++e)
      task.final_factors[trow * lay.params + e] = arena[lay.F + e];

  const bool converged = reached_tolerance(out.diverged != T(0), double(out.final_loss),
                                           c.rp.optimum, c.norm2_half, c.loss_tolerance);
  if (!probe || !converged) return;
  // Basin probe, as the CPU backend's probe_basin: restarts from the sphere of radius |F0 - F*|
  // around the final point F*, directions from the seed's basin stream.
  WarpArray<T> start = keep, final_point = keep + lay.params;
  auto distance_to_final = [&](WarpArray<T> a) {
    double d2 = 0;
    for (int e = 0; e < lay.params; ++e) {
      const double d = double(a[e]) - double(final_point[e]);
      d2 += d * d;
    }
    return sqrt(d2);
  };
  for (int e = 0; e < lay.params; ++e) final_point[e] = arena[lay.F + e];
  const double radius = distance_to_final(start);
  rp.record_count = 0;
  int converged_count = 0, closer_count = 0;
  TrajectoryOutcome<T, WarpArray<T>> restart{
      T(0), T(0), T(0), T(0), T(0), keep + 2 * lay.params, keep + 2 * lay.params + c.target.modes};
  for (int j = 0; j < c.basin_probes; ++j) {
    const RandomStream stream(c.master_seed, c.cell, static_cast<std::uint32_t>(seed),
                              Purpose::basin, static_cast<std::uint32_t>(j));
    double norm2 = 0;
    for (int e = 0; e < lay.params; ++e) {
      const double g = stream.normal(static_cast<std::uint64_t>(e));
      norm2 += g * g;
    }
    const double scale = radius / sqrt(norm2);
    for (int e = 0; e < lay.total; ++e) arena[e] = T(0);
    for (int e = 0; e < lay.params; ++e)
      arena[lay.F + e] =
          T(double(final_point[e]) + scale * stream.normal(static_cast<std::uint64_t>(e)));
    run_trajectory(sh, c.target, c.op, rp, lay, arena, restart, sink);
    converged_count += reached_tolerance(restart.diverged != T(0), double(restart.final_loss),
                                         c.rp.optimum, c.norm2_half, c.loss_tolerance);
    closer_count += distance_to_final(arena + lay.F) < radius;
  }
  outcome[slots.basin_converged()] = T(converged_count);
  outcome[slots.basin_closer()] = T(closer_count);
}

// One thread per seed of the launch's tasks; a warp never spans two tasks (each task starts at
// its own warp), so the threads of a warp share the cell and branch alike.
template <class T>
__global__ void __launch_bounds__(kBlockThreads)
    seed_kernel(const DeviceCell<T>* cells, const DeviceTask<T>* tasks, int task_count) {
  const long thread = static_cast<long>(blockIdx.x) * blockDim.x + threadIdx.x;
  const long warp = thread / kWarp;
  int lo = 0, hi = task_count;  // the last task with first_warp <= warp
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (tasks[mid].first_warp <= warp)
      lo = mid;
    else
      hi = mid;
  }
  const DeviceTask<T>& task = tasks[lo];
  const long i = thread - task.first_warp * kWarp;
  if (i < 0 || i >= task.count) return;
  run_one_seed(cells[task.cell], task, i);
}

}  // namespace specsweep::cuda
