// specsweep: command line entry point (DESIGN section 4).
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "backend.hpp"
#include "bench.hpp"
#include "cluster.hpp"
#include "config.hpp"
#include "driver.hpp"
#include "errors.hpp"
#include "report.hpp"

#ifndef SPECSWEEP_PLOT_SCRIPT
#define SPECSWEEP_PLOT_SCRIPT "specsweep_plot.py"
#endif

namespace {

using namespace specsweep;

// RUN.h5 -> RUN.summary.csv
std::string summary_csv_path(const std::string& h5_path) {
  std::filesystem::path p(h5_path);
  return (p.parent_path() / (p.stem().string() + ".summary.csv")).string();
}

// An output path whose directory is missing or not writable is bad input (exit 2), found before
// any work starts; I/O failures later in the run are runtime failures (exit 3).
void check_output_path(const std::string& out_path) {
  const std::filesystem::path dir = std::filesystem::path(out_path).parent_path();
  const std::string d = dir.empty() ? "." : dir.string();
  std::error_code ec;
  if (!std::filesystem::is_directory(d, ec))
    throw InputError(fmt::format("--out {}: directory {} does not exist", out_path, d));
  if (access(d.c_str(), W_OK) != 0) throw InputError(fmt::format("--out {}: directory {} is not writable", out_path, d));
  if (std::filesystem::is_directory(out_path, ec)) throw InputError(fmt::format("--out {}: is a directory", out_path));
}

int run_command(const std::string& config_path, const std::vector<std::string>& overrides, RunOptions options) {
  const Experiment experiment = load_experiment(config_path, overrides);
  if (options.out_path.empty()) options.out_path = default_output_path(config_path);
  check_output_path(options.out_path);
  const RunSummary summary = run_experiment(experiment, options);
  if (!Cluster::instance().root()) return summary.interrupted_by != 0 ? 128 + summary.interrupted_by : 0;
  if (summary.interrupted_by != 0) {
    fmt::print(stderr, "specsweep: interrupted by signal {}; {} units written to {}.partial (continue with --resume)\n",
               summary.interrupted_by, summary.units_resumed + summary.units_run, options.out_path);
    return 128 + summary.interrupted_by;
  }
  const RunReport report = load_report(options.out_path);
  write_summary_csv(report, summary_csv_path(options.out_path));
  if (!options.quiet) {
    std::fputs(format_report(report, ReportFormat::table).c_str(), stdout);
    fmt::print("backend {}  {:.3g} s ({:.0f}% in the backend)  {:.3g} seed-steps/s  -> {}\n", summary.backend,
               summary.seconds, 100.0 * summary.backend_seconds / summary.seconds, summary.seed_steps / summary.seconds,
               options.out_path);
  }
  return 0;
}

// Times every cell of an experiment on a backend; writes no file.
int bench_command(const std::string& config_path, const std::vector<std::string>& overrides, const RunOptions& options,
                  int repeat, bool json) {
  const Experiment experiment = load_experiment(config_path, overrides);
  BackendOptions backend_options;
  backend_options.threads = options.threads;
  const auto backend = make_backend(options.backend, backend_options);
  std::vector<CellTiming> timings;
  for (std::size_t c = 0; c < experiment.cells.size(); ++c) {
    timings.push_back(time_cell(*backend, make_cell_problem(experiment.cells[c], static_cast<std::uint32_t>(c)), repeat));
    if (json) std::fputs(format_timings({timings.back()}, backend->name(), true).c_str(), stdout);
  }
  if (!json) std::fputs(format_timings(timings, backend->name(), false).c_str(), stdout);
  return 0;
}

// Runs the plotting script (matplotlib) on a run file.
int plot_command(const std::string& h5_path, const std::string& out_dir, bool log_time) {
  const char* script_env = std::getenv("SPECSWEEP_PLOT_SCRIPT");
  const char* python_env = std::getenv("SPECSWEEP_PYTHON");
  const std::string script = script_env ? script_env : SPECSWEEP_PLOT_SCRIPT;
  // Debian's interpreter has numpy, h5py and matplotlib from the setup script.
  const std::string python = python_env ? python_env : (access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3");
  std::vector<std::string> args = {python, script, h5_path, out_dir};
  if (log_time) args.emplace_back("--log-time");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::fflush(stdout);
  execvp(argv[0], argv.data());
  throw RuntimeFailure(fmt::format("plot: cannot run {} {}", python, script));
}

int run_cli(int argc, char** argv) {
  CLI::App app{"specsweep: batched spectral-optimizer dynamics on matrix factorization"};
  app.require_subcommand(0, 1);
  app.set_version_flag("--version", std::string("specsweep ") + SPECSWEEP_VERSION);

  std::string config_path, h5_path, out_dir = ".", format = "table";
  std::vector<std::string> overrides;
  RunOptions options;
  bool log_time = false;
  auto* run = app.add_subcommand("run", "Run an experiment and write RUN.h5 and RUN.summary.csv");
  run->add_option("config", config_path, "Experiment config (TOML)")->required();
  run->add_option("--set", overrides, "Override a config key: KEY=VALUE (repeatable)");
  run->add_option("--out", options.out_path, "Output HDF5 file (default: <config stem>.h5)");
  run->add_option("--backend", options.backend, "auto | cpu | cuda")->default_val("auto");
  run->add_option("--threads", options.threads, "CPU threads (default: all)")->check(CLI::NonNegativeNumber);
  run->add_flag("--resume", options.resume, "Continue from RUN.h5.partial if it exists");
  run->add_flag("--quiet", options.quiet, "Print only errors");
  run->add_option("--shuffle-units", options.shuffle_units, "Testing: run work units in a random order (seed)")
      ->group("Testing");
  std::string schedule = "dynamic";
  run->add_option("--mpi-schedule", schedule, "Under MPI: dynamic (a queue on rank 0) or static (a block per rank)")
      ->check(CLI::IsMember({"dynamic", "static"}));

  auto* validate = app.add_subcommand("validate", "Check a config and print it fully resolved");
  validate->add_option("config", config_path, "Experiment config (TOML)")->required();
  validate->add_option("--set", overrides, "Override a config key: KEY=VALUE (repeatable)");

  auto* report = app.add_subcommand("report", "Print the per-cell statistics of a run file");
  report->add_option("file", h5_path, "Run file (HDF5)")->required();
  report->add_option("--format", format, "table | csv | json")->check(CLI::IsMember({"table", "csv", "json"}));

  int repeat = 3;
  auto* bench = app.add_subcommand("bench", "Time every cell of an experiment on a backend (no output file)");
  bench->add_option("config", config_path, "Experiment config (TOML)")->required();
  bench->add_option("--set", overrides, "Override a config key: KEY=VALUE (repeatable)");
  bench->add_option("--backend", options.backend, "auto | cpu | cuda")->default_val("auto");
  bench->add_option("--threads", options.threads, "CPU threads (default: all)")->check(CLI::NonNegativeNumber);
  bench->add_option("--repeat", repeat, "Timed runs per cell; figures are their median (default 3)")
      ->check(CLI::PositiveNumber);
  bench->add_option("--format", format, "table | json")->check(CLI::IsMember({"table", "json"}));

  auto* plot = app.add_subcommand("plot", "Write PNG figures of a run file");
  plot->add_option("file", h5_path, "Run file (HDF5)")->required();
  plot->add_option("--out", out_dir, "Output directory (default: .)");
  plot->add_flag("--log-time", log_time, "Log-scaled step axis for trajectories");

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitInput;
  }
  if (run->parsed()) {
    options.mpi_schedule = schedule == "static" ? MpiSchedule::static_blocks : MpiSchedule::dynamic;
    return run_command(config_path, overrides, options);
  }
  if (validate->parsed()) {
    const Experiment ex = load_experiment(config_path, overrides);
    std::fputs(ex.to_toml().c_str(), stdout);
    fmt::print(stderr, "{}: valid, {} cell(s)\n", config_path, ex.cells.size());
    return 0;
  }
  if (report->parsed()) {
    const ReportFormat f = format == "csv" ? ReportFormat::csv : format == "json" ? ReportFormat::json : ReportFormat::table;
    std::fputs(format_report(load_report(h5_path), f).c_str(), stdout);
    return 0;
  }
  if (bench->parsed()) return bench_command(config_path, overrides, options, repeat, format == "json");
  if (plot->parsed()) return plot_command(h5_path, out_dir, log_time);
  std::fputs(app.help().c_str(), stderr);
  return kExitInput;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run_cli(argc, argv);
  } catch (const specsweep::InputError& e) {
    fmt::print(stderr, "specsweep: error: {}\n", e.what());
    return specsweep::kExitInput;
  } catch (const std::exception& e) {
    fmt::print(stderr, "specsweep: failed: {}\n", e.what());
    return specsweep::kExitRuntime;
  }
}
