#include "driver.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "backend.hpp"
#include "h5_output.hpp"

#ifndef SPECSWEEP_GIT_REVISION
#define SPECSWEEP_GIT_REVISION "unknown"
#endif

namespace specsweep {

namespace {

// Seeds handed to the backend at a time: bounds memory by the block, not the run.
constexpr long kBlockSeeds = 8192;

double median_of(std::vector<double> v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return std::isnan(x); }), v.end());
  if (v.empty()) return NAN;
  const size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + mid, v.end());
  const double hi = v[mid];
  if (v.size() % 2) return hi;
  return 0.5 * (hi + *std::max_element(v.begin(), v.begin() + mid));
}

// Accumulates the per-seed scalars the summary needs (O(seeds) doubles per cell).
struct SummaryBuilder {
  CellSummary s;
  std::vector<double> excess, steps, kendall, uniformity;
  std::vector<std::vector<double>> hit;

  explicit SummaryBuilder(int modes) : hit(modes) {}
  void add(const SeedOutcomes& o) {
    for (long i = 0; i < o.count; ++i) {
      ++s.status_counts[o.status[i]];
      excess.push_back(o.excess[i]);
      if (o.steps_to_tol[i] >= 0) steps.push_back(o.steps_to_tol[i]);
      kendall.push_back(o.order_kendall[i]);
      uniformity.push_back(o.uniformity_cv[i]);
      for (size_t q = 0; q < hit.size(); ++q)
        if (o.hit_step[i * o.r + q] >= 0) hit[q].push_back(o.hit_step[i * o.r + q]);
    }
    s.seeds += o.count;
  }
  CellSummary finish() {
    s.median_excess = median_of(excess);
    s.median_steps_to_tol = median_of(steps);
    s.median_kendall = median_of(kendall);
    s.median_uniformity_cv = median_of(uniformity);
    for (const auto& h : hit) {
      s.median_hit.push_back(median_of(h));
      s.hits.push_back(static_cast<long>(h.size()));
    }
    return s;
  }
};

}  // namespace

std::string default_output_path(const std::string& config_path) {
  return std::filesystem::path(config_path).stem().string() + ".h5";
}

RunSummary run_experiment(const Config& config, const RunOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  auto backend = make_backend(options.backend, BackendOptions{options.threads});
  const CellProblem cp = make_cell_problem(config, 0);

  OutputLayout layout;
  layout.cells = 1;
  layout.seeds = config.run.seeds;
  layout.traced = config.record.traced_seeds;
  layout.record_steps = cp.record_steps;
  layout.m = cp.shape.m;
  layout.n = cp.shape.n;
  layout.r = cp.shape.r;
  layout.depth = cp.shape.depth;
  layout.spectrum_length = static_cast<int>(cp.target.spectrum.size());
  RunAttributes attrs;
  attrs.specsweep_version = SPECSWEEP_VERSION;
  attrs.config = config.to_toml();
  attrs.master_seed = config.run.master_seed;
  attrs.backend = backend->name();
  attrs.precision = config.run.precision == Precision::fp64 ? "fp64" : "fp32";
  attrs.git_revision = SPECSWEEP_GIT_REVISION;

  RunFile file(options.out_path, layout, attrs);
  file.write_target(0, cp.target);
  SummaryBuilder summary(cp.modes);
  for (long first = 0; first < config.run.seeds; first += kBlockSeeds) {
    const long count = std::min(kBlockSeeds, config.run.seeds - first);
    const long traced_end = std::min<long>(first + count, config.record.traced_seeds);
    SeedOutcomes outcomes;
    outcomes.resize(first, count, cp.shape.r);
    SeedTraces traces;
    traces.resize(first, std::max(0L, traced_end - first), cp);
    backend->run(cp, first, count, outcomes, traces);
    file.write_outcomes(0, outcomes);
    if (traces.count > 0) file.write_traces(0, traces);
    summary.add(outcomes);
  }
  file.commit();

  RunSummary result;
  result.backend = backend->name();
  result.out_path = options.out_path;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.seed_steps = double(config.run.seeds) * config.run.steps;
  result.cells.push_back(summary.finish());
  return result;
}

std::string format_summary(const RunSummary& run) {
  std::string out;
  for (size_t c = 0; c < run.cells.size(); ++c) {
    const CellSummary& s = run.cells[c];
    out += fmt::format("cell {}: {} seeds  converged {}  stalled {}  diverged {}  unconverged {}\n", c, s.seeds,
                       s.status_counts[0], s.status_counts[1], s.status_counts[2], s.status_counts[3]);
    out += fmt::format("  median excess loss {:.3e}   median steps to tolerance {}\n", s.median_excess,
                       std::isnan(s.median_steps_to_tol) ? std::string("never") : fmt::format("{:g}", s.median_steps_to_tol));
    out += "  mode  hit   median hitting step\n";
    for (size_t q = 0; q < s.median_hit.size(); ++q)
      out += fmt::format("  {:>4}  {:>4}  {:>8g}\n", q + 1, s.hits[q], s.median_hit[q]);
    out += fmt::format("  median order_kendall {:+.3f}   median uniformity_cv {:.3f}\n", s.median_kendall,
                       s.median_uniformity_cv);
  }
  out += fmt::format("backend {}  {:.3g} s  {:.3g} seed-steps/s  -> {}\n", run.backend, run.seconds,
                     run.seed_steps / run.seconds, run.out_path);
  return out;
}

}  // namespace specsweep
