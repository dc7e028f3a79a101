// Allocation of the per-seed result buffers a backend fills (host/backend.hpp). Everything starts
// as "nothing happened": status unconverged, floating values NaN, step counts -1, so a backend only
// writes what it measured.
#include <algorithm>
#include <cstddef>
#include <limits>
#include <type_traits>

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
  for_each_outcome_array(*this, [c](const char*, auto& values, int per_seed) {
    using T = typename std::decay_t<decltype(values)>::value_type;
    const std::size_t size = c * to_size(per_seed);
    if constexpr (std::is_floating_point_v<T>) values.assign(size, kNaN);
    else if constexpr (std::is_same_v<T, std::int8_t>) values.assign(size, static_cast<T>(Status::unconverged));
    else values.assign(size, T(-1));  // step counts: never
  });
}

void SeedTraces::resize(long first, long n, const CellProblem& cp) {
  first_seed = first;
  count = n;
  steps = static_cast<int>(cp.record_steps.size());
  r = cp.shape.r;
  depth = cp.shape.depth;
  delta_matrices = cp.config.record.delta_matrices;
  const std::size_t c = to_size(n), t = to_size(steps);
  for_each_trace_array(*this, [c, t](const char*, std::vector<double>& values, int per_step) {
    values.assign(c * t * to_size(per_step), kNaN);
  });
  init_factors.resize(to_size(depth));
  final_factors.resize(to_size(depth));
  for (int k = 0; k < depth; ++k) {
    const std::size_t size = c * to_size(cp.shape.rows(k)) * to_size(cp.shape.cols(k));
    init_factors[static_cast<std::size_t>(k)].assign(size, kNaN);
    final_factors[static_cast<std::size_t>(k)].assign(size, kNaN);
  }
}

void SeedTraces::resize_for_seeds(long first, long seeds, const CellProblem& cp) {
  const long traced_end = std::min<long>(first + seeds, cp.config.record.traced_seeds);
  resize(first, std::max(0L, traced_end - first), cp);
}

}  // namespace specsweep
