#pragma once
// Host side of a strategy's task: its parameters from the host's CellPlan, and its result arrays
// turned into rows of SeedOutcomes and SeedTraces through the CPU backend's own code (CellPlan,
// unpack_record), so every backend reports the same quantities.
#include <algorithm>
#include <vector>

#include "plan/cell_plan.hpp"
#include "strategy/task.hpp"

namespace specsweep::strategy {

// A cell's parameters over arrays the caller owns (device arrays on the GPU): the target's M, U,
// Vb, s; the spectral-init basis; the record steps.
template <class T>
CellParams<T> make_cell_params(const CellPlan<T>& plan, const TargetView<T>& target,
                               const SpectralBasis& basis, const int* record_steps) {
  const CellProblem& cp = *plan.cp;
  CellParams<T> c{};
  c.shape = cp.shape;
  c.target = target;
  c.op = plan.op;
  c.rp = plan.rp;
  c.rp.record_steps = record_steps;
  c.layout = plan.layout;
  std::copy(plan.factors.begin(), plan.factors.end(), c.factors);
  c.basis = basis;
  c.master_seed = cp.config.run.master_seed;
  c.cell = cp.cell;
  c.init_scratch = plan.init_scratch;
  c.basin_probes = cp.config.basin.probes;
  c.norm2_half = plan.norm2_half;
  return c;
}

// The task's result arrays, copied to the host: the interleaved outcomes of its seeds, and the
// plain rows of its traced seeds.
template <class T>
struct TaskResults {
  const T* outcome;
  const T* traces;
  const double* init_factors;
  const T* final_factors;
};

// Fills the item's outcome rows of the task's seeds and the trace rows of its traced seeds.
template <class T>
void store_task_results(const CellPlan<T>& plan, const CellParams<T>& c, const SeedTask<T>& task,
                        const TaskResults<T>& results, const WorkItem& item) {
  const Shape& sh = c.shape;
  const int modes = c.target.modes;
  const OutcomeSlots slots{modes};
  std::vector<int> tau(modes);
  std::vector<double> hit_value(modes);
  for (long i = 0; i < task.count; ++i) {
    // Element e of seed i sits at warp (i / 32), row e, column (i % 32).
    const T* seed = results.outcome + (i / kWarp) * kWarp * slots.width() + i % kWarp;
    auto value = [&](int e) { return seed[static_cast<long>(e) * kWarp]; };
    for (int q = 0; q < modes; ++q) {
      tau[q] = static_cast<int>(value(slots.hit_step() + q));
      hit_value[q] = double(value(slots.hit_value() + q));
    }
    SeedResult r;
    r.final_loss = double(value(slots.final_loss()));
    r.final_grad_norm = double(value(slots.final_grad_norm()));
    r.steps_to_tol = static_cast<int>(value(slots.steps_to_tol()));
    r.diverged = value(slots.diverged()) != T(0);
    r.init_det_sign = double(value(slots.init_det_sign()));
    r.window_loss = double(value(slots.window_loss()));
    r.final_sharpness = double(value(slots.final_sharpness()));
    r.recovery_error = double(value(slots.recovery_error()));
    r.hit_step = tau.data();
    r.hit_value = hit_value.data();
    const long row = task.first_seed + i - item.outcomes->first_seed;
    plan.store(row, r, *item.outcomes);
    if (c.basin_probes > 0 &&
        item.outcomes->status[row] == static_cast<std::int8_t>(Status::converged))
      plan.store_basin(row, static_cast<int>(value(slots.basin_converged())),
                       static_cast<int>(value(slots.basin_closer())), *item.outcomes);
  }
  SeedTraces& t = *item.traces;
  const int steps = c.rp.record_count,
            width = packed_record_width(sh.r, sh.depth, c.rp.delta_matrices),
            params = c.layout.params;
  for (long k = 0; k < task.traced_count; ++k) {
    const long row = task.traced_first + k - t.first_seed;
    for (int j = 0; j < steps; ++j)
      unpack_record(results.traces + (k * steps + j) * width, row, j, t);
    for (int f = 0; f < sh.depth; ++f) {
      const long size = sh.size(f), from = k * params + sh.offset(f);
      std::copy_n(results.init_factors + from, size, t.init_factors[f].data() + row * size);
      std::transform(results.final_factors + from, results.final_factors + from + size,
                     t.final_factors[f].data() + row * size, [](T v) { return double(v); });
    }
  }
}

}  // namespace specsweep::strategy
