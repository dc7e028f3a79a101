#pragma once
// Timing an experiment's cells on a backend: the `specsweep bench` command and the throughput
// driver (bench/throughput.cpp) measure the same way. Throughput is reported as seed-steps per
// second and as achieved FLOP/s under the FLOP model (flop_model.hpp, bench/FLOP_MODEL.md).
#include <string>
#include <vector>

#include "backend.hpp"

namespace specsweep {

struct CellTiming {
  std::size_t cell = 0;
  long seeds = 0;
  int steps = 0;
  int repeat = 0;
  double median_s = 0, min_s = 0, max_s = 0;  // of the timed runs
  double seed_steps_per_s = 0;                // seeds * steps / median_s
  double flops_per_seed_step = 0;             // the FLOP model's count
  double gflops = 0;                          // achieved, at the median
  // The cell's swept values: "key=value ..." for the table, a JSON object's members for JSON.
  std::string swept_text, swept_json;
};

// Runs all seeds of the cell `repeat` times (in the driver's work units, one backend call per
// run) after an untimed warm-up of a few seeds and steps, which loads device code and library
// handles; every figure is a median over the runs.
CellTiming time_cell(Backend& backend, const CellProblem& cp, int repeat);

// A table with one row per cell, or one JSON object per line.
std::string format_timings(const std::vector<CellTiming>& timings, const std::string& backend, bool json);

}  // namespace specsweep
