#include "driver.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <map>
#include <random>

#include "backend.hpp"
#include "h5_output.hpp"
#include "statistics.hpp"

#ifndef SPECSWEEP_GIT_REVISION
#define SPECSWEEP_GIT_REVISION "unknown"
#endif

namespace specsweep {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// SIGINT/SIGTERM (and SIGUSR1, which batch schedulers send before preemption) raise a flag: the
// backend abandons its call, the driver keeps the partial file for --resume and exits 128 + signal.
std::atomic<bool> g_stop{false};
std::atomic<int> g_signal{0};

extern "C" void on_stop_signal(int sig) {
  g_signal.store(sig);
  g_stop.store(true);
}

class StopSignals {
 public:
  StopSignals() {
    g_stop = false;
    g_signal = 0;
    for (int s : kSignals) previous_[s] = std::signal(s, on_stop_signal);
  }
  ~StopSignals() {
    for (int s : kSignals) std::signal(s, previous_[s]);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  static constexpr int kSignals[] = {SIGINT, SIGTERM, SIGUSR1};
  std::map<int, void (*)(int)> previous_;
};

// Progress on stderr: a live line on a terminal, otherwise a line every 10 s at most.
class Progress {
 public:
  Progress(bool quiet, long total_units, double seed_steps_per_unit_hint)
      : quiet_(quiet), tty_(isatty(STDERR_FILENO) != 0), total_(total_units), hint_(seed_steps_per_unit_hint) {}

  void update(long units_done, double seed_steps_done) {
    if (quiet_) return;
    const double elapsed = seconds_since(start_);
    if (seconds_since(last_) < (tty_ ? 0.5 : 10.0) && units_done < total_) return;
    last_ = Clock::now();
    const double rate = elapsed > 0 ? seed_steps_done / elapsed : 0;
    const double left = double(total_ - units_done) * hint_;
    const std::string eta = rate > 0 ? fmt::format("{:.0f} s", left / rate) : "?";
    fmt::print(stderr, "{}units {}/{}  {:.3g} seed-steps/s  ETA {}{}", tty_ ? "\r" : "", units_done, total_, rate, eta,
               tty_ ? "   " : "\n");
    if (tty_ && units_done == total_) fmt::print(stderr, "\n");
  }

 private:
  bool quiet_, tty_;
  long total_;
  double hint_;
  Clock::time_point start_ = Clock::now(), last_ = Clock::time_point{};
};

struct Unit {
  long cell, index, first_seed, count;
};

// Seeds per backend call: enough packs to keep every thread (or a GPU) busy even when each cell
// has only a few seeds.
constexpr long kBatchSeeds = 4096;
constexpr size_t kBatchUnits = 256;

OutputLayout output_layout(const Experiment& ex, const CellProblem& first) {
  OutputLayout layout;
  const Config& c = ex.cells.front();
  layout.cells = static_cast<long>(ex.cells.size());
  layout.seeds = c.run.seeds;
  layout.traced = c.record.traced_seeds;
  layout.record_steps = first.record_steps;
  layout.m = first.shape.m;
  layout.n = first.shape.n;
  layout.r = first.shape.r;
  layout.depth = first.shape.depth;
  layout.spectrum_length = static_cast<int>(first.target.spectrum.size());
  layout.unit_seeds = unit_seeds(c.run.seeds);
  layout.axes = ex.axes;
  for (const Config& cell : ex.cells) layout.cell_configs.push_back(cell.to_toml());
  return layout;
}

RunAttributes run_attributes(const Experiment& ex, const std::string& backend) {
  RunAttributes a;
  a.specsweep_version = SPECSWEEP_VERSION;
  a.config = ex.to_toml();
  a.master_seed = ex.cells.front().run.master_seed;
  a.backend = backend;
  a.precision = ex.cells.front().run.precision == Precision::fp64 ? "fp64" : "fp32";
  a.git_revision = SPECSWEEP_GIT_REVISION;
  return a;
}

}  // namespace

long unit_seeds(long seeds) { return std::min<long>(seeds, 4096); }

std::string default_output_path(const std::string& config_path) {
  return std::filesystem::path(config_path).stem().string() + ".h5";
}

RunSummary run_experiment(const Experiment& ex, const RunOptions& options) {
  const auto start = Clock::now();
  StopSignals signals;
  auto backend = make_backend(options.backend, BackendOptions{options.threads, &g_stop});
  const long cells = static_cast<long>(ex.cells.size());
  const CellProblem first = make_cell_problem(ex.cells.front(), 0);
  const OutputLayout layout = output_layout(ex, first);
  const RunAttributes attrs = run_attributes(ex, backend->name());
  const bool resuming = options.resume && RunFile::partial_exists(options.out_path);
  RunFile file = resuming ? RunFile::resume(options.out_path, layout, attrs)
                          : RunFile::create(options.out_path, layout, attrs);

  const long seeds = layout.seeds, per_unit = layout.unit_seeds;
  const long units_per_cell = (seeds + per_unit - 1) / per_unit;
  std::vector<Unit> pending;
  RunSummary summary;
  summary.backend = backend->name();
  summary.out_path = options.out_path;
  for (long c = 0; c < cells; ++c)
    for (long u = 0; u < units_per_cell; ++u) {
      if (file.unit_done(c, u)) {
        ++summary.units_resumed;
        continue;
      }
      pending.push_back({c, u, u * per_unit, std::min(per_unit, seeds - u * per_unit)});
    }
  if (options.shuffle_units != 0) std::shuffle(pending.begin(), pending.end(), std::mt19937_64(options.shuffle_units));
  std::vector<long> units_left(cells, 0);
  for (const Unit& u : pending) ++units_left[u.cell];
  if (resuming && !options.quiet)
    fmt::print(stderr, "resuming {}: {} of {} units already done\n", options.out_path, summary.units_resumed,
               cells * units_per_cell);

  const double steps = ex.cells.front().run.steps;
  Progress progress(options.quiet, cells * units_per_cell, double(per_unit) * steps);
  // Problems of the cells in flight, built on demand (a sweep may have many cells).
  std::map<long, CellProblem> problems;
  auto problem = [&](long c) -> const CellProblem& {
    auto it = problems.find(c);
    if (it == problems.end()) {
      it = problems.emplace(c, make_cell_problem(ex.cells[c], static_cast<std::uint32_t>(c))).first;
      file.write_target(c, it->second.target);
    }
    return it->second;
  };

  for (size_t next = 0; next < pending.size() && !g_stop;) {
    // A batch: consecutive pending units up to kBatchSeeds seeds.
    std::vector<Unit> batch;
    long batch_seeds = 0;
    while (next < pending.size() && batch.size() < kBatchUnits && (batch.empty() || batch_seeds < kBatchSeeds)) {
      batch.push_back(pending[next++]);
      batch_seeds += batch.back().count;
    }
    std::deque<SeedOutcomes> outcomes;
    std::deque<SeedTraces> traces;
    std::vector<WorkItem> items;
    for (const Unit& u : batch) {
      const CellProblem& cp = problem(u.cell);
      outcomes.emplace_back().resize(u.first_seed, u.count, cp.shape.r);
      const long traced_end = std::min<long>(u.first_seed + u.count, layout.traced);
      traces.emplace_back().resize(u.first_seed, std::max(0L, traced_end - u.first_seed), cp);
      items.push_back({&cp, u.first_seed, u.count, &outcomes.back(), &traces.back()});
    }
    const auto t0 = Clock::now();
    try {
      backend->run(items);
    } catch (const Cancelled&) {
      break;
    }
    summary.backend_seconds += seconds_since(t0);
    for (size_t i = 0; i < batch.size(); ++i) {
      file.write_outcomes(batch[i].cell, outcomes[i]);
      if (traces[i].count > 0) file.write_traces(batch[i].cell, traces[i]);
      file.mark_unit_done(batch[i].cell, batch[i].index);
      summary.seed_steps += double(batch[i].count) * steps;
    }
    summary.units_run += static_cast<long>(batch.size());
    for (const Unit& u : batch)
      if (--units_left[u.cell] == 0) problems.erase(u.cell);  // the cell is done
    progress.update(summary.units_resumed + summary.units_run, summary.seed_steps);
  }

  if (g_stop) {
    file.keep_partial();
    summary.interrupted_by = g_signal.load();
    summary.seconds = seconds_since(start);
    return summary;
  }

  // Statistics from the file's complete per-seed data: independent of unit order and resume.
  for (long c = 0; c < cells; ++c) {
    const CellProblem cp = make_cell_problem(ex.cells[c], static_cast<std::uint32_t>(c));
    file.write_summary(c, cell_statistics(file.read_outcomes(c), file.read_traces(c, cp), cp.modes));
  }
  file.commit();
  summary.seconds = seconds_since(start);
  return summary;
}

}  // namespace specsweep
