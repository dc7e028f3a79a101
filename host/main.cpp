// specsweep: command line entry point (DESIGN section 4).
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <new>
#include <vector>

#include "backend.hpp"
#include "bench.hpp"
#include "cluster.hpp"
#include "config.hpp"
#include "cpu/cpu_backend.hpp"
#include "driver.hpp"
#include "errors.hpp"
#include "h5_output.hpp"
#include "oracle.hpp"
#include "problem.hpp"
#include "report.hpp"
#include "session.hpp"

#ifndef SPECSWEEP_PLOT_SCRIPT
#define SPECSWEEP_PLOT_SCRIPT "specsweep_plot.py"
#endif

namespace {

using namespace specsweep;

// A word as a POSIX shell reads it back: as is when it is plain, else in single quotes.
std::string shell_quoted(const std::string& word) {
  const bool plain = !word.empty() && word.find_first_not_of(
                                          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                          "0123456789_@%+=:,./-") == std::string::npos;
  if (plain) return word;
  std::string quoted = "'";
  for (char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// The command that continues an interrupted run: the one given, its output named (the default
// one if none was) and --resume added, ready to paste into a shell.
std::string resume_command(const std::vector<std::string>& command, const std::string& out_path) {
  std::vector<std::string> words = command;
  auto given = [&](const std::string& flag) {
    return std::any_of(words.begin(), words.end(), [&](const std::string& w) {
      return w == flag || w.rfind(flag + "=", 0) == 0;
    });
  };
  if (!given("--out")) words.insert(words.end(), {"--out", out_path});
  if (!given("--resume")) words.push_back("--resume");
  std::string line;
  for (const std::string& w : words) line += (line.empty() ? "" : " ") + shell_quoted(w);
  return line;
}

// command: the command line as given (argv), for the resume hint of an interrupted run.
int run_command(const std::string& config_path, const std::vector<std::string>& overrides,
                RunOptions options, bool skip_resource_check,
                const std::vector<std::string>& command) {
  const Experiment experiment = load_experiment(config_path, overrides);
  if (options.out_path.empty()) options.out_path = default_output_path(config_path);
  const SessionResult result = run_session(experiment, options, config_path, skip_resource_check);
  const RunSummary& summary = result.summary;
  if (!Cluster::instance().root())
    return summary.interrupted_by != 0 ? 128 + summary.interrupted_by : 0;
  if (result.already_complete) {
    if (!options.quiet)
      fmt::print("{} is complete: nothing to resume (--force runs it again)\n", options.out_path);
    return 0;
  }
  if (summary.interrupted_by != 0) {
    fmt::print(
        stderr,
        "specsweep: interrupted by signal {}; {} units written to {}.partial; to continue:\n  {}\n",
        summary.interrupted_by, summary.units_resumed + summary.units_run, options.out_path,
        resume_command(command, options.out_path));
    return 128 + summary.interrupted_by;
  }
  if (!options.quiet) {
    std::fputs(format_report(result.report, ReportFormat::table).c_str(), stdout);
    fmt::print("backend {}  {:.3g} s ({:.0f}% in the backend)  {:.3g} seed-steps/s  -> {}\n",
               summary.backend, summary.seconds, 100.0 * summary.backend_seconds / summary.seconds,
               summary.seed_steps / summary.seconds, options.out_path);
  }
  return 0;
}

// `specsweep export`: to standard output, or written beside `path` and renamed over it once
// complete, so a failed export never leaves a truncated CSV.
int export_command(const std::string& h5_path, const std::string& path) {
  if (path.empty()) {
    export_outcomes(h5_path, stdout);
    return 0;
  }
  const std::string partial = path + ".partial";
  std::FILE* out = std::fopen(partial.c_str(), "w");
  if (out == nullptr)
    throw InputError(
        fmt::format("--out {}: cannot create {}: {}", path, partial, std::strerror(errno)));
  try {
    export_outcomes(h5_path, out);
  } catch (...) {
    std::fclose(out);
    std::remove(partial.c_str());
    throw;
  }
  if (std::fclose(out) != 0 || std::rename(partial.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(partial.c_str());
    throw RuntimeFailure(fmt::format("--out {}: cannot write it: {}", path, std::strerror(err)));
  }
  return 0;
}

// Value i of a swept key as a person reads it: labels as written, integers exact, other numbers
// to 6 digits, or with `exact` the shortest text that reads back the same double (JSON).
std::string axis_value_text(const SweepAxis& axis, size_t i, bool exact = false) {
  if (!axis.numeric) return axis.labels[i];
  if (axis.integral) return std::to_string(axis.integers[i]);
  return exact ? fmt::format("{}", axis.numbers[i]) : fmt::format("{:.6g}", axis.numbers[i]);
}

// Times every cell of an experiment on a backend; writes no file.
int bench_command(const std::string& config_path, const std::vector<std::string>& overrides,
                  const RunOptions& options, int repeat, bool json, bool skip_resource_check) {
  const Experiment experiment = load_experiment(config_path, overrides);
  check_resources(experiment, options, false, skip_resource_check);
  BackendOptions backend_options;
  backend_options.threads = options.threads;
  const auto backend = make_backend(options.backend, backend_options);
  std::vector<CellTiming> timings;
  for (std::size_t c = 0; c < experiment.cells.size(); ++c) {
    timings.push_back(time_cell(
        *backend, make_cell_problem(experiment.cells[c], static_cast<std::uint32_t>(c)), repeat));
    const std::vector<size_t> at = experiment.axis_indices(c);
    for (size_t a = 0; a < experiment.axes.size(); ++a) {
      const SweepAxis& axis = experiment.axes[a];
      const std::string value = axis_value_text(axis, at[a], true);
      const bool quoted = !axis.numeric && !axis.boolean;
      CellTiming& t = timings.back();
      t.swept_text += (a ? " " : "") + axis.key + "=" + axis_value_text(axis, at[a]);
      // Keys and labels are config text: no quotes or backslashes in them to escape.
      t.swept_json += fmt::format("{}\"{}\": {}", a ? ", " : "", axis.key,
                                  quoted ? "\"" + value + "\"" : value);
    }
    if (json) std::fputs(format_timings({timings.back()}, backend->name(), true).c_str(), stdout);
  }
  if (!json) std::fputs(format_timings(timings, backend->name(), false).c_str(), stdout);
  return 0;
}

// Syntax check of plot --cells: comma-separated cell indices and ranges a-b (a <= b), e.g.
// "0,3,5" or "2-7". Whether the cells exist is checked by the script, which knows the run's cells.
std::string check_cell_list(const std::string& list) {
  const auto bad = [&](const std::string& why) {
    return fmt::format(
        "'{}' is not a cell list ({}); expected indices and ranges like 0,3,5 or 2-7", list, why);
  };
  if (list.empty()) return bad("empty");
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = std::min(list.find(',', start), list.size());
    const std::string item = list.substr(start, comma - start);
    const size_t dash = item.find('-');
    const std::string first = item.substr(0, dash);
    const std::string last = dash == std::string::npos ? first : item.substr(dash + 1);
    const auto index = [](const std::string& s) {
      return !s.empty() && s.size() <= 9 && s.find_first_not_of("0123456789") == std::string::npos;
    };
    if (!index(first) || !index(last))
      return bad(fmt::format("'{}' is not an index or a range", item));
    if (std::stol(first) > std::stol(last))
      return bad(fmt::format("range '{}' runs backwards", item));
    start = comma + 1;
  }
  return "";
}

// Runs the plotting script (matplotlib) on a run file.
int plot_command(const std::string& h5_path, const std::string& out_dir, bool log_time,
                 const std::string& cells) {
  const char* script_env = std::getenv("SPECSWEEP_PLOT_SCRIPT");
  const char* python_env = std::getenv("SPECSWEEP_PYTHON");
  const std::string script = script_env ? script_env : SPECSWEEP_PLOT_SCRIPT;
  // The python3 on PATH (a virtual environment's, when one is active), or the one SPECSWEEP_PYTHON
  // names.
  const std::string python = python_env ? python_env : "python3";
  std::vector<std::string> args = {python, script, h5_path, out_dir};
  if (log_time) args.emplace_back("--log-time");
  if (!cells.empty()) args.push_back("--cells=" + cells);
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
  const std::string threads_help =
      fmt::format("CPU threads, at most {} (default: all)", kMaxThreads);
  bool skip_resource_check = false;
  const char* const skip_help =
      "Run even if the memory or disk estimate says the run does not fit this machine";
  run->add_option("--threads", options.threads, threads_help)->check(CLI::Range(0, kMaxThreads));
  run->add_flag("--skip-resource-check", skip_resource_check, skip_help);
  run->add_flag("--resume", options.resume,
                "Continue from RUN.h5.partial (an error when there is none; a complete RUN.h5 has "
                "nothing to resume)");
  run->add_flag("--force", options.force, "Replace RUN.h5 if it exists");
  run->add_flag("--quiet", options.quiet, "Print only errors");
  run->add_option("--shuffle-units", options.shuffle_units,
                  "Testing: run work units in a random order (seed)")
      ->group("Testing");
  std::string schedule = "dynamic";
  run->add_option("--mpi-schedule", schedule,
                  "Under MPI: dynamic (a queue on rank 0) or static (a block per rank)")
      ->check(CLI::IsMember({"dynamic", "static"}));

  auto* validate = app.add_subcommand("validate", "Check a config and print it fully resolved");
  validate->add_option("config", config_path, "Experiment config (TOML)")->required();
  validate->add_option("--set", overrides, "Override a config key: KEY=VALUE (repeatable)");

  auto* report = app.add_subcommand("report", "Print the per-cell statistics of a run file");
  report->add_option("file", h5_path, "Run file (HDF5)")->required();
  report
      ->add_option("--format", format,
                   "table (fits 100 columns) | wide (every column) | csv | json")
      ->check(CLI::IsMember({"table", "wide", "csv", "json"}));

  std::string export_path;
  auto* export_cmd = app.add_subcommand(
      "export", "Write every seed's outcomes as CSV (one row per cell and seed)");
  export_cmd->add_option("file", h5_path, "Run file (HDF5)")->required();
  export_cmd->add_option("--out", export_path, "CSV file to write (default: standard output)");

  int repeat = 3;
  auto* bench =
      app.add_subcommand("bench", "Time every cell of an experiment on a backend (no output file)");
  bench->add_option("config", config_path, "Experiment config (TOML)")->required();
  bench->add_option("--set", overrides, "Override a config key: KEY=VALUE (repeatable)");
  bench->add_option("--backend", options.backend, "auto | cpu | cuda")->default_val("auto");
  bench->add_option("--threads", options.threads, threads_help)->check(CLI::Range(0, kMaxThreads));
  bench->add_flag("--skip-resource-check", skip_resource_check, skip_help);
  bench->add_option("--repeat", repeat, "Timed runs per cell; figures are their median (default 3)")
      ->check(CLI::PositiveNumber);
  bench->add_option("--format", format, "table | json")->check(CLI::IsMember({"table", "json"}));

  auto* plot = app.add_subcommand("plot", "Write PNG figures of a run file");
  plot->add_option("file", h5_path, "Run file (HDF5)")->required();
  plot->add_option("--out", out_dir, "Output directory (default: .)");
  plot->add_flag("--log-time", log_time, "Log-scaled step axis for trajectories");
  std::string plot_cells;
  plot->add_option("--cells", plot_cells,
                   "Plot only these cells: indices and ranges, e.g. 0,3,5 or 2-7")
      ->check(CLI::Validator([](std::string& list) { return check_cell_list(list); }, "LIST"));

  std::string selftest_backend = "auto";
  auto* selftest = app.add_subcommand(
      "selftest",
      "Check this machine's answers: small oracle cases on a backend against the CPU backend "
      "(exit 0: all within tolerance, 3: not)");
  selftest->add_option("--backend", selftest_backend, "auto | cpu | cuda")->default_val("auto");

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
    return run_command(config_path, overrides, options, skip_resource_check,
                       std::vector<std::string>(argv, argv + argc));
  }
  if (validate->parsed()) {
    const Experiment ex = load_experiment(config_path, overrides);
    std::fputs(ex.to_toml().c_str(), stdout);
    fmt::print(stderr, "{}: valid, {} cell(s)\n", config_path, ex.cells.size());
    for (const SweepAxis& axis : ex.axes) {
      fmt::print(stderr, "  swept: {}: {} value(s), {}{}{}\n", axis.key, axis.size(),
                 axis_value_text(axis, 0),
                 axis.size() > 2    ? " ... "
                 : axis.size() == 2 ? ", "
                                    : "",
                 axis.size() > 1 ? axis_value_text(axis, axis.size() - 1) : "");
    }
    for (const UnusedKeys& unused : unused_keys(ex))
      fmt::print(stderr, "  not used by any cell: {} (used with {})\n", unused.keys,
                 unused.used_by);
    return 0;
  }
  if (report->parsed()) {
    std::fputs(format_report(load_report(h5_path), parse_report_format(format)).c_str(), stdout);
    return 0;
  }
  if (export_cmd->parsed()) return export_command(h5_path, export_path);
  if (bench->parsed())
    return bench_command(config_path, overrides, options, repeat, format == "json",
                         skip_resource_check);
  if (plot->parsed()) return plot_command(h5_path, out_dir, log_time, plot_cells);
  if (selftest->parsed()) return run_selftest(selftest_backend, stdout);
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
  } catch (const std::bad_alloc&) {
    fmt::print(stderr,
               "specsweep: failed: out of memory (the machine, or ulimit -v, gave less than the "
               "run needed)\n");
    return specsweep::kExitRuntime;
  } catch (const std::exception& e) {
    fmt::print(stderr, "specsweep: failed: {}\n", e.what());
    return specsweep::kExitRuntime;
  }
}
