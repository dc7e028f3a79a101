// Allocation of the per-seed result buffers a backend fills (host/backend.hpp). Everything starts
// as "nothing happened": status unconverged, floating values NaN, step counts -1, so a backend only
// writes what it measured.
#include <cstddef>
#include <limits>

#include "backend.hpp"

namespace specsweep {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::size_t to_size(long v) { return v > 0 ? static_cast<std::size_t>(v) : 0; }

}  // namespace

void SeedOutcomes::resize(long first, long n, int rank) {
  first_seed = first;
  count = n;
  r = rank;
  const std::size_t c = to_size(n);
  status.assign(c, static_cast<std::int8_t>(Status::unconverged));
  final_loss.assign(c, kNaN);
  excess.assign(c, kNaN);
  final_grad_norm.assign(c, kNaN);
  uniformity_cv.assign(c, kNaN);
  order_kendall.assign(c, kNaN);
  basin_converged.assign(c, kNaN);
  basin_closer.assign(c, kNaN);
  steps_to_tol.assign(c, -1);
  hit_step.assign(c * to_size(rank), -1);
}

void SeedTraces::resize(long first, long n, const CellProblem& cp) {
  first_seed = first;
  count = n;
  steps = static_cast<int>(cp.record_steps.size());
  r = cp.shape.r;
  depth = cp.shape.depth;
  const std::size_t c = to_size(n), t = to_size(steps), rr = to_size(r);
  loss.assign(c * t, kNaN);
  alignment.assign(c * t, kNaN);
  effective_rank.assign(c * t, kNaN);
  delta1_norm.assign(c * t, kNaN);
  delta2_norm.assign(c * t, kNaN);
  sv.assign(c * t * rr, kNaN);
  core_diag.assign(c * t * rr, kNaN);
  factor_norm.assign(c * t * to_size(depth), kNaN);
  delta1.assign(c * t * rr * rr, kNaN);
  delta2.assign(c * t * rr * rr, kNaN);
  init_factors.resize(to_size(depth));
  final_factors.resize(to_size(depth));
  for (int k = 0; k < depth; ++k) {
    const std::size_t size = c * to_size(cp.shape.rows(k)) * to_size(cp.shape.cols(k));
    init_factors[static_cast<std::size_t>(k)].assign(size, kNaN);
    final_factors[static_cast<std::size_t>(k)].assign(size, kNaN);
  }
}

}  // namespace specsweep
