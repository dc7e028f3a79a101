// A run as `specsweep run` and the Python package start it: the checks before any work (an
// output that must not be replaced, a partial to resume, the machine's threads, memory and disk),
// the run, and the summary CSV of a completed run. What is printed is the caller's.
#pragma once

#include <string>

#include "config.hpp"
#include "driver.hpp"
#include "report.hpp"

namespace specsweep {

// The most --threads accepted. The work is compute-bound, so threads beyond the cores only share
// them; 1024 covers the largest nodes' hardware threads, and far beyond it libgomp crashes while
// starting a team (100000 threads: SIGSEGV) instead of reporting anything.
constexpr int kMaxThreads = 1024;

// RUN.h5 -> RUN.summary.csv
std::string summary_csv_path(const std::string& h5_path);

// Refuses (InputError) a run that cannot fit this machine, before any work: threads that cannot
// start, memory beyond the RAM or the address-space limit, an output beyond the free disk
// (`writes_file`). `skip_estimate` keeps only the thread checks.
void check_resources(const Experiment& experiment, const RunOptions& options, bool writes_file,
                     bool skip_estimate);

struct SessionResult {
  RunSummary summary;
  bool already_complete = false;  // --resume of a finished run: nothing was run
  RunReport report;               // of a completed run (root rank), read once for the summary CSV
};

// Runs `experiment` into options.out_path (which must be set). `config_path`: the config file,
// which the output must not overwrite ("" when the config is not a file). An existing output is
// an InputError unless options.force; options.resume with no partial is one too.
SessionResult run_session(const Experiment& experiment, const RunOptions& options,
                          const std::string& config_path, bool skip_resource_check = false);

}  // namespace specsweep
