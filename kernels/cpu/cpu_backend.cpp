#include "cpu/cpu_backend.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/trajectory.hpp"
#include "cpu/pack.hpp"

namespace specsweep {

namespace {

// Everything about one cell that is the same for all its seeds, in the working precision T.
template <class T>
struct CellPlan {
  const CellProblem* cp = nullptr;
  // The target with the mode bases made contiguous (m x modes, n x modes).
  std::vector<T> M, U, Vb, s;
  TargetView<T> target;
  // 1/2 ||M||^2 of M as rounded to T: the problem this precision actually solves, so the relative
  // excess of W = 0 is exactly 1 in fp32 too.
  double norm2_half = 0;
  // Initialization: per-factor kind and scale, and the first r basis columns for spectral init.
  std::vector<FactorInit> factors;
  std::vector<double> basis_U, basis_V;
  int init_scratch = 0;
  OptimizerParams op;
  RunParams rp;
  EngineLayout layout;

  explicit CellPlan(const CellProblem& problem) : cp(&problem) {
    const Target& tg = problem.target;
    const Shape& sh = problem.shape;
    const int q = problem.modes, b = tg.basis_cols;
    M.assign(tg.M.begin(), tg.M.end());
    for (T v : M) norm2_half += 0.5 * double(v) * double(v);
    for (int i = 0; i < tg.m; ++i)
      for (int j = 0; j < q; ++j) U.push_back(T(tg.U[i * b + j]));
    for (int i = 0; i < tg.n; ++i)
      for (int j = 0; j < q; ++j) Vb.push_back(T(tg.Vb[i * b + j]));
    for (int j = 0; j < q; ++j) s.push_back(T(tg.spectrum[j]));
    target = TargetView<T>{M.data(), U.data(), Vb.data(), s.data(), q, T(norm2_half)};

    const InitConfig& ic = problem.config.init;
    for (int k = 0; k < sh.depth; ++k) {
      double scale = ic.scale;
      if (ic.scale_mode == ScaleMode::fan) scale /= std::sqrt(double(std::max(sh.rows(k), sh.cols(k))));
      factors.push_back(FactorInit{ic.factors[k], scale});
      init_scratch = std::max(init_scratch, init_factor_workspace(sh.rows(k), sh.cols(k)));
    }
    for (int i = 0; i < tg.m; ++i)
      for (int j = 0; j < sh.r; ++j) basis_U.push_back(tg.U[i * b + j]);
    for (int i = 0; i < tg.n; ++i)
      for (int j = 0; j < sh.r; ++j) basis_V.push_back(tg.Vb[i * b + j]);

    op = problem.config.optimizer_params();
    rp.steps = problem.config.run.steps;
    rp.l2 = problem.config.problem.l2;
    rp.optimum = problem.optimum;
    rp.hit_tolerance = problem.config.record.hit_tolerance;
    rp.loss_tolerance = problem.config.record.loss_tolerance;
    rp.blowup = problem.config.run.blowup;
    rp.record_steps = problem.record_steps.data();
    rp.record_count = static_cast<int>(problem.record_steps.size());
    layout = EngineLayout(sh, op, q);
  }

  // Factor k of one seed, in double.
  void init_factor_of(long seed, int k, double* out, double* scratch) const {
    const Shape& sh = cp->shape;
    const RandomStream stream(cp->config.run.master_seed, cp->cell, static_cast<std::uint32_t>(seed), Purpose::init,
                              static_cast<std::uint32_t>(k));
    init_factor(factors[k], k, sh.depth, sh.rows(k), sh.cols(k), stream, SpectralBasis{basis_U.data(), basis_V.data()},
                out, scratch);
  }

  double excess(double loss) const { return (loss - cp->optimum) / norm2_half; }
};

// Per-thread buffers, sized for the largest cell of a call.
template <class V>
struct ThreadBuffers {
  std::vector<V> arena, hit_step, hit_value, start, final_point;
  std::vector<double> factor, scratch, direction, hit_d;
  std::vector<int> tau;

  template <class Plans>
  explicit ThreadBuffers(const Plans& plans) {
    size_t total = 0, params = 0, modes = 0, big = 0, scratch_n = 0;
    for (const auto& p : plans) {
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
    tau.resize(modes);
  }
};

// One SIMD pack of up to W consecutive seeds of one work item.
template <class T>
class PackRun {
 public:
  using V = NativePack<T>;
  static constexpr int W = LaneTraits<V>::width;

  PackRun(const CellPlan<T>& plan, const WorkItem& item, long pack, ThreadBuffers<V>& buf)
      : plan_(plan), sh_(plan.cp->shape), item_(item), buf_(buf), base_(item.first_seed + pack * W),
        valid_(static_cast<int>(std::min<long>(W, item.first_seed + item.count - base_))) {}

  void run() {
    initialize();
    TrajectoryOutcome<V> out = outcome_buffers();
    RunParams rp = plan_.rp;
    bool traced = false;
    for (int i = 0; i < W; ++i) traced |= traced_row(i) >= 0;
    if (!traced) rp.record_count = 0;  // record-step metrics only where a traced seed will keep them
    std::copy_n(arena() + plan_.layout.F, plan_.layout.params, buf_.start.data());
    run_trajectory(sh_, plan_.target, plan_.op, rp, plan_.layout, arena(), out,
                   [this](int j, const RecordMetrics<V>& m) { record(j, m); });
    std::copy_n(arena() + plan_.layout.F, plan_.layout.params, buf_.final_point.data());
    store_outcomes(out);
    if (plan_.cp->config.basin.probes > 0) probe_basin();
  }

 private:
  V* arena() { return buf_.arena.data(); }
  // Padding lanes repeat the last seed so they compute finite values; their results are dropped.
  long seed_of(int i) const { return base_ + std::min(i, valid_ - 1); }
  long outcome_row(int i) const { return base_ + i - item_.outcomes->first_seed; }
  long traced_row(int i) const {
    const SeedTraces& t = *item_.traces;
    const long s = base_ + i;
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
        plan_.init_factor_of(seed_of(i), k, buf_.factor.data(), buf_.scratch.data());
        for (int e = 0; e < sh_.size(k); ++e) set_lane(F[e], i, T(buf_.factor[e]));
        if (const long row = traced_row(i); row >= 0)
          std::copy_n(buf_.factor.data(), sh_.size(k), item_.traces->init_factors[k].data() + row * sh_.size(k));
      }
    }
  }

  void record(int j, const RecordMetrics<V>& m) {
    SeedTraces& t = *item_.traces;
    const int r = sh_.r, T_rec = t.steps;
    for (int i = 0; i < W; ++i) {
      const long row = traced_row(i);
      if (row < 0) continue;
      const long at = row * T_rec + j;
      t.loss[at] = lane(m.loss, i);
      t.alignment[at] = lane(m.alignment, i);
      t.effective_rank[at] = lane(m.effective_rank, i);
      for (int q = 0; q < r; ++q) t.sv[at * r + q] = lane(m.sv[q], i);
      for (int q = 0; q < plan_.cp->modes; ++q) t.core_diag[at * r + q] = lane(m.core_diag[q], i);
      for (int k = 0; k < sh_.depth; ++k) t.factor_norm[at * sh_.depth + k] = lane(m.factor_norm[k], i);
      if (sh_.depth != 2) continue;
      t.delta1_norm[at] = lane(m.delta1_norm, i);
      t.delta2_norm[at] = lane(m.delta2_norm, i);
      for (int q = 0; q < r * r; ++q) {
        t.delta1[at * r * r + q] = lane(m.delta1[q], i);
        t.delta2[at * r * r + q] = lane(m.delta2[q], i);
      }
    }
  }

  void store_outcomes(const TrajectoryOutcome<V>& out) {
    SeedOutcomes& o = *item_.outcomes;
    const CellProblem& cp = *plan_.cp;
    const int modes = cp.modes;
    const double norm_m = std::sqrt(2.0 * plan_.norm2_half);
    for (int i = 0; i < valid_; ++i) {
      const long row = outcome_row(i);
      const double loss = lane(out.final_loss, i), excess = plan_.excess(loss);
      const double grad = lane(out.final_grad_norm, i);
      o.final_loss[row] = loss;
      o.excess[row] = excess;
      o.final_grad_norm[row] = grad;
      o.steps_to_tol[row] = static_cast<std::int32_t>(lane(out.steps_to_tol, i));
      for (int q = 0; q < modes; ++q) {
        buf_.tau[q] = static_cast<int>(lane(out.hit_step[q], i));
        buf_.hit_d[q] = lane(out.hit_value[q], i);
        o.hit_step[row * sh_.r + q] = buf_.tau[q];
      }
      o.uniformity_cv[row] = uniformity_cv(modes, buf_.tau.data(), buf_.hit_d.data());
      o.order_kendall[row] = kendall_tau_b(modes, buf_.tau.data(), cp.target.spectrum.data());
      o.status[row] = static_cast<std::int8_t>(classify(lane(out.diverged, i) != T(0), excess, grad / norm_m, cp));
      if (const long trow = traced_row(i); trow >= 0) {
        for (int k = 0; k < sh_.depth; ++k) {
          const V* F = buf_.final_point.data() + sh_.offset(k);
          double* dst = item_.traces->final_factors[k].data() + trow * sh_.size(k);
          for (int e = 0; e < sh_.size(k); ++e) dst[e] = lane(F[e], i);
        }
      }
    }
  }

  double lane_distance(const V* a, const V* b, int i) const {
    double d2 = 0;
    for (int e = 0; e < plan_.layout.params; ++e) d2 += std::pow(double(lane(a[e], i)) - double(lane(b[e], i)), 2);
    return std::sqrt(d2);
  }

  // Basin probe: restart each converged seed from `probes` points on the sphere of radius
  // |F0 - F*| around its final point F*; count restarts that converge (to a global minimum) and
  // that end closer to F* than they started. Directions come from the seed's own basin stream, so
  // the probe is as reproducible as the run.
  void probe_basin() {
    SeedOutcomes& o = *item_.outcomes;
    const int converged = static_cast<int>(Status::converged);
    bool any_converged = false;
    for (int i = 0; i < valid_; ++i) any_converged |= o.status[outcome_row(i)] == converged;
    if (!any_converged) return;
    const CellProblem& cp = *plan_.cp;
    const int probes = cp.config.basin.probes, params = plan_.layout.params;
    double radius[W];
    int converged_count[W] = {}, closer_count[W] = {};
    for (int i = 0; i < W; ++i) radius[i] = lane_distance(buf_.start.data(), buf_.final_point.data(), i);
    RunParams rp = plan_.rp;
    rp.record_count = 0;
    V* F = arena() + plan_.layout.F;
    for (int j = 0; j < probes; ++j) {
      std::fill(buf_.arena.begin(), buf_.arena.end(), V(T(0)));
      for (int i = 0; i < W; ++i) {
        const RandomStream stream(cp.config.run.master_seed, cp.cell, static_cast<std::uint32_t>(seed_of(i)),
                                  Purpose::basin, static_cast<std::uint32_t>(j));
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
      run_trajectory(sh_, plan_.target, plan_.op, rp, plan_.layout, arena(), probe, [](int, const RecordMetrics<V>&) {});
      for (int i = 0; i < W; ++i) {
        converged_count[i] += lane(probe.diverged, i) == T(0) &&
                              plan_.excess(lane(probe.final_loss, i)) <= cp.config.record.loss_tolerance;
        closer_count[i] += lane_distance(F, buf_.final_point.data(), i) < radius[i];
      }
    }
    for (int i = 0; i < valid_; ++i) {
      const long row = outcome_row(i);
      if (o.status[row] != converged) continue;
      o.basin_converged[row] = double(converged_count[i]) / probes;
      o.basin_closer[row] = double(closer_count[i]) / probes;
    }
  }

  const CellPlan<T>& plan_;
  const Shape& sh_;
  const WorkItem& item_;
  ThreadBuffers<V>& buf_;
  long base_;
  int valid_;
};

// Runs the items of precision T: OpenMP over every pack of every item, so many small cells share
// the threads.
template <class T>
void run_items(const std::vector<const WorkItem*>& items, int threads, const std::atomic<bool>* cancel) {
  using V = NativePack<T>;
  constexpr int W = LaneTraits<V>::width;
  if (items.empty()) return;
  std::vector<CellPlan<T>> plans;
  plans.reserve(items.size());
  std::vector<std::pair<int, long>> packs;  // (item, pack within item)
  for (size_t it = 0; it < items.size(); ++it) {
    plans.emplace_back(*items[it]->problem);
    for (long p = 0; p < (items[it]->count + W - 1) / W; ++p) packs.emplace_back(static_cast<int>(it), p);
  }
  const long pack_count = static_cast<long>(packs.size());
#pragma omp parallel num_threads(threads > 0 ? threads : omp_get_max_threads())
  {
    ThreadBuffers<V> buffers(plans);
#pragma omp for schedule(dynamic, 1)
    for (long p = 0; p < pack_count; ++p) {
      if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) continue;
      const auto [it, pack] = packs[p];
      PackRun<T>(plans[it], *items[it], pack, buffers).run();
    }
  }
  if (cancel != nullptr && cancel->load()) throw Cancelled();
}

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(const BackendOptions& options) : options_(options) {}
  std::string name() const override { return "cpu"; }
  void run(const std::vector<WorkItem>& items) override {
    std::vector<const WorkItem*> fp32, fp64;
    for (const WorkItem& w : items) (w.problem->config.run.precision == Precision::fp64 ? fp64 : fp32).push_back(&w);
    run_items<float>(fp32, options_.threads, options_.cancel);
    run_items<double>(fp64, options_.threads, options_.cancel);
  }

 private:
  BackendOptions options_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const BackendOptions& options) {
  return std::make_unique<CpuBackend>(options);
}

int cpu_pack_width(Precision precision) {
  return precision == Precision::fp64 ? LaneTraits<NativePack<double>>::width : LaneTraits<NativePack<float>>::width;
}

}  // namespace specsweep
