// Per-cell statistics (host/statistics.hpp, DESIGN section 3). Every quantity is a function of the
// multiset of per-seed values (quantiles sort) or a sum taken in seed order, so the result does not
// depend on how the seeds were scheduled.
#include "statistics.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>

#include "errors.hpp"

namespace specsweep {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kZ95 = 1.959963984540054;  // Phi^-1(0.975)

Quantiles nan_quantiles() {
  Quantiles q;
  q.fill(kNaN);
  return q;
}

std::size_t to_size(long v) {
  return v > 0 ? static_cast<std::size_t>(v) : 0;
}

// The arrays come back from the run file: a size that does not match the declared counts is a
// damaged file or a bug, never something to read past.
void require_size(std::size_t actual, std::size_t expected, const char* what) {
  if (actual != expected) {
    throw RuntimeFailure(std::string("cell statistics: ") + what + " has " +
                         std::to_string(actual) + " entries, expected " + std::to_string(expected));
  }
}

// A step count where -1 means "never" (censored at +inf).
double censored(std::int32_t step) {
  return step < 0 ? kInf : static_cast<double>(step);
}

// The values with NaN removed, in order.
std::vector<double> defined(const std::vector<double>& values) {
  std::vector<double> out;
  out.reserve(values.size());
  for (double v : values) {
    if (!std::isnan(v)) out.push_back(v);
  }
  return out;
}

// Mean of the non-NaN values, summed in index (seed) order; NaN when there are none.
double defined_mean(const std::vector<double>& values) {
  double sum = 0;
  long k = 0;
  for (double v : values) {
    if (std::isnan(v)) continue;
    sum += v;
    ++k;
  }
  return k > 0 ? sum / static_cast<double>(k) : kNaN;
}

}  // namespace

Quantiles quantiles(std::vector<double> values) {
  values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return std::isnan(v); }),
               values.end());
  if (values.empty()) return nan_quantiles();
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  Quantiles q{};
  for (std::size_t i = 0; i < kQuantileLevels.size(); ++i) {
    const double h = static_cast<double>(n - 1) * kQuantileLevels[i];
    std::size_t lo = static_cast<std::size_t>(std::floor(h));
    if (lo > n - 1) lo = n - 1;
    const std::size_t hi = std::min(lo + 1, n - 1);
    const double frac = h - static_cast<double>(lo);
    const double a = values[lo], b = values[hi];
    if (frac == 0 || a == b) {
      q[i] = a;  // exactly an order statistic (also avoids 0 * inf)
    } else if (b == kInf) {
      q[i] = kInf;  // censored: interpolating towards +inf is +inf (not inf - inf)
    } else if (a == -kInf) {
      q[i] = -kInf;
    } else {
      q[i] = a + frac * (b - a);
    }
  }
  return q;
}

std::array<double, 2> wilson95(std::int64_t successes, std::int64_t trials) {
  if (trials <= 0) return {kNaN, kNaN};
  const double n = static_cast<double>(trials);
  const double p = static_cast<double>(successes) / n;
  const double z2 = kZ95 * kZ95;
  const double denom = 1 + z2 / n;
  const double center = (p + z2 / (2 * n)) / denom;
  const double half = kZ95 * std::sqrt(std::max(p * (1 - p) / n + z2 / (4 * n * n), 0.0)) / denom;
  // The exact interval ends at 0 for no successes and at 1 for all successes; rounding can leave
  // them an ulp inside (so the interval would miss p itself): pin them.
  const double lo = successes <= 0 ? 0.0 : std::clamp(center - half, 0.0, 1.0);
  const double hi = successes >= trials ? 1.0 : std::clamp(center + half, 0.0, 1.0);
  return {lo, hi};
}

CellStatistics cell_statistics(const SeedOutcomes& outcomes, const SeedTraces& traces, int modes) {
  const std::size_t count = to_size(outcomes.count);
  const int r = std::max(outcomes.r, 0);
  const std::size_t rr = static_cast<std::size_t>(r);
  const int active = std::clamp(modes, 0, r);

  require_size(outcomes.status.size(), count, "status");
  require_size(outcomes.final_loss.size(), count, "final_loss");
  require_size(outcomes.excess.size(), count, "excess");
  require_size(outcomes.uniformity_cv.size(), count, "uniformity_cv");
  require_size(outcomes.order_kendall.size(), count, "order_kendall");
  require_size(outcomes.steps_to_tol.size(), count, "steps_to_tol");
  require_size(outcomes.hit_step.size(), count * rr, "hit_step");
  // The basin vectors are empty when the probe is off, one entry per seed otherwise.
  if (!outcomes.basin_converged.empty()) {
    require_size(outcomes.basin_converged.size(), count, "basin_converged");
  }
  if (!outcomes.basin_closer.empty()) {
    require_size(outcomes.basin_closer.size(), count, "basin_closer");
  }
  if (!outcomes.init_det_sign.empty()) {
    require_size(outcomes.init_det_sign.size(), count, "init_det_sign");
  }

  CellStatistics st;
  st.seeds = static_cast<long>(count);

  // Status counts, fractions and their Wilson intervals.
  for (std::int8_t s : outcomes.status) {
    if (s < 0 || s > 3) {
      throw RuntimeFailure("cell statistics: unknown status code " + std::to_string(int(s)));
    }
    ++st.status_count[static_cast<std::size_t>(s)];
  }
  for (std::size_t s = 0; s < 4; ++s) {
    st.status_fraction[s] =
        count > 0 ? static_cast<double>(st.status_count[s]) / static_cast<double>(count) : kNaN;
    st.status_wilson95[s] = wilson95(st.status_count[s], static_cast<std::int64_t>(count));
  }

  st.final_loss = quantiles(outcomes.final_loss);
  st.excess = quantiles(outcomes.excess);

  // Steps to tolerance, censored.
  {
    std::vector<double> steps(count);
    for (std::size_t i = 0; i < count; ++i) {
      steps[i] = censored(outcomes.steps_to_tol[i]);
      if (outcomes.steps_to_tol[i] >= 0) ++st.steps_to_tol_reached;
    }
    st.steps_to_tol = quantiles(std::move(steps));
  }

  // Mode hitting times, censored; modes beyond min(r, rank M) are undefined.
  st.hit_step.assign(rr, nan_quantiles());
  st.hit_count.assign(rr, 0);
  for (int q = 0; q < active; ++q) {
    const std::size_t qq = static_cast<std::size_t>(q);
    std::vector<double> steps(count);
    for (std::size_t i = 0; i < count; ++i) {
      const std::int32_t step = outcomes.hit_step[i * rr + qq];
      steps[i] = censored(step);
      if (step >= 0) ++st.hit_count[qq];
    }
    st.hit_step[qq] = quantiles(std::move(steps));
  }

  // Uniform-growth summaries over the seeds where they are defined.
  {
    std::vector<double> cv = defined(outcomes.uniformity_cv);
    std::vector<double> kt = defined(outcomes.order_kendall);
    st.defined_count = {static_cast<std::int64_t>(cv.size()), static_cast<std::int64_t>(kt.size())};
    st.uniformity_cv = quantiles(std::move(cv));
    st.order_kendall = quantiles(std::move(kt));
  }

  // eta * lambda_max at the end, where the run measured it (the vector is empty in files written
  // before it existed).
  if (!outcomes.final_lr_sharpness.empty()) {
    require_size(outcomes.final_lr_sharpness.size(), count, "final_lr_sharpness");
    st.final_lr_sharpness = quantiles(defined(outcomes.final_lr_sharpness));
  } else {
    st.final_lr_sharpness = nan_quantiles();
  }
  if (!outcomes.recovery_error.empty()) {
    require_size(outcomes.recovery_error.size(), count, "recovery_error");
    st.recovery_error = quantiles(defined(outcomes.recovery_error));
  }

  // Quantile bands over the traced seeds at each record step.
  {
    const std::size_t tc = to_size(traces.count);
    const std::size_t T = static_cast<std::size_t>(std::max(traces.steps, 0));
    if (tc > 0) {
      if (traces.r != r) {
        throw RuntimeFailure("cell statistics: traces have rank " + std::to_string(traces.r) +
                             ", outcomes " + std::to_string(r));
      }
      require_size(traces.loss.size(), tc * T, "traced loss");
      require_size(traces.sv.size(), tc * T * rr, "traced sv");
    }
    st.loss_band.assign(T, nan_quantiles());
    st.sv_band.assign(T * rr, nan_quantiles());
    if (tc > 0) {
      std::vector<double> column(tc);
      for (std::size_t t = 0; t < T; ++t) {
        for (std::size_t i = 0; i < tc; ++i) column[i] = traces.loss[i * T + t];
        st.loss_band[t] = quantiles(column);
        for (std::size_t q = 0; q < rr; ++q) {
          for (std::size_t i = 0; i < tc; ++i) column[i] = traces.sv[(i * T + t) * rr + q];
          st.sv_band[t * rr + q] = quantiles(column);
        }
      }
    }
  }

  // Basin probe: per-seed fractions (NaN for seeds without probes) and their pooled means.
  st.basin_converged = quantiles(outcomes.basin_converged);
  st.basin_closer = quantiles(outcomes.basin_closer);
  st.basin_pooled = {defined_mean(outcomes.basin_converged), defined_mean(outcomes.basin_closer)};

  // Converged seeds by the sign of det W(0) (Rhee et al.'s spike schedule fails for det -1).
  for (std::size_t i = 0; i < outcomes.init_det_sign.size(); ++i) {
    const double sign = outcomes.init_det_sign[i];
    if (!(sign == 1 || sign == -1)) continue;
    auto& row = st.det_sign_count[sign > 0 ? 0 : 1];
    ++row[0];
    if (outcomes.status[i] == static_cast<std::int8_t>(Status::converged)) ++row[1];
  }
  for (std::size_t k = 0; k < 2; ++k)
    st.det_sign_wilson95[k] = wilson95(st.det_sign_count[k][1], st.det_sign_count[k][0]);

  return st;
}

}  // namespace specsweep
