// specsweep: command line entry point (DESIGN section 4).
#include <fcntl.h>
#include <fmt/format.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <new>
#include <thread>
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

#ifndef SPECSWEEP_PLOT_SCRIPT
#define SPECSWEEP_PLOT_SCRIPT "specsweep_plot.py"
#endif

namespace {

using namespace specsweep;

// The most --threads accepted. The work is compute-bound, so threads beyond the cores only share
// them; 1024 covers the largest nodes' hardware threads, and far beyond it libgomp crashes while
// starting a team (100000 threads: SIGSEGV) instead of reporting anything.
constexpr int kMaxThreads = 1024;

// RUN.h5 -> RUN.summary.csv
std::string summary_csv_path(const std::string& h5_path) {
  std::filesystem::path p(h5_path);
  return (p.parent_path() / (p.stem().string() + ".summary.csv")).string();
}

// One file the run will write (the output, its partial file or its summary CSV): it either is a
// regular, writable file other than the config, or does not exist and can be created. Creating it
// (and removing it at once) is the only sure test of a directory on a read-only or virtual file
// system (/proc, /sys) and of a name too long for the file system; O_EXCL never touches a file
// that appears meanwhile.
// Under MPI every rank checks at once, so a file seen by stat can be another rank's probe, gone
// by the time access looks: that is a file that does not exist.
void check_output_file(const std::string& path, const std::string& role,
                       const std::string& out_path, const std::string& config_path) {
  const std::string what = path == out_path ? "" : fmt::format(" ({} {})", role, path);
  struct stat st {};
  while (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode))
      throw InputError(fmt::format("--out {}{}: is a directory", out_path, what));
    if (!S_ISREG(st.st_mode))
      throw InputError(
          fmt::format("--out {}{}: is not a regular file (a device, pipe or socket); "
                      "give a file path",
                      out_path, what));
    std::error_code ec;
    if (std::filesystem::equivalent(path, config_path, ec))
      throw InputError(fmt::format("--out {}{}: is the config file {}; the run would overwrite it",
                                   out_path, what, config_path));
    // Root may write anything, so the permission bits are checked too: the run replaces the file
    // by renaming over it, which a read-only file does not prevent.
    const bool write_bits = (st.st_mode & (S_IWUSR | S_IWGRP | S_IWOTH)) != 0;
    if (write_bits && ::access(path.c_str(), W_OK) == 0) return;
    if (write_bits && errno == ENOENT) continue;
    throw InputError(
        fmt::format("--out {}{}: is read-only; the run would replace it", out_path, what));
  }
  if (errno != ENOENT)
    throw InputError(
        fmt::format("--out {}{}: cannot be used: {}", out_path, what, std::strerror(errno)));
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (errno == EEXIST) return;
    throw InputError(
        fmt::format("--out {}{}: cannot be created: {}", out_path, what, std::strerror(errno)));
  }
  ::close(fd);
  ::unlink(path.c_str());
}

// An output path whose directory is missing or not writable, or whose files cannot be written, is
// bad input (exit 2), found before any work starts; I/O failures later in the run are runtime
// failures (exit 3).
void check_output_path(const std::string& out_path, const std::string& config_path) {
  const std::filesystem::path dir = std::filesystem::path(out_path).parent_path();
  const std::string d = dir.empty() ? "." : dir.string();
  std::error_code ec;
  if (!std::filesystem::is_directory(d, ec))
    throw InputError(fmt::format("--out {}: directory {} does not exist", out_path, d));
  if (access(d.c_str(), W_OK) != 0) throw InputError(fmt::format("--out {}: directory {} is not writable", out_path, d));
  check_output_file(out_path, "the output", out_path, config_path);
  check_output_file(RunFile::partial_path_for(out_path), "its partial file", out_path, config_path);
  check_output_file(summary_csv_path(out_path), "its summary CSV", out_path, config_path);
}

// Threads the CPU backend starts for --threads 0: OpenMP's default, OMP_NUM_THREADS or else the
// CPUs this process may run on.
int default_threads() {
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

// libgomp ends the process (exit 1 with "Thread creation failed", leaving a partial file) when it
// cannot start its team, e.g. under an address-space limit. Starting as many threads here first,
// with the same default stack, turns that into a message before any work.
void check_threads_start(int threads) {
  std::mutex mutex;
  std::condition_variable released;
  bool release = false;
  std::vector<std::thread> started;
  std::string failure;
  for (int i = 1; i < threads; ++i) {  // the calling thread is one of the team
    try {
      started.emplace_back([&] {
        std::unique_lock<std::mutex> lock(mutex);
        released.wait(lock, [&] { return release; });
      });
    } catch (const std::system_error& e) {
      failure = e.what();
      break;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mutex);
    release = true;
  }
  released.notify_all();
  for (std::thread& t : started) t.join();
  if (!failure.empty())
    throw InputError(
        fmt::format("--threads {}: cannot start {} threads here (only {}: {}); use fewer", threads,
                    threads, started.size() + 1, failure));
}

// The memory this process may use and the disk its output may take (memory 0, disk < 0: unknown,
// not checked).
MachineLimits machine_limits(const std::string& out_path, bool resume) {
  MachineLimits limits;
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0) limits.physical_memory = double(pages) * double(page);
  // A container's or a batch job's cgroup (v2) may allow less than the machine has.
  std::ifstream cgroup_of("/proc/self/cgroup");
  for (std::string line; std::getline(cgroup_of, line);) {
    if (line.rfind("0::", 0) != 0) continue;
    std::ifstream max("/sys/fs/cgroup" + line.substr(3) + "/memory.max");
    double bytes = 0;
    if (max >> bytes && bytes > 0)
      limits.physical_memory =
          limits.physical_memory > 0 ? std::min(limits.physical_memory, bytes) : bytes;
  }
  rlimit as{};
  if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY) {
    double in_use = 0;
    std::ifstream statm("/proc/self/statm");
    if (statm >> in_use) in_use *= double(page);
    limits.address_space = std::max(1.0, double(as.rlim_cur) - in_use);
  }
  pthread_attr_t attr;
  std::size_t stack = 0;
  if (pthread_getattr_default_np(&attr) == 0) {
    pthread_attr_getstacksize(&attr, &stack);
    pthread_attr_destroy(&attr);
  }
  limits.thread_stack = double(stack);
  const std::filesystem::path dir = std::filesystem::path(out_path).parent_path();
  struct statvfs fs {};
  if (statvfs(dir.empty() ? "." : dir.c_str(), &fs) == 0) {
    limits.free_disk = double(fs.f_bavail) * double(fs.f_frsize);
    // A resumed partial file's space is reused.
    struct stat st {};
    if (resume && ::stat(RunFile::partial_path_for(out_path).c_str(), &st) == 0)
      limits.free_disk += double(st.st_size);
  }
  return limits;
}

// Refuses (exit 2) a run that cannot fit this machine, before any work: threads that cannot
// start, memory beyond the RAM or the address-space limit, an output beyond the free disk.
void check_resources(const Experiment& experiment, const RunOptions& options, bool writes_file,
                     bool skip_estimate) {
  const bool on_cpu =
      options.backend == "cpu" || (options.backend == "auto" && !backend_available("cuda"));
  const int threads = options.threads > 0 ? options.threads : default_threads();
  if (on_cpu && threads > kMaxThreads)
    throw InputError(fmt::format("OMP_NUM_THREADS={}: more than {} threads; give --threads",
                                 threads, kMaxThreads));
  if (on_cpu) check_threads_start(threads);
  if (skip_estimate) return;
  FootprintParams params;
  params.threads = on_cpu ? threads : 0;
  params.pack_bytes_fp32 = cpu_pack_width(Precision::fp32) * 4;
  params.pack_bytes_fp64 = cpu_pack_width(Precision::fp64) * 8;
  MachineLimits limits = machine_limits(options.out_path, options.resume);
  if (!writes_file) limits.free_disk = -1;
  check_footprint(estimate_footprint(experiment, params), params, limits);
}

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
                RunOptions options, bool skip_resource_check, const std::vector<std::string>& command) {
  const Experiment experiment = load_experiment(config_path, overrides);
  if (options.out_path.empty()) options.out_path = default_output_path(config_path);
  check_output_path(options.out_path, config_path);
  // A finished run is never replaced by accident (a rerun with other --set values once replaced a
  // 1024-seed file): --force says so. --resume of a finished run has nothing to do, and --resume
  // with nothing to continue is a mistake (a forgotten --out once recomputed a whole run beside
  // its partial). The root looks and tells the other ranks: a rank that looked later could see
  // the file the others had just finished.
  enum Existing : char { absent, refused, complete, no_partial };
  std::vector<char> existing(1, absent);
  const std::string partial = RunFile::partial_path_for(options.out_path);
  if (Cluster::instance().root() && !options.force) {
    const bool out_exists = std::filesystem::exists(options.out_path),
               partial_exists = std::filesystem::exists(partial);
    if (!options.resume)
      existing[0] = out_exists ? refused : absent;
    else
      existing[0] = partial_exists ? absent : out_exists ? complete : no_partial;
  }
  Cluster::instance().broadcast(existing);
  if (existing[0] == refused)
    throw InputError(fmt::format("--out {}: the file exists; give --force to replace it, or --out to "
                                 "write another file", options.out_path));
  if (existing[0] == no_partial)
    throw InputError(fmt::format("--resume: there is no {} to continue (is --out the one the run was "
                                 "started with? without --resume the run starts afresh)",
                                 partial));
  if (existing[0] == complete) {
    if (!options.quiet && Cluster::instance().root())
      fmt::print("{} is complete: nothing to resume (--force runs it again)\n", options.out_path);
    return 0;
  }
  check_resources(experiment, options, true, skip_resource_check);
  const RunSummary summary = run_experiment(experiment, options);
  if (!Cluster::instance().root()) return summary.interrupted_by != 0 ? 128 + summary.interrupted_by : 0;
  if (summary.interrupted_by != 0) {
    fmt::print(stderr, "specsweep: interrupted by signal {}; {} units written to {}.partial; to continue:\n  {}\n",
               summary.interrupted_by, summary.units_resumed + summary.units_run, options.out_path,
               resume_command(command, options.out_path));
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

// `specsweep export`: to standard output, or written beside `path` and renamed over it once
// complete, so a failed export never leaves a truncated CSV.
int export_command(const std::string& h5_path, const std::string& path) {
  if (path.empty()) {
    export_outcomes(h5_path, stdout);
    return 0;
  }
  const std::string partial = path + ".partial";
  std::FILE* out = std::fopen(partial.c_str(), "w");
  if (out == nullptr) throw InputError(fmt::format("--out {}: cannot create {}: {}", path, partial, std::strerror(errno)));
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
    timings.push_back(time_cell(*backend, make_cell_problem(experiment.cells[c], static_cast<std::uint32_t>(c)), repeat));
    const std::vector<size_t> at = experiment.axis_indices(c);
    for (size_t a = 0; a < experiment.axes.size(); ++a) {
      const SweepAxis& axis = experiment.axes[a];
      const std::string value = axis_value_text(axis, at[a], true);
      const bool quoted = !axis.numeric && !axis.boolean;
      CellTiming& t = timings.back();
      t.swept_text += (a ? " " : "") + axis.key + "=" + axis_value_text(axis, at[a]);
      // Keys and labels are config text: no quotes or backslashes in them to escape.
      t.swept_json += fmt::format("{}\"{}\": {}", a ? ", " : "", axis.key, quoted ? "\"" + value + "\"" : value);
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
  run->add_flag("--resume", options.resume, "Continue from RUN.h5.partial (an error when there is none; a complete RUN.h5 has nothing to resume)");
  run->add_flag("--force", options.force, "Replace RUN.h5 if it exists");
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
  report->add_option("--format", format,
                     "table (fits 100 columns) | wide (every column) | csv | json")
      ->check(CLI::IsMember({"table", "wide", "csv", "json"}));

  std::string export_path;
  auto* export_cmd = app.add_subcommand("export", "Write every seed's outcomes as CSV (one row per cell and seed)");
  export_cmd->add_option("file", h5_path, "Run file (HDF5)")->required();
  export_cmd->add_option("--out", export_path, "CSV file to write (default: standard output)");

  int repeat = 3;
  auto* bench = app.add_subcommand("bench", "Time every cell of an experiment on a backend (no output file)");
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
      "selftest", "Check this machine's answers: small oracle cases on a backend against the CPU backend "
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
      fmt::print(stderr, "  swept: {}: {} value(s), {}{}{}\n", axis.key, axis.size(), axis_value_text(axis, 0),
                 axis.size() > 2 ? " ... " : axis.size() == 2 ? ", " : "",
                 axis.size() > 1 ? axis_value_text(axis, axis.size() - 1) : "");
    }
    for (const UnusedKeys& unused : unused_keys(ex))
      fmt::print(stderr, "  not used by any cell: {} (used with {})\n", unused.keys, unused.used_by);
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
