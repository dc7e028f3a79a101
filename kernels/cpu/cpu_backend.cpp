#include "cpu/cpu_backend.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/trajectory.hpp"
#include "cpu/pack.hpp"

namespace specsweep {

namespace {

// The target in the working precision, with the mode bases made contiguous (m x modes, n x modes).
template <class T>
struct TargetData {
  std::vector<T> M, U, Vb, s;
  TargetView<T> view;
  // 1/2 ||M||^2 of M as rounded to T: the problem this precision actually solves, so the relative
  // excess of W = 0 is exactly 1 in fp32 too.
  double norm2_half = 0;

  explicit TargetData(const CellProblem& cp) {
    const Target& tg = cp.target;
    const int q = cp.modes, b = tg.basis_cols;
    M.assign(tg.M.begin(), tg.M.end());
    for (T v : M) norm2_half += 0.5 * double(v) * double(v);
    for (int i = 0; i < tg.m; ++i)
      for (int j = 0; j < q; ++j) U.push_back(T(tg.U[i * b + j]));
    for (int i = 0; i < tg.n; ++i)
      for (int j = 0; j < q; ++j) Vb.push_back(T(tg.Vb[i * b + j]));
    for (int j = 0; j < q; ++j) s.push_back(T(tg.spectrum[j]));
    view = TargetView<T>{M.data(), U.data(), Vb.data(), s.data(), q, T(norm2_half)};
  }
};

// Everything about initialization that is the same for all seeds of a cell.
struct InitPlan {
  std::vector<FactorInit> factors;
  std::vector<double> U, Vb;  // first r basis columns, for spectral init
  int scratch = 0;

  explicit InitPlan(const CellProblem& cp) {
    const Shape& sh = cp.shape;
    const InitConfig& ic = cp.config.init;
    for (int k = 0; k < sh.depth; ++k) {
      double scale = ic.scale;
      if (ic.scale_mode == ScaleMode::fan) scale /= std::sqrt(double(std::max(sh.rows(k), sh.cols(k))));
      factors.push_back(FactorInit{ic.factors[k], scale});
      scratch = std::max(scratch, init_factor_workspace(sh.rows(k), sh.cols(k)));
    }
    const Target& tg = cp.target;
    const int b = tg.basis_cols, r = sh.r;
    for (int i = 0; i < tg.m; ++i)
      for (int j = 0; j < r; ++j) U.push_back(tg.U[i * b + j]);
    for (int i = 0; i < tg.n; ++i)
      for (int j = 0; j < r; ++j) Vb.push_back(tg.Vb[i * b + j]);
  }

  // Factor k of one seed, in double.
  void factor(const CellProblem& cp, long seed, int k, double* out, double* scratch_buf) const {
    const Shape& sh = cp.shape;
    const RandomStream stream(cp.config.run.master_seed, cp.cell, static_cast<std::uint32_t>(seed), Purpose::init,
                              static_cast<std::uint32_t>(k));
    init_factor(factors[k], k, sh.depth, sh.rows(k), sh.cols(k), stream, SpectralBasis{U.data(), Vb.data()}, out,
                scratch_buf);
  }
};

template <class T>
void run_precision(const CellProblem& cp, long first_seed, long count, SeedOutcomes& outcomes, SeedTraces& traces,
                   int threads) {
  using V = NativePack<T>;
  constexpr int W = LaneTraits<V>::width;
  const Shape& sh = cp.shape;
  const TargetData<T> target(cp);
  const InitPlan init(cp);
  const OptimizerParams op = cp.config.optimizer_params();
  const int modes = cp.modes, T_rec = static_cast<int>(cp.record_steps.size());
  RunParams rp;
  rp.steps = cp.config.run.steps;
  rp.l2 = cp.config.problem.l2;
  rp.optimum = cp.optimum;
  rp.hit_tolerance = cp.config.record.hit_tolerance;
  rp.loss_tolerance = cp.config.record.loss_tolerance;
  rp.blowup = cp.config.run.blowup;
  rp.record_steps = cp.record_steps.data();
  rp.record_count = T_rec;
  const EngineLayout lay(sh, op, modes);
  const long packs = (count + W - 1) / W;
  const double norm_m = std::sqrt(2.0 * target.norm2_half);

#pragma omp parallel num_threads(threads > 0 ? threads : omp_get_max_threads())
  {
    std::vector<V> arena(lay.total);
    std::vector<V> hit_step(modes), hit_value(modes);
    std::vector<double> factor(std::max(sh.m, sh.n) * sh.r), scratch(init.scratch);
    std::vector<int> tau(modes);
    std::vector<double> dhit(modes);

#pragma omp for schedule(dynamic, 1)
    for (long p = 0; p < packs; ++p) {
      const long base = first_seed + p * W;
      const int valid = static_cast<int>(std::min<long>(W, first_seed + count - base));
      // Padding lanes repeat the last seed so they compute finite values; their results are dropped.
      auto seed_of = [&](int lane_index) { return base + std::min(lane_index, valid - 1); };
      auto traced_row = [&](int lane_index) -> long {
        const long s = base + lane_index;
        return lane_index < valid && s >= traces.first_seed && s < traces.first_seed + traces.count
                   ? s - traces.first_seed
                   : -1;
      };

      std::fill(arena.begin(), arena.end(), V(T(0)));
      for (int k = 0; k < sh.depth; ++k) {
        V* F = arena.data() + lay.F + sh.offset(k);
        for (int i = 0; i < W; ++i) {
          init.factor(cp, seed_of(i), k, factor.data(), scratch.data());
          for (int e = 0; e < sh.size(k); ++e) set_lane(F[e], i, T(factor[e]));
          if (const long row = traced_row(i); row >= 0)
            std::copy_n(factor.data(), sh.size(k), traces.init_factors[k].data() + row * sh.size(k));
        }
      }

      auto on_record = [&](int j, const RecordMetrics<V>& m) {
        for (int i = 0; i < W; ++i) {
          const long row = traced_row(i);
          if (row < 0) continue;
          const long at = row * T_rec + j;
          traces.loss[at] = lane(m.loss, i);
          traces.alignment[at] = lane(m.alignment, i);
          traces.effective_rank[at] = lane(m.effective_rank, i);
          for (int q = 0; q < sh.r; ++q) traces.sv[at * sh.r + q] = lane(m.sv[q], i);
          for (int q = 0; q < modes; ++q) traces.core_diag[at * sh.r + q] = lane(m.core_diag[q], i);
          for (int k = 0; k < sh.depth; ++k) traces.factor_norm[at * sh.depth + k] = lane(m.factor_norm[k], i);
          if (sh.depth != 2) continue;
          traces.delta1_norm[at] = lane(m.delta1_norm, i);
          traces.delta2_norm[at] = lane(m.delta2_norm, i);
          for (int q = 0; q < sh.r * sh.r; ++q) {
            traces.delta1[at * sh.r * sh.r + q] = lane(m.delta1[q], i);
            traces.delta2[at * sh.r * sh.r + q] = lane(m.delta2[q], i);
          }
        }
      };

      // Record-step metrics are only computed for packs that hold a traced seed.
      RunParams pack_rp = rp;
      bool traced = false;
      for (int i = 0; i < W; ++i) traced |= traced_row(i) >= 0;
      if (!traced) pack_rp.record_count = 0;
      TrajectoryOutcome<V> out;
      out.hit_step = hit_step.data();
      out.hit_value = hit_value.data();
      run_trajectory(sh, target.view, op, pack_rp, lay, arena.data(), out, on_record);

      for (int i = 0; i < valid; ++i) {
        const long row = base + i - outcomes.first_seed;
        const double loss = lane(out.final_loss, i);
        const double excess = (loss - cp.optimum) / target.norm2_half;
        const double grad = lane(out.final_grad_norm, i);
        outcomes.final_loss[row] = loss;
        outcomes.excess[row] = excess;
        outcomes.final_grad_norm[row] = grad;
        outcomes.steps_to_tol[row] = static_cast<std::int32_t>(lane(out.steps_to_tol, i));
        for (int q = 0; q < modes; ++q) {
          tau[q] = static_cast<int>(lane(hit_step[q], i));
          dhit[q] = lane(hit_value[q], i);
          outcomes.hit_step[row * sh.r + q] = tau[q];
        }
        outcomes.uniformity_cv[row] = uniformity_cv(modes, tau.data(), dhit.data());
        outcomes.order_kendall[row] = kendall_tau_b(modes, tau.data(), cp.target.spectrum.data());
        outcomes.status[row] =
            static_cast<std::int8_t>(classify(lane(out.diverged, i) != T(0), excess, grad / norm_m, cp));
        if (const long trow = traced_row(i); trow >= 0) {
          for (int k = 0; k < sh.depth; ++k) {
            const V* F = arena.data() + lay.F + sh.offset(k);
            double* dst = traces.final_factors[k].data() + trow * sh.size(k);
            for (int e = 0; e < sh.size(k); ++e) dst[e] = lane(F[e], i);
          }
        }
      }
    }
  }
}

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(const BackendOptions& options) : threads_(options.threads) {}
  std::string name() const override { return "cpu"; }
  void run(const CellProblem& cp, long first_seed, long count, SeedOutcomes& outcomes,
           SeedTraces& traces) override {
    if (cp.config.run.precision == Precision::fp64) run_precision<double>(cp, first_seed, count, outcomes, traces, threads_);
    else run_precision<float>(cp, first_seed, count, outcomes, traces, threads_);
  }

 private:
  int threads_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const BackendOptions& options) {
  return std::make_unique<CpuBackend>(options);
}

int cpu_pack_width(Precision precision) {
  return precision == Precision::fp64 ? LaneTraits<NativePack<double>>::width : LaneTraits<NativePack<float>>::width;
}

}  // namespace specsweep
