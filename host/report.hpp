#pragma once
// Reports of a run file (DESIGN sections 4 and 6): `specsweep report RUN.h5 [--format
// table|csv|json]` and the RUN.summary.csv beside a run. Everything comes from /cells, /summary,
// /progress and the root attributes, so a report of a file equals the report printed by its run.
//
// One row per cell, with these columns (the csv header and the json keys):
//   cell, <each sweep axis key>, seeds,
//   <status>, <status>_fraction, <status>_wilson95_low, <status>_wilson95_high
//       for status = converged, stalled, diverged, unconverged,
//   final_loss_p05, final_loss_p50, final_loss_p95, excess_p05, excess_p50, excess_p95,
//   steps_to_tol_p50, steps_to_tol_reached,
//   hit_step_<i>_p50, hit_count_<i>  for modes i = 1..r,
//   uniformity_cv_p50, order_kendall_p50,
//   basin_converged, basin_closer  (pooled over all probes of the cell),
//   det_plus_seeds, det_plus_converged, det_minus_seeds, det_minus_converged,
//   final_lr_sharpness_p25, _p50, _p75  (eta lambda_max at the end, record.sharpness_iterations),
//   recovery_error_p25, _p50, _p75  (||W - M||_F / ||M||_F at the end).
// A quantity that is undefined (NaN, or a cell whose summary is not computed yet) is an empty csv
// field and a json null; infinities (censored quantiles) are inf / -inf in csv and null in json.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "h5_output.hpp"
#include "statistics.hpp"

namespace specsweep {

// table: what fits 100 columns; wide_table: every column.
enum class ReportFormat { table, wide_table, csv, json };

// "table" | "wide" | "csv" | "json"; anything else is an InputError naming the value.
ReportFormat parse_report_format(const std::string& name);

// The values of one sweep axis, per cell.
struct ReportAxis {
  enum class Kind { number, integer, string };
  std::string key;
  Kind kind = Kind::number;
  std::vector<double> numbers;      // Kind::number
  std::vector<long long> integers;  // Kind::integer (exact)
  std::vector<std::string> labels;  // Kind::string
};

struct RunReport {
  std::string path;
  RunAttributes attributes;
  long unit_seeds = 0;
  long cells = 0;                  // C
  long seeds = 0;                  // S per cell
  int modes = 0;                   // r
  long units = 0, units_done = 0;  // over all cells (/progress); equal when the run is complete
  std::vector<double> quantile_levels;
  std::vector<ReportAxis> axes;
  std::vector<CellStatistics> statistics;  // per cell, as read from /summary
  std::vector<bool> computed;              // per cell: /summary was written for it
};

// Reads a run file (or a partial one). Throws InputError naming the file when it cannot be read
// or is not a specsweep run file (no /summary), or when reading it crashes HDF5 (read first in a
// child process unless `read_in` says otherwise; in_child.hpp).
RunReport load_report(const std::string& h5_path, ReadIn read_in = ReadIn::child_process);

std::string format_report(const RunReport& report, ReportFormat format);

// Every seed's outcomes as CSV, one row per (cell, seed): the cell, its swept values, the seed,
// then /outcome's datasets in their order (status by name; one column per mode for hit_step;
// empty for NaN, for never and for a seed not written). Reads one cell at a time, after reading
// the report in a child process as load_report does.
void export_outcomes(const std::string& h5_path, std::FILE* out);

// Writes the csv format to `path` atomically (a temporary beside it, renamed over it); throws
// RuntimeFailure naming the path on I/O errors.
void write_summary_csv(const RunReport& report, const std::string& path);

}  // namespace specsweep
