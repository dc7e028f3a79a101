// The checks before a run, the run and its summary CSV (session.hpp).
#include "session.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "backend.hpp"
#include "cluster.hpp"
#include "cpu/cpu_backend.hpp"
#include "errors.hpp"
#include "h5_output.hpp"
#include "problem.hpp"
#include "report.hpp"

namespace specsweep {

std::string summary_csv_path(const std::string& h5_path) {
  std::filesystem::path p(h5_path);
  return (p.parent_path() / (p.stem().string() + ".summary.csv")).string();
}

namespace {

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
  if (access(d.c_str(), W_OK) != 0)
    throw InputError(fmt::format("--out {}: directory {} is not writable", out_path, d));
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

}  // namespace

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

SessionResult run_session(const Experiment& experiment, const RunOptions& options,
                          const std::string& config_path, bool skip_resource_check) {
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
    throw InputError(
        fmt::format("--out {}: the file exists; give --force to replace it, or --out to "
                    "write another file",
                    options.out_path));
  if (existing[0] == no_partial)
    throw InputError(
        fmt::format("--resume: there is no {} to continue (is --out the one the run was "
                    "started with? without --resume the run starts afresh)",
                    partial));
  SessionResult result;
  if (existing[0] == complete) {
    result.already_complete = true;
    result.summary.out_path = options.out_path;
    return result;
  }
  check_resources(experiment, options, true, skip_resource_check);
  result.summary = run_experiment(experiment, options);
  if (Cluster::instance().root() && result.summary.interrupted_by == 0) {
    result.report = load_report(options.out_path);
    write_summary_csv(result.report, summary_csv_path(options.out_path));
  }
  return result;
}

}  // namespace specsweep
