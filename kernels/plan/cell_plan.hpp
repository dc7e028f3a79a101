#pragma once
// What every backend derives from a CellProblem before running its seeds (the target and initial
// state in the working precision T, the engine parameters and layout), and how the per-seed
// results a backend measured become rows of SeedOutcomes and SeedTraces. Host code, shared by the
// CPU and CUDA backends so that both report exactly the same quantities.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "backend.hpp"
#include "core/init.hpp"
#include "core/metrics.hpp"
#include "core/trajectory.hpp"

namespace specsweep {

// One seed's measurements, in double (a lane of TrajectoryOutcome).
struct SeedResult {
  double final_loss = 0, final_grad_norm = 0;
  int steps_to_tol = -1;
  bool diverged = false;
  double init_det_sign = 0;           // TrajectoryOutcome::init_det_sign
  double window_loss = 0;             // TrajectoryOutcome::window_loss
  double final_sharpness = 0;         // TrajectoryOutcome::final_sharpness
  double recovery_error = 0;          // TrajectoryOutcome::recovery_error
  const int* hit_step = nullptr;      // [modes], -1 never
  const double* hit_value = nullptr;  // [modes], d_i at the hitting step
};

template <class T>
struct CellPlan {
  const CellProblem* cp = nullptr;
  // The target with the mode bases made contiguous (m x modes, n x modes).
  std::vector<T> M, U, Vb, s;
  std::vector<T> row_weight, col_weight;  // empty unless the shape is weighted (kind = "icl")
  std::vector<T> sensing;                 // p x m x n, kind = "sensing" only
  // The loss of W = 0 (1/2 ||M||^2, weighted as the loss is) of M as rounded to T: the problem
  // this precision actually solves, so the relative excess of W = 0 is exactly 1 in fp32 too.
  double norm2_half = 0;
  // Initialization: per-factor kind and scale, and r basis columns for spectral init (the
  // target's first ones; zero beyond them when r > min(m, n)).
  std::vector<FactorInit> factors;
  std::vector<double> basis_U, basis_V;
  int init_scratch = 0;  // doubles init_factor needs for the largest factor
  OptimizerParams op;
  RunParams rp;
  EngineLayout layout;

  explicit CellPlan(const CellProblem& problem) : cp(&problem) {
    const Target& tg = problem.target;
    const Shape& sh = problem.shape;
    const int q = problem.modes, b = tg.basis_cols;
    M.assign(tg.M.begin(), tg.M.end());
    row_weight.assign(tg.row_weight.begin(), tg.row_weight.end());
    col_weight.assign(tg.col_weight.begin(), tg.col_weight.end());
    sensing.assign(tg.sensing.begin(), tg.sensing.end());
    if (!sensing.empty()) {  // 1/2 sum_i <A_i, M>^2 of the rounded A_i and M
      const std::size_t mn = M.size();
      for (int i = 0; i < tg.measurements; ++i) {
        double y = 0;
        for (std::size_t e = 0; e < mn; ++e) y += double(sensing[i * mn + e]) * double(M[e]);
        norm2_half += 0.5 * y * y;
      }
    } else if (row_weight.empty()) {
      for (T v : M) norm2_half += 0.5 * double(v) * double(v);
    } else {  // 1/2 <M, A M B>
      const int m = tg.m, n = tg.n;
      auto at = [](const std::vector<T>& X, int cols, int i, int j) {
        return double(X[static_cast<size_t>(i) * cols + j]);
      };
      std::vector<double> mb(static_cast<size_t>(m) * n, 0.0);
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j)
          for (int k = 0; k < n; ++k) mb[i * n + j] += at(M, n, i, k) * at(col_weight, n, k, j);
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j)
          for (int k = 0; k < m; ++k)
            norm2_half += 0.5 * at(M, n, i, j) * at(row_weight, m, i, k) * mb[k * n + j];
    }
    for (int i = 0; i < tg.m; ++i)
      for (int j = 0; j < q; ++j) U.push_back(T(tg.U[i * b + j]));
    for (int i = 0; i < tg.n; ++i)
      for (int j = 0; j < q; ++j) Vb.push_back(T(tg.Vb[i * b + j]));
    for (int j = 0; j < q; ++j) s.push_back(T(tg.spectrum[j]));

    const InitConfig& ic = problem.config.init;
    for (int k = 0; k < sh.depth; ++k) {
      double scale = ic.scale;
      if (ic.scale_mode == ScaleMode::fan)
        scale /= std::sqrt(double(std::max(sh.rows(k), sh.cols(k))));
      factors.push_back(FactorInit{ic.factors[k], scale});
      init_scratch = std::max(init_scratch, init_factor_workspace(sh.rows(k), sh.cols(k)));
    }
    for (int i = 0; i < tg.m; ++i)
      for (int j = 0; j < sh.r; ++j) basis_U.push_back(j < b ? tg.U[i * b + j] : 0.0);
    for (int i = 0; i < tg.n; ++i)
      for (int j = 0; j < sh.r; ++j) basis_V.push_back(j < b ? tg.Vb[i * b + j] : 0.0);

    op = problem.config.optimizer_params();
    rp.steps = problem.config.run.steps;
    rp.l2 = problem.config.problem.l2;
    rp.optimum = problem.optimum;
    rp.hit_tolerance = problem.config.record.hit_tolerance;
    rp.loss_tolerance = problem.config.record.loss_tolerance;
    rp.blowup = problem.config.run.blowup;
    rp.record_steps = problem.record_steps.data();
    rp.record_count = static_cast<int>(problem.record_steps.size());
    const RecordConfig& rec = problem.config.record;
    rp.blocks = BlockTolerance{rec.block_rtol, rec.block_atol, rec.block_atol_inner};
    rp.delta_matrices = problem.config.record.delta_matrices;
    rp.loss_window = problem.config.record.loss_window;
    rp.sharpness_iterations = problem.config.record.sharpness_iterations;
    rp.orth_error = problem.config.record.orth_error;
    layout = EngineLayout(sh, op, q, rp.sharpness_iterations);
  }

  // The target over host arrays; a device backend passes its device copies of them.
  TargetView<T> target() const {
    return target_over(M.data(), U.data(), Vb.data(), s.data(), row_weight.data(),
                       col_weight.data(), sensing.data());
  }
  TargetView<T> target_over(const T* M_at, const T* U_at, const T* Vb_at, const T* s_at,
                            const T* row_weight_at, const T* col_weight_at,
                            const T* sensing_at) const {
    const bool weighted = !row_weight.empty(), sensed = !sensing.empty();
    return TargetView<T>{M_at,
                         U_at,
                         Vb_at,
                         s_at,
                         cp->modes,
                         T(norm2_half),
                         weighted ? row_weight_at : nullptr,
                         weighted ? col_weight_at : nullptr,
                         sensed ? sensing_at : nullptr,
                         sensed ? cp->target.measurements : 0};
  }

  // The init stream of factor k of one seed.
  RandomStream init_stream(long seed, int k) const {
    return RandomStream(cp->config.run.master_seed, cp->cell, static_cast<std::uint32_t>(seed),
                        Purpose::init, static_cast<std::uint32_t>(k));
  }
  // The gradient-noise stream of one seed (its substreams are the steps).
  RandomStream noise_stream(long seed) const {
    return RandomStream(cp->config.run.master_seed, cp->cell, static_cast<std::uint32_t>(seed),
                        Purpose::gradient_noise);
  }
  // The basin-probe stream of restart j of one seed.
  RandomStream basin_stream(long seed, int j) const {
    return RandomStream(cp->config.run.master_seed, cp->cell, static_cast<std::uint32_t>(seed),
                        Purpose::basin, static_cast<std::uint32_t>(j));
  }
  SpectralBasis basis() const { return SpectralBasis{basis_U.data(), basis_V.data()}; }

  double excess(double loss) const { return (loss - cp->optimum) / norm2_half; }
  // Whether a restart of the basin probe converged (the "converged" status of classify()).
  bool converged(bool diverged, double loss) const {
    return reached_tolerance(diverged, loss, rp, norm2_half);
  }

  // Fills outcome row `row` from one seed's measurements.
  void store(long row, const SeedResult& r, SeedOutcomes& o) const {
    const int modes = cp->modes;
    const double excess_value = excess(r.final_loss);
    o.final_loss[row] = r.final_loss;
    o.excess[row] = excess_value;
    o.final_grad_norm[row] = r.final_grad_norm;
    o.steps_to_tol[row] = r.steps_to_tol;
    o.init_det_sign[row] = r.init_det_sign;
    o.window_loss[row] = r.window_loss;
    o.final_sharpness[row] = r.final_sharpness;
    o.recovery_error[row] = r.recovery_error;
    // The last step's rate, so that eta lambda_max < 2 reads as GD's stability edge.
    o.final_lr_sharpness[row] =
        cp->config.optimizer.schedule.rate(std::max(cp->config.run.steps - 1, 0)) *
        r.final_sharpness;
    for (int q = 0; q < modes; ++q) o.hit_step[row * cp->shape.r + q] = r.hit_step[q];
    o.uniformity_cv[row] = uniformity_cv(modes, r.hit_step, r.hit_value);
    o.order_kendall[row] = kendall_tau_b(modes, r.hit_step, cp->target.spectrum.data());
    const double relative_grad = r.final_grad_norm / std::sqrt(2.0 * norm2_half);
    o.status[row] =
        static_cast<std::int8_t>(classify(r.diverged, excess_value, relative_grad, *cp));
  }

  // Basin probe results of a converged seed: counts out of config.basin.probes restarts.
  void store_basin(long row, int converged_count, int closer_count, SeedOutcomes& o) const {
    const int probes = cp->config.basin.probes;
    o.basin_converged[row] = double(converged_count) / probes;
    o.basin_closer[row] = double(closer_count) / probes;
  }
};

// Unpacks one record step written by pack_record (core/metrics.hpp) into row `row`, step `step`
// of the traces.
template <class S>
void unpack_record(const S* packed, long row, int step, SeedTraces& t) {
  int at = 0;
  for_each_trace_array(t, [&](const char*, std::vector<double>& values, int per_step) {
    double* dst = values.data() + (row * t.steps + step) * per_step;
    for (int q = 0; q < per_step; ++q) dst[q] = double(packed[at + q]);
    at += per_step;
  });
}

}  // namespace specsweep
