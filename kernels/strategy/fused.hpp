#pragma once
// The fused strategy: one thread runs seed i of a task from start to end (initialization, every
// step, hitting times, the record-step metrics of traced seeds, the basin probe) with the per-seed
// engine of kernels/core, lane type = the scalar T. kernels/cuda/seed_kernel.cuh launches it one
// thread per seed; tests/test_strategies.cpp calls it in a loop on the CPU.
#include "strategy/task.hpp"

namespace specsweep::strategy {

// Seed i of the task (its index from task.first_seed).
template <class T>
SPECSWEEP_HD void run_one_seed(const CellParams<T>& c, const SeedTask<T>& task, long i) {
  const Shape& sh = c.shape;
  const EngineLayout& lay = c.layout;
  const long seed = task.first_seed + i;
  const OutcomeSlots slots{c.target.modes};
  WarpArray<T> arena = seed_row(task.arena, i, lay.total);
  WarpArray<double> init = seed_row(task.init, i, init_width(c));
  WarpArray<T> outcome = seed_row(task.outcome, i, slots.width());
  const long trow = traced_row(task, i);
  const bool traced = trow >= 0;

  for (int e = 0; e < lay.total; ++e) arena[e] = T(0);
  initialize_seed(c, task, i, init);
  for (int e = 0; e < lay.params; ++e) arena[lay.F + e] = T(init[e]);

  RunParams rp = c.rp;
  if (!traced) rp.record_count = 0;
  const RandomStream noise(c.master_seed, c.cell, static_cast<std::uint32_t>(seed),
                           Purpose::gradient_noise);
  rp.lane_noise = &noise;
  const int width = packed_record_width(sh.r, sh.depth, rp.delta_matrices);
  const RecordSink<T> sink{traced ? task.traces + trow * rp.record_count * width : nullptr,
                           width,
                           sh.r,
                           c.target.modes,
                           sh.depth,
                           rp.delta_matrices};
  TrajectoryOutcome<T, WarpArray<T>> out{};  // run_trajectory sets every field
  out.hit_step = outcome + slots.hit_step();
  out.hit_value = outcome + slots.hit_value();
  const bool probe = c.basin_probes > 0;
  WarpArray<T> keep = seed_row(task.keep, i, keep_width(c));
  if (probe)
    for (int e = 0; e < lay.params; ++e) keep[e] = arena[lay.F + e];

  run_trajectory(sh, c.target, c.op, rp, lay, arena, out, sink);
  outcome[slots.final_loss()] = out.final_loss;
  outcome[slots.final_grad_norm()] = out.final_grad_norm;
  outcome[slots.steps_to_tol()] = out.steps_to_tol;
  outcome[slots.diverged()] = out.diverged;
  outcome[slots.init_det_sign()] = out.init_det_sign;
  outcome[slots.window_loss()] = out.window_loss;
  outcome[slots.final_sharpness()] = out.final_sharpness;
  outcome[slots.recovery_error()] = out.recovery_error;
  if (traced)
    for (int e = 0; e < lay.params; ++e)
      task.final_factors[trow * lay.params + e] = arena[lay.F + e];

  const bool converged =
      reached_tolerance(out.diverged != T(0), double(out.final_loss), c.rp, c.norm2_half);
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
  rp.sharpness_iterations = 0;  // a restart's only result is where it ends
  int converged_count = 0, closer_count = 0;
  TrajectoryOutcome<T, WarpArray<T>> restart{};
  restart.hit_step = keep + 2 * lay.params;
  restart.hit_value = keep + 2 * lay.params + c.target.modes;
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
    converged_count +=
        reached_tolerance(restart.diverged != T(0), double(restart.final_loss), c.rp, c.norm2_half);
    closer_count += distance_to_final(arena + lay.F) < radius;
  }
  outcome[slots.basin_converged()] = T(converged_count);
  outcome[slots.basin_closer()] = T(closer_count);
}

}  // namespace specsweep::strategy
