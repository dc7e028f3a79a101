#pragma once
// Per-cell statistics of DESIGN section 3, computed from a cell's complete per-seed outcomes and
// traced-seed trajectories (read back from the run file, so they do not depend on the order in
// which work units finished, on sharding or on resume).
//
// Written to /summary (C cells, r modes, T record steps, Q = 5 quantile levels):
//   /summary/quantile_levels     (Q)          0.05 0.25 0.5 0.75 0.95
//   /summary/status_count        (C x 4)      int64, by status code (0 converged ... 3 unconverged)
//   /summary/status_fraction     (C x 4)      count / seeds
//   /summary/status_wilson95     (C x 4 x 2)  Wilson score 95% interval of each fraction
//   /summary/final_loss          (C x Q)      quantiles over all seeds (NaN values excluded)
//   /summary/excess              (C x Q)
//   /summary/steps_to_tol        (C x Q)      censored: a seed that never reached the tolerance
//                                             counts as +inf (the quantile is +inf if it lands
//                                             there)
//   /summary/steps_to_tol_reached (C)         int64, seeds that reached it
//   /summary/hit_step            (C x r x Q)  censored like steps_to_tol; modes beyond
//                                             min(r, rank M) are NaN
//   /summary/hit_count           (C x r)      int64, seeds whose mode hit
//   /summary/uniformity_cv       (C x Q)      over seeds where it is defined
//   /summary/order_kendall       (C x Q)      over seeds where it is defined
//   /summary/defined_count       (C x 2)      int64, seeds with a defined uniformity_cv,
//   order_kendall /summary/loss_band           (C x T x Q)  quantiles over the traced seeds at each
//   record step /summary/sv_band             (C x T x r x Q) /summary/basin_converged     (C x Q),
//   /summary/basin_closer (C x Q): quantiles over converged
//                                seeds of the per-seed probe fractions (NaN without a basin probe),
//   /summary/basin_pooled        (C x 2)      pooled fractions over all probes of the cell
//   /summary/det_sign_count      (C x 2 x 2)  int64, by the sign of det W(0) (+1, -1;
//                                             /outcome/init_det_sign): seeds, converged seeds
//   /summary/det_sign_wilson95   (C x 2 x 2)  Wilson 95% interval of converged / seeds per sign
//   /summary/final_lr_sharpness  (C x Q)      quantiles of eta * lambda_max at the end over the
//   seeds
//                                             where it is defined (record.sharpness_iterations)
//   /summary/recovery_error      (C x Q)      quantiles of ||W - M||_F / ||M||_F at the end
// Quantiles are linear interpolation between order statistics (NumPy's default, "type 7").
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "backend.hpp"

namespace specsweep {

inline constexpr std::array<double, 5> kQuantileLevels = {0.05, 0.25, 0.5, 0.75, 0.95};
using Quantiles = std::array<double, kQuantileLevels.size()>;

struct CellStatistics {
  long seeds = 0;
  std::array<std::int64_t, 4> status_count{};
  std::array<double, 4> status_fraction{};
  std::array<std::array<double, 2>, 4> status_wilson95{};
  Quantiles final_loss{}, excess{}, steps_to_tol{}, uniformity_cv{}, order_kendall{};
  std::int64_t steps_to_tol_reached = 0;
  std::vector<Quantiles> hit_step;      // r
  std::vector<std::int64_t> hit_count;  // r
  std::array<std::int64_t, 2> defined_count{};
  std::vector<Quantiles> loss_band;  // T
  std::vector<Quantiles> sv_band;    // T x r
  Quantiles basin_converged{}, basin_closer{};
  std::array<double, 2> basin_pooled{};
  // Split by the sign of det W(0) (index 0: +1, 1: -1; seeds with NaN or 0 are in neither):
  // {seeds, converged seeds} per sign, and the Wilson interval of converged / seeds.
  std::array<std::array<std::int64_t, 2>, 2> det_sign_count{};
  std::array<std::array<double, 2>, 2> det_sign_wilson95{};
  // NaN unless the run measured it (record.sharpness_iterations).
  Quantiles final_lr_sharpness = {NAN, NAN, NAN, NAN, NAN};
  Quantiles recovery_error = {NAN, NAN, NAN, NAN, NAN};
};

// Linear-interpolation quantiles of the values (NaNs removed; +inf allowed and sorts last).
// All NaN when no value remains.
Quantiles quantiles(std::vector<double> values);

// Wilson score interval (95%, z = 1.959964) of a binomial proportion successes / trials.
std::array<double, 2> wilson95(std::int64_t successes, std::int64_t trials);

// Statistics of one cell: outcomes of all its seeds, traces of its traced seeds; modes is
// min(r, rank M).
CellStatistics cell_statistics(const SeedOutcomes& outcomes, const SeedTraces& traces, int modes);

}  // namespace specsweep
