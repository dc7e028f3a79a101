#pragma once
// The run driver: an experiment (one or many cells) through a backend into an HDF5 run file, in
// work units of (cell, block of seeds), resumable, with per-cell statistics at the end.
#include <functional>
#include <string>

#include "config.hpp"
#include "h5_output.hpp"

namespace specsweep {

// How the root rank shares work units among MPI ranks: a queue that hands out the next batch to
// whichever rank asks (balances cells of different cost), or one contiguous block per rank.
enum class MpiSchedule { dynamic, static_blocks };

// How far a run is, after every batch (RunOptions::on_progress). Resumed units count as done.
struct ProgressUpdate {
  long units_done = 0, units_total = 0;
  double elapsed_seconds = 0;        // of this invocation
  double eta_seconds = -1;           // weighed by modelled cost; -1 before the first batch
  double seed_steps_per_second = 0;  // this invocation's
};

struct RunOptions {
  std::string out_path;
  std::string backend = "auto";
  int threads = 0;
  bool quiet = false;
  bool resume = false;
  bool force = false;  // replace an existing output (run_command refuses to otherwise)
  // Testing aid: run the pending units in a random order drawn from this seed (0: in order). The
  // output must not depend on it.
  unsigned long shuffle_units = 0;
  MpiSchedule mpi_schedule = MpiSchedule::dynamic;
  // Called on the root rank after every batch instead of printing the progress line (unless
  // quiet). It may throw: the run stops as after a failure, keeping the units written.
  std::function<void(const ProgressUpdate&)> on_progress;
};

struct RunSummary {
  std::string backend;
  std::string out_path;
  double seconds = 0;          // wall time of the whole run
  double backend_seconds = 0;  // time inside the backend
  double seed_steps = 0;       // computed in this invocation (not counting resumed units)
  long units_run = 0, units_resumed = 0;
  int interrupted_by = 0;  // the signal that stopped the run, 0 when it completed
};

RunSummary run_experiment(const Experiment& experiment, const RunOptions& options);

// The run file's layout and root attributes for an experiment (`first`: its cell 0's problem).
OutputLayout output_layout(const Experiment& experiment, const CellProblem& first);
RunAttributes run_attributes(const Experiment& experiment, const std::string& backend);

// The default output path for a config file: its stem with .h5, in the current directory.
std::string default_output_path(const std::string& config_path);

}  // namespace specsweep
