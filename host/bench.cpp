#include "bench.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "driver.hpp"
#include "flop_model.hpp"

namespace specsweep {

namespace {

// One backend call over all seeds of the cell, cut into the driver's work units; returns seconds.
double run_once(Backend& backend, const CellProblem& cp) {
  const long seeds = cp.config.run.seeds, unit = unit_seeds({cp.config});
  std::vector<SeedOutcomes> outcomes;
  std::vector<SeedTraces> traces;
  const long units = (seeds + unit - 1) / unit;
  outcomes.resize(units);
  traces.resize(units);
  std::vector<WorkItem> items;
  for (long u = 0; u < units; ++u) {
    const long first = u * unit, count = std::min(unit, seeds - first);
    outcomes[u].resize(first, count, cp.shape.r);
    traces[u].resize_for_seeds(first, count, cp);
    items.push_back(WorkItem{&cp, first, count, &outcomes[u], &traces[u]});
  }
  const auto t0 = std::chrono::steady_clock::now();
  backend.run(items);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

CellTiming time_cell(Backend& backend, const CellProblem& cp, int repeat) {
  Config warm_config = cp.config;
  warm_config.run.seeds = std::min(cp.config.run.seeds, 64L);
  warm_config.run.steps = std::min(cp.config.run.steps, 2);
  run_once(backend, make_cell_problem(warm_config, cp.cell));

  std::vector<double> seconds;
  for (int i = 0; i < repeat; ++i) seconds.push_back(run_once(backend, cp));
  std::sort(seconds.begin(), seconds.end());
  CellTiming t;
  t.cell = cp.cell;
  t.seeds = cp.config.run.seeds;
  t.steps = cp.config.run.steps;
  t.repeat = repeat;
  t.median_s = seconds[seconds.size() / 2];
  t.min_s = seconds.front();
  t.max_s = seconds.back();
  t.seed_steps_per_s = double(t.seeds) * t.steps / t.median_s;
  t.flops_per_seed_step = step_flops(cp.shape, cp.config.optimizer_params(), cp.modes);
  t.gflops = t.flops_per_seed_step * t.seed_steps_per_s / 1e9;
  return t;
}

std::string format_timings(const std::vector<CellTiming>& timings, const std::string& backend, bool json) {
  std::string out;
  if (!json) out += fmt::format("{:>6} {:>10} {:>7} {:>10} {:>14} {:>10} {:>14}  {}\n", "cell", "seeds", "steps",
                                "median s", "seed-steps/s", "GFLOP/s", "FLOP/seed-step", "swept values");
  for (const CellTiming& t : timings) {
    if (json)
      out += fmt::format(
          "{{\"cell\": {}, \"backend\": \"{}\", \"seeds\": {}, \"steps\": {}, \"repeat\": {}, \"median_s\": {:.6g}, "
          "\"min_s\": {:.6g}, \"max_s\": {:.6g}, \"seed_steps_per_s\": {:.6g}, \"flops_per_seed_step\": {:.0f}, "
          "\"gflops\": {:.6g}, \"swept\": {{{}}}}}\n",
          t.cell, backend, t.seeds, t.steps, t.repeat, t.median_s, t.min_s, t.max_s, t.seed_steps_per_s,
          t.flops_per_seed_step, t.gflops, t.swept_json);
    else
      out += fmt::format("{:>6} {:>10} {:>7} {:>10.4g} {:>14.4g} {:>10.4g} {:>14.0f}  {}\n", t.cell, t.seeds, t.steps,
                         t.median_s, t.seed_steps_per_s, t.gflops, t.flops_per_seed_step, t.swept_text);
  }
  return out;
}

}  // namespace specsweep
