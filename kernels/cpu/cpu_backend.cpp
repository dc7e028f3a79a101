#include "cpu/cpu_backend.hpp"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cpu/pack.hpp"
#include "plan/cell_plan.hpp"

namespace specsweep {

namespace {

// Per-thread buffers, sized for the largest cell of a call.
template <class V>
struct ThreadBuffers {
  std::vector<V> arena, hit_step, hit_value, start, final_point;
  std::vector<double> factor, scratch, direction, hit_d, record;
  std::vector<int> tau;

  template <class Plans>
  explicit ThreadBuffers(const Plans& plans) {
    size_t total = 0, params = 0, modes = 0, big = 0, scratch_n = 0, record_n = 0;
    for (const auto& p : plans) {
      const Shape& sh = p.cp->shape;
      record_n =
          std::max<size_t>(record_n, packed_record_width(sh.r, sh.depth, p.rp.delta_matrices));
      total = std::max<size_t>(total, p.layout.total);
      params = std::max<size_t>(params, p.layout.params);
      modes = std::max<size_t>(modes, p.cp->modes);
      big = std::max<size_t>(big, size_t(std::max(p.cp->shape.m, p.cp->shape.n)) * p.cp->shape.r);
      scratch_n = std::max<size_t>(scratch_n, p.init_scratch);
    }
    arena.resize(total);
    hit_step.resize(modes);
    hit_value.resize(modes);
    start.resize(params);
    final_point.resize(params);
    factor.resize(std::max(big, size_t(1)));
    scratch.resize(scratch_n);
    direction.resize(params);
    hit_d.resize(modes);
    record.resize(record_n);
    tau.resize(modes);
  }
};

// Seeds of one pack: each lane's cell plan, work item and seed.
struct LaneSeed {
  int plan = 0;
  const WorkItem* item = nullptr;
  long seed = 0;
};

// One SIMD pack of up to W seeds. They are seeds of one cell, or of cells that differ only in
// optimizer.lr (pack_key): the lanes then share the target, shape and every parameter but the
// learning rate, which follows each lane's own schedule (RunParams::lane_schedules). Each lane
// computes exactly what its seed would compute alone, so results do not depend on the packing.
template <class T>
class PackRun {
 public:
  using V = NativePack<T>;
  static constexpr int W = LaneTraits<V>::width;

  PackRun(const std::vector<CellPlan<T>>& plans, const LaneSeed* lanes, int valid,
          ThreadBuffers<V>& buf, const std::atomic<bool>* cancel)
      : plans_(plans),
        plan_(plans[lanes[0].plan]),
        target_(plan_.target()),
        sh_(plan_.cp->shape),
        buf_(buf),
        cancel_(cancel),
        valid_(valid) {
    // Padding lanes repeat the last seed so they compute finite values; their results are dropped.
    for (int i = 0; i < W; ++i) {
      lanes_[i] = lanes[std::min(i, valid - 1)];
      schedules_[i] = plans[lanes_[i].plan].op.schedule;
      noise_.push_back(plans[lanes_[i].plan].noise_stream(lanes_[i].seed));
      mixed_ |= lanes_[i].plan != lanes_[0].plan;
    }
  }

  void run() {
    initialize();
    TrajectoryOutcome<V> out = outcome_buffers();
    RunParams rp = run_params();
    bool traced = false;
    for (int i = 0; i < W; ++i) traced |= traced_row(i) >= 0;
    if (!traced)
      rp.record_count = 0;  // record-step metrics only where a traced seed will keep them
    std::copy_n(arena() + plan_.layout.F, plan_.layout.params, buf_.start.data());
    run_trajectory(
        sh_, target_, plan_.op, rp, plan_.layout, arena(), out,
        [this](int j, const RecordMetrics<V>& m) { record(j, m); }, [this] { return cancelled(); });
    if (cancelled()) return;
    std::copy_n(arena() + plan_.layout.F, plan_.layout.params, buf_.final_point.data());
    store_outcomes(out);
    if (plan_.cp->config.basin.probes > 0) probe_basin();
  }

 private:
  V* arena() { return buf_.arena.data(); }
  bool cancelled() const { return cancel_ != nullptr && cancel_->load(std::memory_order_relaxed); }
  const CellPlan<T>& plan_of(int i) const { return plans_[lanes_[i].plan]; }
  RunParams run_params() const {
    RunParams rp = plan_.rp;
    if (mixed_) rp.lane_schedules = schedules_;
    rp.lane_noise = noise_.data();
    return rp;
  }
  long outcome_row(int i) const { return lanes_[i].seed - lanes_[i].item->outcomes->first_seed; }
  long traced_row(int i) const {
    const SeedTraces& t = *lanes_[i].item->traces;
    const long s = lanes_[i].seed;
    return i < valid_ && s >= t.first_seed && s < t.first_seed + t.count ? s - t.first_seed : -1;
  }
  TrajectoryOutcome<V> outcome_buffers() {
    TrajectoryOutcome<V> out;
    out.hit_step = buf_.hit_step.data();
    out.hit_value = buf_.hit_value.data();
    return out;
  }

  void initialize() {
    std::fill(buf_.arena.begin(), buf_.arena.end(), V(T(0)));
    for (int k = 0; k < sh_.depth; ++k) {
      V* F = arena() + plan_.layout.F + sh_.offset(k);
      for (int i = 0; i < W; ++i) {
        const CellPlan<T>& plan = plan_of(i);
        init_factor(plan.factors[k], k, sh_.depth, sh_.rows(k), sh_.cols(k),
                    plan.init_stream(lanes_[i].seed, k), plan.basis(), buf_.factor.data(),
                    buf_.scratch.data());
        for (int e = 0; e < sh_.size(k); ++e) set_lane(F[e], i, T(buf_.factor[e]));
        if (const long row = traced_row(i); row >= 0)
          std::copy_n(buf_.factor.data(), sh_.size(k),
                      lanes_[i].item->traces->init_factors[k].data() + row * sh_.size(k));
      }
    }
  }

  void record(int j, const RecordMetrics<V>& m) {
    for (int i = 0; i < W; ++i) {
      const long row = traced_row(i);
      if (row < 0) continue;
      pack_record(m, i, sh_.r, plan_.cp->modes, sh_.depth, plan_.rp.delta_matrices,
                  buf_.record.data());
      unpack_record(buf_.record.data(), row, j, *lanes_[i].item->traces);
    }
  }

  void store_outcomes(const TrajectoryOutcome<V>& out) {
    const int modes = plan_.cp->modes;
    for (int i = 0; i < valid_; ++i) {
      for (int q = 0; q < modes; ++q) {
        buf_.tau[q] = static_cast<int>(lane(out.hit_step[q], i));
        buf_.hit_d[q] = lane(out.hit_value[q], i);
      }
      SeedResult r;
      r.final_loss = lane(out.final_loss, i);
      r.final_grad_norm = lane(out.final_grad_norm, i);
      r.steps_to_tol = static_cast<int>(lane(out.steps_to_tol, i));
      r.diverged = lane(out.diverged, i) != T(0);
      r.init_det_sign = lane(out.init_det_sign, i);
      r.window_loss = lane(out.window_loss, i);
      r.final_sharpness = lane(out.final_sharpness, i);
      r.recovery_error = lane(out.recovery_error, i);
      r.hit_step = buf_.tau.data();
      r.hit_value = buf_.hit_d.data();
      plan_of(i).store(outcome_row(i), r, *lanes_[i].item->outcomes);
      if (const long trow = traced_row(i); trow >= 0) {
        for (int k = 0; k < sh_.depth; ++k) {
          const V* F = buf_.final_point.data() + sh_.offset(k);
          double* dst = lanes_[i].item->traces->final_factors[k].data() + trow * sh_.size(k);
          for (int e = 0; e < sh_.size(k); ++e) dst[e] = lane(F[e], i);
        }
      }
    }
  }

  double lane_distance(const V* a, const V* b, int i) const {
    double d2 = 0;
    for (int e = 0; e < plan_.layout.params; ++e) {
      const double d = double(lane(a[e], i)) - double(lane(b[e], i));
      d2 += d * d;
    }
    return std::sqrt(d2);
  }

  // Basin probe: restart each converged seed from `probes` points on the sphere of radius
  // |F0 - F*| around its final point F*; count restarts that converge (to a global minimum) and
  // that end closer to F* than they started. Directions come from the seed's own basin stream, so
  // the probe is as reproducible as the run.
  void probe_basin() {
    const int converged = static_cast<int>(Status::converged);
    bool any_converged = false;
    for (int i = 0; i < valid_; ++i)
      any_converged |= lanes_[i].item->outcomes->status[outcome_row(i)] == converged;
    if (!any_converged) return;
    const int probes = plan_.cp->config.basin.probes, params = plan_.layout.params;
    double radius[W];
    int converged_count[W] = {}, closer_count[W] = {};
    for (int i = 0; i < W; ++i)
      radius[i] = lane_distance(buf_.start.data(), buf_.final_point.data(), i);
    RunParams rp = run_params();
    rp.record_count = 0;
    rp.sharpness_iterations = 0;  // a restart's only result is where it ends
    V* F = arena() + plan_.layout.F;
    for (int j = 0; j < probes; ++j) {
      std::fill(buf_.arena.begin(), buf_.arena.end(), V(T(0)));
      for (int i = 0; i < W; ++i) {
        const RandomStream stream = plan_of(i).basin_stream(lanes_[i].seed, j);
        double norm2 = 0;
        for (int e = 0; e < params; ++e) {
          buf_.direction[e] = stream.normal(static_cast<std::uint64_t>(e));
          norm2 += buf_.direction[e] * buf_.direction[e];
        }
        const double scale = radius[i] / std::sqrt(norm2);
        for (int e = 0; e < params; ++e)
          set_lane(F[e], i, T(double(lane(buf_.final_point[e], i)) + scale * buf_.direction[e]));
      }
      TrajectoryOutcome<V> probe = outcome_buffers();
      run_trajectory(
          sh_, target_, plan_.op, rp, plan_.layout, arena(), probe,
          [](int, const RecordMetrics<V>&) {}, [this] { return cancelled(); });
      if (cancelled()) return;
      for (int i = 0; i < W; ++i) {
        converged_count[i] +=
            plan_of(i).converged(lane(probe.diverged, i) != T(0), lane(probe.final_loss, i));
        closer_count[i] += lane_distance(F, buf_.final_point.data(), i) < radius[i];
      }
    }
    for (int i = 0; i < valid_; ++i) {
      SeedOutcomes& o = *lanes_[i].item->outcomes;
      const long row = outcome_row(i);
      if (o.status[row] == converged)
        plan_of(i).store_basin(row, converged_count[i], closer_count[i], o);
    }
  }

  const std::vector<CellPlan<T>>& plans_;
  const CellPlan<T>& plan_;  // lane 0's: the target, shape and parameters every lane shares
  const TargetView<T> target_;
  const Shape& sh_;
  ThreadBuffers<V>& buf_;
  const std::atomic<bool>* cancel_;
  LaneSeed lanes_[W];
  Schedule schedules_[W];
  std::vector<RandomStream> noise_;  // each lane's gradient-noise stream
  bool mixed_ = false;
  int valid_;
};

// Cells whose configs agree in everything but optimizer.lr can share packs: their targets, shapes
// and parameters are equal (a target depends on its config only), and the learning rate is a lane
// value. The resolved TOML compares every key, so a key added later cannot be missed.
std::string pack_key(const CellProblem& cp) {
  Config c = cp.config;
  c.optimizer.lr = 0;
  return c.to_toml();
}

// Runs the items of precision T: OpenMP over every pack, so many small cells share the threads, and
// a pack takes seeds of several cells where pack_key allows (a learning-rate sweep of 200 cells x
// 8 seeds fills 16-lane packs).
template <class T>
void run_items(const std::vector<const WorkItem*>& items, int threads,
               const std::atomic<bool>* cancel) {
  using V = NativePack<T>;
  constexpr int W = LaneTraits<V>::width;
  if (items.empty()) return;
  std::vector<CellPlan<T>> plans;
  plans.reserve(items.size());
  std::map<std::string, std::vector<int>> groups;
  std::vector<std::string> group_order;
  for (size_t it = 0; it < items.size(); ++it) {
    plans.emplace_back(*items[it]->problem);
    auto [at, fresh] = groups.try_emplace(pack_key(*items[it]->problem));
    if (fresh) group_order.push_back(at->first);
    at->second.push_back(static_cast<int>(it));
  }
  std::vector<LaneSeed> lanes;
  std::vector<std::pair<long, int>> packs;  // (first lane, lanes)
  for (const std::string& key : group_order) {
    const long group_start = static_cast<long>(lanes.size());
    for (int it : groups[key])
      for (long s = items[it]->first_seed; s < items[it]->first_seed + items[it]->count; ++s)
        lanes.push_back({it, items[it], s});
    for (long at = group_start; at < static_cast<long>(lanes.size()); at += W)
      packs.emplace_back(at,
                         static_cast<int>(std::min<long>(W, static_cast<long>(lanes.size()) - at)));
  }
  const long pack_count = static_cast<long>(packs.size());
  // An exception must not leave an OpenMP region (that is std::terminate): the first one (e.g.
  // std::bad_alloc for a thread's buffers) is kept, the remaining packs are skipped, and it is
  // rethrown to the driver after the region.
  std::exception_ptr failure;
  std::atomic<bool> failed{false};
  auto keep_first_failure = [&] {
#pragma omp critical(specsweep_cpu_failure)
    if (!failure) failure = std::current_exception();
    failed.store(true, std::memory_order_relaxed);
  };
#pragma omp parallel num_threads(threads > 0 ? threads : omp_get_max_threads())
  {
    std::optional<ThreadBuffers<V>> buffers;
    try {
      buffers.emplace(plans);
    } catch (...) {
      keep_first_failure();
    }
#pragma omp for schedule(dynamic, 1)
    for (long p = 0; p < pack_count; ++p) {
      if (failed.load(std::memory_order_relaxed)) continue;
      if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) continue;
      try {
        PackRun<T>(plans, lanes.data() + packs[p].first, packs[p].second, *buffers, cancel).run();
      } catch (...) {
        keep_first_failure();
      }
    }
  }
  if (failure) std::rethrow_exception(failure);
  if (cancel != nullptr && cancel->load()) throw Cancelled();
}

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(const BackendOptions& options) : options_(options) {}
  std::string name() const override { return "cpu"; }
  void run(const std::vector<WorkItem>& items) override {
    std::vector<const WorkItem*> fp32, fp64;
    for (const WorkItem& w : items)
      (w.problem->config.run.precision == Precision::fp64 ? fp64 : fp32).push_back(&w);
    run_items<float>(fp32, options_.threads, options_.cancel);
    run_items<double>(fp64, options_.threads, options_.cancel);
  }
  // Two of the widest packs per thread, so that a thread's last pack rarely leaves another idle.
  long min_call_seeds() const override {
    const int threads = options_.threads > 0 ? options_.threads : omp_get_max_threads();
    return 2L * threads * cpu_pack_width(Precision::fp32);
  }

 private:
  BackendOptions options_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const BackendOptions& options) {
  return std::make_unique<CpuBackend>(options);
}

int cpu_pack_width(Precision precision) {
  return precision == Precision::fp64 ? LaneTraits<NativePack<double>>::width
                                      : LaneTraits<NativePack<float>>::width;
}

}  // namespace specsweep
