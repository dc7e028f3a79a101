#include "driver.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <future>
#include <map>
#include <optional>
#include <random>

#include "backend.hpp"
#include "cluster.hpp"
#include "errors.hpp"
#include "h5_output.hpp"
#include "specsweep_revision.hpp"  // generated at build time (cmake/write_revision.cmake)
#include "statistics.hpp"

namespace specsweep {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

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

// "1 h 02 min", "3 min 20 s", "12 s".
std::string duration_text(double seconds) {
  const long s = std::lround(std::max(seconds, 0.0));
  if (s >= 3600) return fmt::format("{} h {:02} min", s / 3600, s % 3600 / 60);
  if (s >= 60) return fmt::format("{} min {:02} s", s / 60, s % 60);
  return fmt::format("{} s", s);
}

// Progress on stderr: a live line on a terminal, otherwise a line every 10 s at most; or, given
// RunOptions::on_progress, a call after every batch. The ETA weighs the work left by its modelled
// cost (seed_cost), so that cells of more steps or larger shapes count for what they take, at the
// rate this invocation has measured.
class Progress {
 public:
  Progress(const RunOptions& options, long total_units, double pending_cost)
      : quiet_(options.quiet),
        tty_(isatty(STDERR_FILENO) != 0),
        total_(total_units),
        pending_cost_(pending_cost),
        callback_(options.on_progress) {}

  // units_done counts resumed units too; cost_done and seed_steps_done are this invocation's.
  void update(long units_done, double cost_done, double seed_steps_done) {
    if (quiet_) return;
    ProgressUpdate now;
    now.units_done = units_done;
    now.units_total = total_;
    now.elapsed_seconds = seconds_since(start_);
    now.seed_steps_per_second = now.elapsed_seconds > 0 ? seed_steps_done / now.elapsed_seconds : 0;
    if (cost_done > 0)
      now.eta_seconds =
          std::max(0.0, (pending_cost_ - cost_done) * now.elapsed_seconds / cost_done);
    if (callback_) return callback_(now);
    if (seconds_since(last_) < (tty_ ? 0.5 : 10.0) && units_done < total_) return;
    last_ = Clock::now();
    const std::string eta = now.eta_seconds >= 0 ? duration_text(now.eta_seconds) : "?";
    fmt::print(stderr, "{}units {}/{}  {:.3g} seed-steps/s  elapsed {}  ETA {}{}", tty_ ? "\r" : "",
               units_done, total_, now.seed_steps_per_second, duration_text(now.elapsed_seconds),
               eta, tty_ ? "   " : "\n");
    if (tty_ && units_done == total_) fmt::print(stderr, "\n");
  }

 private:
  bool quiet_, tty_;
  long total_;
  double pending_cost_;
  std::function<void(const ProgressUpdate&)> callback_;
  Clock::time_point start_ = Clock::now(), last_ = Clock::time_point{};
};

struct Unit {
  long cell = 0, index = 0, first_seed = 0, count = 0;
};

// A computed batch: per unit its outcomes and traced-seed trajectories.
struct BatchResult {
  std::vector<Unit> units;
  double seconds = 0;  // in the backend, when this rank computed it (0 for a worker's results)
  std::deque<SeedOutcomes> outcomes;
  std::deque<SeedTraces> traces;
};

// Batches are sized by time: an interrupt abandons the batch in flight, and progress moves once
// per batch. The first batch costs at most kFirstBatchCost model FLOPs; each later one what the
// previous batch's measured rate computes in kBatchSeconds, at most kBatchGrowth times the
// previous one's cost (so a fast device ramps up in a few batches), and never fewer seeds than
// the backend needs to keep busy (Backend::min_call_seeds).
constexpr double kFirstBatchCost = 1e10, kBatchSeconds = 5, kBatchGrowth = 4;

// Messages between ranks. A worker's every message asks for one more batch; the root answers each
// with kAssign (units to run, none = stop).
enum Tag : int { kRequest = 1, kResults = 2, kCancelled = 3, kAssign = 4 };
// Batches each worker has queued beyond the one it is running, so it never waits for the root.
constexpr int kWorkerPrefetch = 2;

void put(ByteWriter& w, const Unit& u) {
  w.put(u.cell), w.put(u.index), w.put(u.first_seed), w.put(u.count);
}
void get(ByteReader& r, Unit& u) {
  r.get(u.cell), r.get(u.index), r.get(u.first_seed), r.get(u.count);
}

std::vector<char> encode_units(const std::vector<Unit>& units) {
  ByteWriter w;
  w.put(static_cast<long>(units.size()));
  for (const Unit& u : units) put(w, u);
  return std::move(w.bytes());
}

std::vector<Unit> decode_units(const std::vector<char>& bytes) {
  ByteReader r(bytes);
  long n = 0;
  r.get(n);
  std::vector<Unit> units(static_cast<size_t>(n));
  for (Unit& u : units) get(r, u);
  return units;
}

std::vector<char> encode_results(const BatchResult& b) {
  ByteWriter w;
  w.put(static_cast<long>(b.units.size()));
  for (size_t i = 0; i < b.units.size(); ++i) {
    put(w, b.units[i]);
    const SeedOutcomes& o = b.outcomes[i];
    w.put(o.first_seed), w.put(o.count), w.put(o.r);
    for_each_outcome_array(o, [&w](const char*, const auto& values, int) { w.put(values); });
    const SeedTraces& t = b.traces[i];
    w.put(t.first_seed), w.put(t.count), w.put(t.steps), w.put(t.r), w.put(t.depth);
    for_each_trace_array(
        t, [&w](const char*, const std::vector<double>& values, int) { w.put(values); });
    w.put(static_cast<long>(t.init_factors.size()));
    for (size_t k = 0; k < t.init_factors.size(); ++k)
      w.put(t.init_factors[k]), w.put(t.final_factors[k]);
  }
  return std::move(w.bytes());
}

BatchResult decode_results(const std::vector<char>& bytes) {
  ByteReader r(bytes);
  long n = 0;
  r.get(n);
  BatchResult b;
  for (long i = 0; i < n; ++i) {
    get(r, b.units.emplace_back());
    SeedOutcomes& o = b.outcomes.emplace_back();
    r.get(o.first_seed), r.get(o.count), r.get(o.r);
    for_each_outcome_array(o, [&r](const char*, auto& values, int) { r.get(values); });
    SeedTraces& t = b.traces.emplace_back();
    r.get(t.first_seed), r.get(t.count), r.get(t.steps), r.get(t.r), r.get(t.depth);
    for_each_trace_array(t, [&r](const char*, std::vector<double>& values, int) { r.get(values); });
    long factors = 0;
    r.get(factors);
    t.init_factors.resize(static_cast<size_t>(factors));
    t.final_factors.resize(static_cast<size_t>(factors));
    for (long k = 0; k < factors; ++k) r.get(t.init_factors[k]), r.get(t.final_factors[k]);
  }
  return b;
}

}  // namespace

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
  layout.symmetric = first.shape.symmetric;
  layout.weighted = !first.target.row_weight.empty();
  for (const Config& cell : ex.cells)
    if (cell.problem.kind == ProblemKind::sensing)
      layout.measurements = std::max(layout.measurements, cell.problem.sensing.measurements);
  layout.delta_matrices = c.record.delta_matrices;
  layout.spectrum_length = static_cast<int>(first.target.spectrum.size());
  layout.unit_seeds = unit_seeds(ex.cells);
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
  // Every precision the cells use (run.precision may be swept), in a fixed order.
  bool used[2] = {false, false};
  for (const Config& cell : ex.cells) used[cell.run.precision == Precision::fp64] = true;
  a.precision = used[0] && used[1] ? "fp32,fp64" : used[1] ? "fp64" : "fp32";
  a.git_revision = SPECSWEEP_GIT_REVISION;
  return a;
}

namespace {

// One invocation of `specsweep run` on one rank.
class Run {
 public:
  Run(const Experiment& ex, const RunOptions& options)
      : ex_(ex),
        options_(options),
        cluster_(Cluster::instance()),
        backend_(make_backend(options.backend,
                              BackendOptions{options.threads, cluster_.local_rank(), &g_stop})),
        layout_(output_layout(ex, make_cell_problem(ex.cells.front(), 0))) {
    summary_.backend = backend_->name();
    summary_.out_path = options.out_path;
    for (const Config& cell : ex.cells)
      cell_costs_.push_back({seed_cost(cell, false), seed_cost(cell, true)});
  }

  RunSummary execute() {
    if (cluster_.size() == 1) {
      open_file();
      for (size_t next = 0; next < pending_.size() && !g_stop;) {
        const std::vector<Unit> batch = take_batch(pending_, next);
        try {
          store(compute(batch));
        } catch (const Cancelled&) {
          break;
        }
      }
      return finish();
    }
    if (cluster_.root()) {
      open_file_everywhere();
      coordinate();
      return finish();
    }
    if (!file_opened_everywhere()) return summary_;
    work();
    summary_.backend_seconds = backend_seconds_;
    summary_.interrupted_by = g_signal.load();
    return summary_;
  }

 private:
  // Root: creates or resumes the run file and lists the units still to run.
  void open_file() {
    const RunAttributes attrs = run_attributes(ex_, backend_->name());
    bool resuming = options_.resume && RunFile::partial_exists(options_.out_path);
    if (resuming) {
      try {
        file_.emplace(RunFile::resume(options_.out_path, layout_, attrs));
      } catch (const UnusablePartial& e) {
        // Nothing finished is lost, and a requeued job that resumes must not fail forever; the
        // file is kept aside for whoever wants to look at it.
        const std::string partial = RunFile::partial_path_for(options_.out_path),
                          aside = partial + ".unusable";
        if (std::rename(partial.c_str(), aside.c_str()) != 0)
          throw RuntimeFailure(fmt::format("{}; cannot set it aside as {}: {}", e.what(), aside,
                                           std::strerror(errno)));
        fmt::print(stderr, "specsweep: {}; set aside as {}, starting afresh\n", e.what(), aside);
        resuming = false;
      }
    }
    if (!file_) file_.emplace(RunFile::create(options_.out_path, layout_, attrs));
    const long seeds = layout_.seeds, per_unit = layout_.unit_seeds;
    const long units_per_cell = (seeds + per_unit - 1) / per_unit;
    total_units_ = layout_.cells * units_per_cell;
    for (long c = 0; c < layout_.cells; ++c)
      for (long u = 0; u < units_per_cell; ++u) {
        if (file_->unit_done(c, u)) {
          ++summary_.units_resumed;
          continue;
        }
        pending_.push_back({c, u, u * per_unit, std::min(per_unit, seeds - u * per_unit)});
      }
    if (options_.shuffle_units != 0)
      std::shuffle(pending_.begin(), pending_.end(), std::mt19937_64(options_.shuffle_units));
    // Under MPI, batches small enough that every rank gets many: the tail of the run, where ranks
    // wait for the last batches, stays short.
    long pending_seeds = 0;
    for (const Unit& u : pending_) pending_seeds += u.count;
    if (cluster_.size() > 1)
      batch_seeds_ = std::clamp<long>(pending_seeds / (16L * cluster_.size()), 1, kBatchSeeds);
    for (const Unit& u : pending_) ++units_left_[u.cell];
    if (resuming && !options_.quiet)
      fmt::print(stderr, "resuming {}: {} of {} units already done\n", options_.out_path,
                 summary_.units_resumed, total_units_);
    double pending_cost = 0;
    for (const Unit& u : pending_) pending_cost += unit_cost(u);
    progress_.emplace(options_, total_units_, pending_cost);
  }

  // Root under MPI: opens the file, then tells every rank whether that worked (an error on the
  // root alone must not leave the others waiting).
  void open_file_everywhere() {
    std::vector<char> status(1, 0);
    try {
      open_file();
    } catch (const InputError&) {
      status[0] = kExitInput;
      cluster_.broadcast(status);
      throw;
    } catch (...) {
      status[0] = kExitRuntime;
      cluster_.broadcast(status);
      throw;
    }
    cluster_.broadcast(status);
  }
  bool file_opened_everywhere() {
    std::vector<char> status;
    cluster_.broadcast(status);
    if (status.at(0) != 0) std::exit(status[0]);  // the root reports the error
    return true;
  }

  // The next batch from a queue. Under MPI batches shrink as the queue empties (guided
  // self-scheduling), so the ranks finish together instead of one waiting on another's last batch.
  std::vector<Unit> take_batch(const std::vector<Unit>& from, size_t& next) const {
    std::vector<Unit> batch;
    long seeds = 0;
    const size_t remaining = from.size() - next;
    const size_t max_units =
        cluster_.size() > 1
            ? std::clamp<size_t>(remaining / (4 * size_t(cluster_.size())), 1, size_t(kBatchUnits))
            : size_t(kBatchUnits);
    const double cost_cap = batch_cost_cap();
    double cost = 0;
    while (next < from.size() && batch.size() < max_units &&
           (batch.empty() ||
            (seeds < batch_seeds_ &&
             (seeds < min_call_seeds_ || cost + unit_cost(from[next]) <= cost_cap)))) {
      batch.push_back(from[next++]);
      seeds += batch.back().count;
      cost += unit_cost(batch.back());
    }
    return batch;
  }

  // The model cost of a unit: its seeds, the traced ones among them with their record steps.
  double unit_cost(const Unit& u) const {
    const long traced = std::clamp<long>(layout_.traced - u.first_seed, 0, u.count);
    const CellCost& c = cell_costs_[static_cast<size_t>(u.cell)];
    return double(u.count - traced) * c.seed + double(traced) * c.traced_seed;
  }
  double batch_cost_cap() const {
    if (last_batch_seconds_ <= 0) return kFirstBatchCost;
    return std::min(last_batch_cost_ / last_batch_seconds_ * kBatchSeconds,
                    kBatchGrowth * last_batch_cost_);
  }

  const CellProblem& problem(long cell) {
    auto it = problems_.find(cell);
    if (it == problems_.end())
      it = problems_
               .emplace(cell, make_cell_problem(ex_.cells[cell], static_cast<std::uint32_t>(cell)))
               .first;
    return it->second;
  }

  // The problems of a batch's cells, built on this (the calling) thread.
  std::vector<const CellProblem*> problems_of(const std::vector<Unit>& units) {
    std::vector<const CellProblem*> out;
    for (const Unit& u : units) out.push_back(&problem(u.cell));
    return out;
  }

  // Runs a batch through the backend (throws Cancelled when interrupted). Touches no shared
  // state but the backend, so the root can run it on a thread of its own.
  BatchResult compute(const std::vector<Unit>& units,
                      const std::vector<const CellProblem*>& problems) {
    BatchResult b;
    b.units = units;
    std::vector<WorkItem> items;
    for (size_t i = 0; i < units.size(); ++i) {
      const Unit& u = units[i];
      const CellProblem& cp = *problems[i];
      b.outcomes.emplace_back().resize(u.first_seed, u.count, cp.shape.r);
      b.traces.emplace_back().resize_for_seeds(u.first_seed, u.count, cp);
      items.push_back({&cp, u.first_seed, u.count, &b.outcomes.back(), &b.traces.back()});
    }
    const auto t0 = Clock::now();
    backend_->run(items);
    b.seconds = seconds_since(t0);
    backend_seconds_ += b.seconds;
    return b;
  }
  BatchResult compute(const std::vector<Unit>& units) { return compute(units, problems_of(units)); }

  // Root: writes a batch's results and marks its units done (each flushed before its mark).
  void store(const BatchResult& b) {
    double cost = 0;
    for (const Unit& u : b.units) cost += unit_cost(u);
    cost_done_ += cost;
    if (b.seconds > 0) last_batch_cost_ = cost, last_batch_seconds_ = b.seconds;
    for (size_t i = 0; i < b.units.size(); ++i) {
      const Unit& u = b.units[i];
      if (!targets_written_[u.cell]) {
        file_->write_target(u.cell, problem(u.cell).target);
        targets_written_[u.cell] = true;
      }
      file_->write_outcomes(u.cell, b.outcomes[i]);
      if (b.traces[i].count > 0) file_->write_traces(u.cell, b.traces[i]);
      file_->mark_unit_done(u.cell, u.index);
      summary_.seed_steps += double(u.count) * ex_.cells[u.cell].run.steps;
      if (--units_left_[u.cell] == 0) problems_.erase(u.cell);  // the cell is done
    }
    summary_.units_run += static_cast<long>(b.units.size());
    progress_->update(summary_.units_resumed + summary_.units_run, cost_done_, summary_.seed_steps);
  }

  // Root under MPI: hands out batches (one shared queue, or per-rank shares with the static
  // schedule), stores what workers send back, and runs batches itself in between.
  void coordinate() {
    const int workers = cluster_.size() - 1;
    std::vector<std::vector<Unit>> queue(static_cast<size_t>(cluster_.size()));
    std::vector<size_t> next(queue.size(), 0);
    if (options_.mpi_schedule == MpiSchedule::static_blocks) {
      // Contiguous blocks of the unit list, one per rank.
      const size_t per = (pending_.size() + queue.size() - 1) / queue.size();
      for (size_t i = 0; i < pending_.size(); ++i) queue[i / per].push_back(pending_[i]);
    }
    auto queue_of = [&](int rank) -> std::vector<Unit>& {
      return options_.mpi_schedule == MpiSchedule::static_blocks ? queue[rank] : pending_;
    };
    auto next_of = [&](int rank) -> size_t& {
      return options_.mpi_schedule == MpiSchedule::static_blocks ? next[rank] : next[0];
    };
    std::vector<long> in_flight(queue.size(), 0), requests(queue.size(), 0);
    auto worker_done = [&](int w) {
      return requests[w] >= kWorkerPrefetch && in_flight[w] == 0 && stopping_for(w);
    };
    auto all_done = [&] {
      for (int w = 1; w <= workers; ++w)
        if (!worker_done(w)) return false;
      return true;
    };
    stop_all_ = false;
    auto reply = [&](int w) {
      std::vector<Unit> batch;
      if (!stop_all_ && !g_stop) batch = take_batch(queue_of(w), next_of(w));
      in_flight[w] += !batch.empty();
      if (batch.empty()) stopped_[w] = true;
      cluster_.send(w, kAssign, encode_units(batch));
    };
    auto handle = [&] {
      int source = 0, tag = 0;
      const std::vector<char> bytes = cluster_.receive(source, tag);
      ++requests[source];
      if (tag == kResults) {
        --in_flight[source];
        store(decode_results(bytes));
      } else if (tag == kCancelled) {
        --in_flight[source];
        stop_all_ = true;  // a worker was interrupted: the whole job stops
      }
      reply(source);
    };
    // Workers' first requests before the root's own work, so no worker starts idle.
    for (long initial = 0; initial < long(workers) * kWorkerPrefetch; ++initial) handle();
    // The root's own batches run on a second thread while this one (the only one that calls MPI
    // or HDF5) keeps answering the workers, so they never wait for the root to finish a batch.
    for (;;) {
      while (cluster_.message_waiting()) handle();
      const bool own_work = !stop_all_ && !g_stop && next_of(0) < queue_of(0).size();
      if (own_work) {
        const std::vector<Unit> batch = take_batch(queue_of(0), next_of(0));
        std::future<BatchResult> own =
            std::async(std::launch::async,
                       [this, batch, cells = problems_of(batch)] { return compute(batch, cells); });
        while (own.wait_for(std::chrono::milliseconds(1)) != std::future_status::ready)
          while (cluster_.message_waiting()) handle();
        try {
          store(own.get());
        } catch (const Cancelled&) {
          stop_all_ = true;
        }
        continue;
      }
      if (all_done()) break;
      handle();
    }
    if (stop_all_ && g_signal == 0) g_signal = SIGTERM;
  }
  bool stopping_for(int w) const { return stopped_.count(w) != 0 && stopped_.at(w); }

  // A worker rank: asks for batches, runs them, sends the results back.
  void work() {
    struct CompletePosted {
      Cluster& c;
      ~CompletePosted() { c.complete_posted(); }
    } complete{cluster_};
    long outstanding = 0;
    for (int i = 0; i < kWorkerPrefetch; ++i, ++outstanding) cluster_.send(0, kRequest, {});
    while (outstanding > 0) {
      int source = 0, tag = 0;
      const std::vector<Unit> batch = decode_units(cluster_.receive(source, tag));
      --outstanding;
      if (batch.empty()) continue;
      ++outstanding;
      if (g_stop) {
        cluster_.send(0, kCancelled, {});
        continue;
      }
      try {
        const BatchResult b = compute(batch);
        for (const Unit& u : batch)
          summary_.seed_steps += double(u.count) * ex_.cells[u.cell].run.steps;
        summary_.units_run += static_cast<long>(batch.size());
        // Posted, not sent: the root takes it between its own batches while this rank goes on
        // with the batch it has queued.
        cluster_.complete_posted();
        cluster_.post(0, kResults, encode_results(b));
        if (problems_.size() > 64)
          problems_.clear();  // rebuilt on demand; bounds memory in long sweeps
      } catch (const Cancelled&) {
        cluster_.send(0, kCancelled, {});
      }
    }
  }

  // Root: keeps the partial when interrupted; otherwise computes the statistics from the file's
  // complete per-seed data (independent of unit order, ranks and resume) and commits.
  RunSummary finish() {
    summary_.backend_seconds = backend_seconds_;
    if (g_stop || stop_all_) {
      file_->keep_partial();
      summary_.interrupted_by = g_signal.load() != 0 ? g_signal.load() : SIGTERM;
      summary_.seconds = seconds_since(start_);
      return summary_;
    }
    for (long c = 0; c < layout_.cells; ++c) {
      const CellProblem cp = make_cell_problem(ex_.cells[c], static_cast<std::uint32_t>(c));
      if (!targets_written_[c]) file_->write_target(c, cp.target);
      file_->write_summary(
          c, cell_statistics(file_->read_outcomes(c), file_->read_traces(c, cp), cp.modes));
    }
    file_->commit();
    summary_.seconds = seconds_since(start_);
    return summary_;
  }

  const Experiment& ex_;
  const RunOptions& options_;
  Cluster& cluster_;
  std::unique_ptr<Backend> backend_;
  OutputLayout layout_;
  std::optional<RunFile> file_;
  std::vector<Unit> pending_;
  double backend_seconds_ = 0;  // written by whichever thread runs compute(), read after it
  long total_units_ = 0;
  long batch_seeds_ = kBatchSeeds;
  const long min_call_seeds_ = backend_->min_call_seeds();
  struct CellCost {
    double seed = 0, traced_seed = 0;
  };
  std::vector<CellCost> cell_costs_;
  // The cost computed so far in this invocation, and the last batch this rank computed (the root,
  // under MPI: its own batches size the workers' too).
  double cost_done_ = 0, last_batch_cost_ = 0, last_batch_seconds_ = 0;
  std::map<long, long> units_left_;
  std::map<long, bool> targets_written_;
  std::map<long, CellProblem> problems_;  // cells in flight, built on demand
  std::map<int, bool> stopped_;
  bool stop_all_ = false;
  std::optional<Progress> progress_;
  RunSummary summary_;
  Clock::time_point start_ = Clock::now();
};

}  // namespace

std::string default_output_path(const std::string& config_path) {
  return std::filesystem::path(config_path).stem().string() + ".h5";
}

RunSummary run_experiment(const Experiment& ex, const RunOptions& options) {
  StopSignals signals;
  Cluster& cluster = Cluster::instance();
  if (cluster.size() == 1) return Run(ex, options).execute();
  // Under MPI a rank that gives up must take the job with it: the others would wait for it
  // forever (in a receive, or in MPI_Finalize). The run's objects are gone by the time a handler
  // runs, so the partial file is closed (or removed) as after any failure.
  const std::string rank = cluster.root() ? "" : fmt::format(" (rank {})", cluster.rank());
  try {
    return Run(ex, options).execute();
  } catch (const InputError& e) {
    fmt::print(stderr, "specsweep: error{}: {}\n", rank, e.what());
    std::fflush(stderr);
    cluster.abort(kExitInput);
  } catch (const std::exception& e) {
    fmt::print(stderr, "specsweep: failed{}: {}\n", rank, e.what());
    std::fflush(stderr);
    cluster.abort(kExitRuntime);
  }
}

}  // namespace specsweep
