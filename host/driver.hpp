#pragma once
// The run driver: a configuration through a backend into an HDF5 run file, block by block, with a
// per-cell summary for the terminal.
#include <array>
#include <string>
#include <vector>

#include "config.hpp"

namespace specsweep {

struct RunOptions {
  std::string out_path;
  std::string backend = "auto";
  int threads = 0;
  bool quiet = false;
};

// Per-cell summary printed at the end of a run (medians over the seeds that have the quantity).
struct CellSummary {
  long seeds = 0;
  std::array<long, 4> status_counts{};  // by Status code
  double median_excess = 0;
  double median_steps_to_tol = 0;  // over seeds that reached the tolerance; NaN if none
  std::vector<double> median_hit;  // per mode, over seeds that hit; NaN if none
  std::vector<long> hits;          // per mode, seeds that hit
  double median_kendall = 0;
  double median_uniformity_cv = 0;
};

struct RunSummary {
  std::string backend;
  std::string out_path;
  double seconds = 0;
  double seed_steps = 0;
  std::vector<CellSummary> cells;
};

RunSummary run_experiment(const Config& config, const RunOptions& options);
std::string format_summary(const RunSummary& summary);

// The default output path for a config file: its stem with .h5, in the current directory.
std::string default_output_path(const std::string& config_path);

}  // namespace specsweep
