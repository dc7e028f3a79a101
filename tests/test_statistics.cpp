// Per-cell statistics (host/statistics.hpp): type-7 quantiles (against hand-computed values and
// NumPy), censoring at +inf, NaN exclusion, Wilson intervals (published values and the formula),
// and cell_statistics field by field on a handmade cell.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "backend.hpp"
#include "errors.hpp"
#include "problem.hpp"
#include "statistics.hpp"

namespace specsweep {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Expected values: NaN must be NaN, inf must be the same inf, finite values agree to a relative
// 1e-12 (NumPy interpolates as b - (b - a)(1 - t) above t = 0.5, so the last bit may differ).
void expect_quantiles(const Quantiles& got, const Quantiles& want, const char* what) {
  for (std::size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(testing::Message() << what << " level " << kQuantileLevels[i]);
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << got[i];
    } else if (std::isinf(want[i])) {
      EXPECT_EQ(got[i], want[i]);
    } else {
      EXPECT_NEAR(got[i], want[i], 1e-12 * std::max(1.0, std::fabs(want[i])));
    }
  }
}

Quantiles all(double v) {
  Quantiles q;
  q.fill(v);
  return q;
}

TEST(Quantiles, LevelsAreTheDocumentedOnes) {
  const Quantiles want = {0.05, 0.25, 0.5, 0.75, 0.95};
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_EQ(kQuantileLevels[i], want[i]);
}

TEST(Quantiles, HandComputed) {
  // h = (n - 1) p = 3p: 0.15, 0.75, 1.5, 2.25, 2.85.
  expect_quantiles(quantiles({1, 2, 3, 4}), {1.15, 1.75, 2.5, 3.25, 3.85}, "1..4");
  expect_quantiles(quantiles({4, 2, 3, 1}), {1.15, 1.75, 2.5, 3.25, 3.85}, "unsorted");
  // h = 4p: 0.2, 1, 2, 3, 3.8 (the middle three are order statistics).
  expect_quantiles(quantiles({5, 6, 7, 8, 9}), {5.2, 6, 7, 8, 8.8}, "5..9");
  expect_quantiles(quantiles({1, 2}), {1.05, 1.25, 1.5, 1.75, 1.95}, "two");
  expect_quantiles(quantiles({3.25}), all(3.25), "one value");
  expect_quantiles(quantiles({2, 2, 2}), all(2), "constant");
}

TEST(Quantiles, MatchesNumpy) {
  // Produced with NumPy 1.24.2:
  //   rng = np.random.default_rng(20240607)
  //   v = rng.normal(size=13) * 3 + 1;  np.quantile(v, [0.05, 0.25, 0.5, 0.75, 0.95])
  //   w = rng.exponential(size=20);     np.quantile(w, [0.05, 0.25, 0.5, 0.75, 0.95])
  // (values printed with repr, i.e. round-trip exact).
  const std::vector<double> v = {0.7434399457675378, -0.2863572125692029, -7.62045950667939,
                                 10.735483921021034, 1.4400516502709189,  4.934726111336212,
                                 2.052776555710645,  -1.1613408668862095, 3.4496117339604524,
                                 -5.352653079685441, 1.881631440877394,   2.691887455788934,
                                 -1.936660629033435};
  expect_quantiles(quantiles(v),
                   {-6.259775650483021, -1.1613408668862095, 1.4400516502709189, 2.691887455788934,
                    7.255029235210133},
                   "normal(13)");
  const std::vector<double> w = {
      0.4787287686336515,  0.16265801718080122, 0.6101817185338448, 1.1162839152124806,
      0.866426587841261,   0.4006206521648581,  1.741668729343352,  0.3888079770942276,
      3.7944286711312634,  3.3108302945872126,  4.067102375338909,  2.1739994862524514,
      0.8180531699818846,  0.40847752150021577, 2.1591244049725495, 0.516516058045839,
      0.04494122140508796, 0.4326858107159637,  2.9641797528919755, 1.6222393289729464};
  expect_quantiles(quantiles(w),
                   {0.15677217739201557, 0.4266337384120267, 0.8422398789115728, 2.162843175292525,
                    3.808062356341646},
                   "exponential(20)");
}

TEST(Quantiles, IndependentOfInputOrderBitForBit) {
  std::vector<double> v = {0.3, 1e-9, 7.5, -2.25, 1e12, 0.1, 0.2, kInf, 3.0, kNaN, 11.0};
  const Quantiles ref = quantiles(v);
  std::mt19937 gen(7);
  for (int k = 0; k < 20; ++k) {
    std::shuffle(v.begin(), v.end(), gen);
    const Quantiles q = quantiles(v);
    for (std::size_t i = 0; i < q.size(); ++i) EXPECT_EQ(q[i], ref[i]);
  }
}

TEST(Quantiles, CensoredInfinitySortsLastAndPropagates) {
  // 1, 2, 3, inf: h = 0.15, 0.75, 1.5 stay finite; 2.25 and 2.85 interpolate towards inf.
  expect_quantiles(quantiles({kInf, 1, 2, 3}), {1.15, 1.75, 2.5, kInf, kInf}, "one censored");
  // 10, 20, 30, inf, inf: h = 0.2, 1, 2, 3, 3.8; the median lands exactly on 30 (NumPy says NaN
  // there, from inf - inf, which is why the rule exists).
  expect_quantiles(quantiles({10, kInf, 30, kInf, 20}), {12, 20, 30, kInf, kInf}, "two censored");
  // 1, 2, 3, 4, inf: h = 3 lands exactly on 4 although its upper neighbour is inf.
  expect_quantiles(quantiles({1, 2, 3, 4, kInf}), {1.2, 2, 3, 4, kInf}, "exact neighbour");
  expect_quantiles(quantiles({kInf, kInf}), all(kInf), "all censored");
  expect_quantiles(quantiles({1, kInf}), all(kInf), "half censored");
}

TEST(Quantiles, NaNExcludedAndEmptyIsNaN) {
  expect_quantiles(quantiles({kNaN, 4, 1, kNaN, 3, 2}), {1.15, 1.75, 2.5, 3.25, 3.85}, "with NaN");
  expect_quantiles(quantiles({kNaN, 5, kNaN}), all(5), "one defined");
  expect_quantiles(quantiles({kNaN, kNaN}), all(kNaN), "all NaN");
  expect_quantiles(quantiles({}), all(kNaN), "empty");
}

TEST(Wilson, PublishedValues) {
  // The classic table values (4 decimals) for n = 10.
  auto w = wilson95(0, 10);
  EXPECT_EQ(w[0], 0.0);
  EXPECT_NEAR(w[1], 0.2775, 5e-5);
  w = wilson95(5, 10);
  EXPECT_NEAR(w[0], 0.2366, 5e-5);
  EXPECT_NEAR(w[1], 0.7634, 5e-5);
  w = wilson95(10, 10);
  EXPECT_NEAR(w[0], 0.7225, 5e-5);
  EXPECT_EQ(w[1], 1.0);
}

TEST(Wilson, FormulaValues) {
  // Computed in Python (float64) from the score formula with z = 1.959963984540054:
  //   p = k/n; d = 1 + z*z/n; c = (p + z*z/(2n))/d; h = z*sqrt(p(1-p)/n + z*z/(4n^2))/d
  //   interval = [max(0, c - h), min(1, c + h)]
  // except that k = 0 and k = n end exactly at 0 and 1 (the formula's exact value; Python's
  // float64 evaluation gives 0.9999999999999999 for 10/10).
  struct Case {
    std::int64_t k, n;
    double lo, hi;
  };
  const Case cases[] = {
      {0, 10, 0.0, 0.2775327998628892},
      {5, 10, 0.236593090512564, 0.7634069094874361},
      {10, 10, 0.7224672001371107, 1.0},
      {3, 20, 0.052368745896216595, 0.36041886474075696},
      {1, 100, 0.0017674320641406505, 0.054486196178705315},
      {37, 50, 0.6044684273515117, 0.8412847250644762},
      {1, 1, 0.20654931437723745, 1.0},
      {0, 1, 0.0, 0.7934506856227626},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << c.k << "/" << c.n);
    const auto w = wilson95(c.k, c.n);
    EXPECT_NEAR(w[0], c.lo, 1e-14);
    EXPECT_NEAR(w[1], c.hi, 1e-14);
    EXPECT_GE(w[0], 0.0);
    EXPECT_LE(w[1], 1.0);
    EXPECT_LE(w[0], double(c.k) / double(c.n));
    EXPECT_GE(w[1], double(c.k) / double(c.n));
  }
}

TEST(Wilson, NoTrialsIsNaN) {
  const auto w = wilson95(0, 0);
  EXPECT_TRUE(std::isnan(w[0]));
  EXPECT_TRUE(std::isnan(w[1]));
}

// A hand-built problem: only the shape and the record steps matter to the trace buffers.
CellProblem small_problem() {
  CellProblem cp;
  cp.shape.m = 4;
  cp.shape.n = 5;
  cp.shape.r = 3;
  cp.shape.depth = 2;
  cp.modes = 2;
  cp.record_steps = {0, 10, 100};
  return cp;
}

// Five seeds, r = 3, modes = 2 (mode 2 is beyond min(r, rank M)); two traced seeds, T = 3.
struct SmallCell {
  SeedOutcomes outcomes;
  SeedTraces traces;

  SmallCell() {
    const CellProblem cp = small_problem();
    outcomes.resize(40, 5, 3);
    const auto st = [](Status s) { return static_cast<std::int8_t>(s); };
    outcomes.status = {st(Status::converged), st(Status::converged), st(Status::diverged),
                       st(Status::unconverged), st(Status::stalled)};
    outcomes.final_loss = {0.5, kNaN, 1.5, 2.5, 3.5};
    outcomes.excess = {0.0, 0.1, kNaN, 0.3, kNaN};
    outcomes.steps_to_tol = {10, 20, -1, -1, 30};
    // seed x mode; mode 2 holds values that must be ignored (beyond `modes`).
    outcomes.hit_step = {5, -1,  11,  //
                         6, 100, 12,  //
                         7, -1,  13,  //
                         8, 200, -1,  //
                         9, 300, 14};
    outcomes.uniformity_cv = {0.1, kNaN, 0.3, kNaN, kNaN};
    outcomes.order_kendall = {1.0, 1.0, -1.0, kNaN, 0.5};
    outcomes.basin_converged = {1.0, 0.5, kNaN, kNaN, kNaN};
    outcomes.basin_closer = {0.25, 0.75, kNaN, kNaN, kNaN};
    outcomes.final_lr_sharpness = {1.9, kNaN, 0.5, 2.5, 1.0};
    outcomes.recovery_error = {0.4, 0.1, kNaN, 0.3, 0.2};

    traces.resize(40, 2, cp);
    // loss: seed 0 {1, 0.5, 0.1}, seed 1 {2, NaN, 0.3}.
    traces.loss = {1.0, 0.5, 0.1, 2.0, kNaN, 0.3};
    // sv of traced seed i at (t, q): (i + 1)(q + 1)(t + 1); seed 1 mode 2 at t = 2 undefined.
    for (std::size_t i = 0; i < 2; ++i) {
      for (std::size_t t = 0; t < 3; ++t) {
        for (std::size_t q = 0; q < 3; ++q) {
          traces.sv[(i * 3 + t) * 3 + q] = double((i + 1) * (q + 1) * (t + 1));
        }
      }
    }
    traces.sv[(1 * 3 + 2) * 3 + 2] = kNaN;
  }
};

TEST(CellStatistics, EveryFieldOfAHandmadeCell) {
  const SmallCell cell;
  const CellStatistics s = cell_statistics(cell.outcomes, cell.traces, 2);

  EXPECT_EQ(s.seeds, 5);
  // Status: converged 2, stalled 1, diverged 1, unconverged 1.
  const std::array<std::int64_t, 4> counts = {2, 1, 1, 1};
  EXPECT_EQ(s.status_count, counts);
  const double fractions[4] = {0.4, 0.2, 0.2, 0.2};
  // Wilson intervals of 2/5 and 1/5 (Python, same formula as Wilson.FormulaValues).
  const double wilson[4][2] = {{0.11762077423264783, 0.769275718723987},
                               {0.03622410863243014, 0.6244653702374747},
                               {0.03622410863243014, 0.6244653702374747},
                               {0.03622410863243014, 0.6244653702374747}};
  for (std::size_t k = 0; k < 4; ++k) {
    EXPECT_DOUBLE_EQ(s.status_fraction[k], fractions[k]);
    EXPECT_NEAR(s.status_wilson95[k][0], wilson[k][0], 1e-14);
    EXPECT_NEAR(s.status_wilson95[k][1], wilson[k][1], 1e-14);
  }

  // final_loss over {0.5, 1.5, 2.5, 3.5} (NaN excluded): h = 3p.
  expect_quantiles(s.final_loss, {0.65, 1.25, 2.0, 2.75, 3.35}, "final_loss");
  // excess over {0, 0.1, 0.3}: h = 2p.
  expect_quantiles(s.excess, {0.01, 0.05, 0.1, 0.2, 0.28}, "excess");
  // steps_to_tol over {10, 20, 30, inf, inf}.
  expect_quantiles(s.steps_to_tol, {12, 20, 30, kInf, kInf}, "steps_to_tol");
  EXPECT_EQ(s.steps_to_tol_reached, 3);

  ASSERT_EQ(s.hit_step.size(), 3u);
  ASSERT_EQ(s.hit_count.size(), 3u);
  expect_quantiles(s.hit_step[0], {5.2, 6, 7, 8, 8.8}, "hit_step mode 0");
  EXPECT_EQ(s.hit_count[0], 5);
  // Mode 1: {100, 200, 300, inf, inf} (two seeds never hit: censored, not dropped).
  expect_quantiles(s.hit_step[1], {120, 200, 300, kInf, kInf}, "hit_step mode 1");
  EXPECT_EQ(s.hit_count[1], 3);
  // Mode 2 is beyond min(r, rank M): undefined whatever the buffer holds.
  expect_quantiles(s.hit_step[2], all(kNaN), "hit_step mode 2");
  EXPECT_EQ(s.hit_count[2], 0);

  // uniformity_cv over {0.1, 0.3}; order_kendall over {-1, 0.5, 1, 1}.
  const std::array<std::int64_t, 2> defined = {2, 4};
  EXPECT_EQ(s.defined_count, defined);
  expect_quantiles(s.uniformity_cv, {0.11, 0.15, 0.2, 0.25, 0.29}, "uniformity_cv");
  expect_quantiles(s.order_kendall, {-0.775, 0.125, 0.75, 1, 1}, "order_kendall");
  // eta lambda_max over {0.5, 1, 1.9, 2.5} (a diverged seed's NaN left out), type 7.
  expect_quantiles(s.final_lr_sharpness, {0.575, 0.875, 1.45, 2.05, 2.41}, "final_lr_sharpness");
  // recovery_error over {0.1, 0.2, 0.3, 0.4}.
  expect_quantiles(s.recovery_error, {0.115, 0.175, 0.25, 0.325, 0.385}, "recovery_error");

  // Bands over the two traced seeds.
  ASSERT_EQ(s.loss_band.size(), 3u);
  expect_quantiles(s.loss_band[0], {1.05, 1.25, 1.5, 1.75, 1.95}, "loss t=0");
  expect_quantiles(s.loss_band[1], all(0.5), "loss t=1 (one defined)");
  expect_quantiles(s.loss_band[2], {0.11, 0.15, 0.2, 0.25, 0.29}, "loss t=2");
  ASSERT_EQ(s.sv_band.size(), 9u);
  for (std::size_t t = 0; t < 3; ++t) {
    for (std::size_t q = 0; q < 3; ++q) {
      SCOPED_TRACE(testing::Message() << "sv t=" << t << " q=" << q);
      const double a = double((q + 1) * (t + 1));
      if (t == 2 && q == 2) {
        expect_quantiles(s.sv_band[t * 3 + q], all(a), "sv (one defined)");
      } else {
        // Over {a, 2a}: a (1 + p).
        expect_quantiles(s.sv_band[t * 3 + q], {1.05 * a, 1.25 * a, 1.5 * a, 1.75 * a, 1.95 * a},
                         "sv");
      }
    }
  }

  // Basin probe over the converged seeds {1, 0.5} and {0.25, 0.75}; pooled = their means.
  expect_quantiles(s.basin_converged, {0.525, 0.625, 0.75, 0.875, 0.975}, "basin_converged");
  expect_quantiles(s.basin_closer, {0.275, 0.375, 0.5, 0.625, 0.725}, "basin_closer");
  EXPECT_DOUBLE_EQ(s.basin_pooled[0], 0.75);
  EXPECT_DOUBLE_EQ(s.basin_pooled[1], 0.5);
}

// Converged seeds split by the sign of det W(0); NaN (non-square factors) and 0 (singular) count
// for neither sign.
TEST(CellStatistics, ConvergedSplitByTheSignOfDetW0) {
  SmallCell cell;  // statuses: converged, converged, diverged, unconverged, stalled
  cell.outcomes.init_det_sign = {1.0, -1.0, 1.0, 0.0, kNaN};
  const CellStatistics s = cell_statistics(cell.outcomes, cell.traces, 2);
  EXPECT_EQ(s.det_sign_count[0], (std::array<std::int64_t, 2>{2, 1}));
  EXPECT_EQ(s.det_sign_count[1], (std::array<std::int64_t, 2>{1, 1}));
  EXPECT_EQ(s.det_sign_wilson95[0], wilson95(1, 2));
  EXPECT_EQ(s.det_sign_wilson95[1], wilson95(1, 1));
  cell.outcomes.init_det_sign.assign(5, kNaN);
  const CellStatistics none = cell_statistics(cell.outcomes, cell.traces, 2);
  EXPECT_EQ(none.det_sign_count[0], (std::array<std::int64_t, 2>{0, 0}));
  EXPECT_TRUE(std::isnan(none.det_sign_wilson95[1][0]));
}

TEST(CellStatistics, ModesClampedAndAllModesActive) {
  const SmallCell cell;
  // modes = r: mode 2 becomes a real mode, {11, 12, 13, 14, inf}.
  const CellStatistics s = cell_statistics(cell.outcomes, cell.traces, 3);
  expect_quantiles(s.hit_step[2], {11.2, 12, 13, 14, kInf}, "hit_step mode 2");
  EXPECT_EQ(s.hit_count[2], 4);
  // modes = 0: nothing is defined.
  const CellStatistics none = cell_statistics(cell.outcomes, cell.traces, 0);
  for (std::size_t q = 0; q < 3; ++q) {
    expect_quantiles(none.hit_step[q], all(kNaN), "modes = 0");
    EXPECT_EQ(none.hit_count[q], 0);
  }
}

TEST(CellStatistics, NoTracedSeedsAndNoBasinProbe) {
  SmallCell cell;
  cell.outcomes.basin_converged.clear();
  cell.outcomes.basin_closer.clear();
  cell.traces.resize(40, 0, small_problem());
  const CellStatistics s = cell_statistics(cell.outcomes, cell.traces, 2);
  ASSERT_EQ(s.loss_band.size(), 3u);
  ASSERT_EQ(s.sv_band.size(), 9u);
  for (const Quantiles& q : s.loss_band) expect_quantiles(q, all(kNaN), "loss band");
  for (const Quantiles& q : s.sv_band) expect_quantiles(q, all(kNaN), "sv band");
  expect_quantiles(s.basin_converged, all(kNaN), "basin_converged");
  expect_quantiles(s.basin_closer, all(kNaN), "basin_closer");
  EXPECT_TRUE(std::isnan(s.basin_pooled[0]));
  EXPECT_TRUE(std::isnan(s.basin_pooled[1]));
  // The rest is unchanged.
  EXPECT_EQ(s.steps_to_tol_reached, 3);
  expect_quantiles(s.final_loss, {0.65, 1.25, 2.0, 2.75, 3.35}, "final_loss");
}

TEST(CellStatistics, CellWithoutSeeds) {
  SeedOutcomes outcomes;
  outcomes.resize(0, 0, 2);
  SeedTraces traces;
  traces.resize(0, 0, small_problem());
  const CellStatistics s = cell_statistics(outcomes, traces, 2);
  EXPECT_EQ(s.seeds, 0);
  for (std::size_t k = 0; k < 4; ++k) {
    EXPECT_EQ(s.status_count[k], 0);
    EXPECT_TRUE(std::isnan(s.status_fraction[k]));
    EXPECT_TRUE(std::isnan(s.status_wilson95[k][0]));
    EXPECT_TRUE(std::isnan(s.status_wilson95[k][1]));
  }
  expect_quantiles(s.final_loss, all(kNaN), "final_loss");
  expect_quantiles(s.steps_to_tol, all(kNaN), "steps_to_tol");
  ASSERT_EQ(s.hit_step.size(), 2u);
  EXPECT_EQ(s.hit_count[0], 0);
  const std::array<std::int64_t, 2> zero = {0, 0};
  EXPECT_EQ(s.defined_count, zero);
}

TEST(CellStatistics, IndependentOfSeedOrder) {
  const SmallCell cell;
  // Reverse the seeds (and the traced seeds): every quantile is the same bit for bit.
  SmallCell rev;
  auto reverse_rows = [](auto& v, std::size_t rows) {
    const std::size_t width = v.size() / rows;
    for (std::size_t i = 0; i < rows / 2; ++i) {
      std::swap_ranges(v.begin() + long(i * width), v.begin() + long((i + 1) * width),
                       v.begin() + long((rows - 1 - i) * width));
    }
  };
  reverse_rows(rev.outcomes.status, 5);
  reverse_rows(rev.outcomes.final_loss, 5);
  reverse_rows(rev.outcomes.excess, 5);
  reverse_rows(rev.outcomes.steps_to_tol, 5);
  reverse_rows(rev.outcomes.hit_step, 5);
  reverse_rows(rev.outcomes.uniformity_cv, 5);
  reverse_rows(rev.outcomes.order_kendall, 5);
  reverse_rows(rev.outcomes.basin_converged, 5);
  reverse_rows(rev.outcomes.basin_closer, 5);
  reverse_rows(rev.traces.loss, 2);
  reverse_rows(rev.traces.sv, 2);
  const CellStatistics a = cell_statistics(cell.outcomes, cell.traces, 2);
  const CellStatistics b = cell_statistics(rev.outcomes, rev.traces, 2);
  auto same = [](const Quantiles& x, const Quantiles& y) {
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (!(x[i] == y[i] || (std::isnan(x[i]) && std::isnan(y[i])))) return false;
    }
    return true;
  };
  EXPECT_EQ(a.status_count, b.status_count);
  EXPECT_TRUE(same(a.final_loss, b.final_loss));
  EXPECT_TRUE(same(a.excess, b.excess));
  EXPECT_TRUE(same(a.steps_to_tol, b.steps_to_tol));
  EXPECT_TRUE(same(a.uniformity_cv, b.uniformity_cv));
  EXPECT_TRUE(same(a.order_kendall, b.order_kendall));
  EXPECT_TRUE(same(a.basin_converged, b.basin_converged));
  EXPECT_TRUE(same(a.basin_closer, b.basin_closer));
  for (std::size_t q = 0; q < a.hit_step.size(); ++q)
    EXPECT_TRUE(same(a.hit_step[q], b.hit_step[q]));
  for (std::size_t t = 0; t < a.loss_band.size(); ++t) {
    EXPECT_TRUE(same(a.loss_band[t], b.loss_band[t]));
  }
  for (std::size_t k = 0; k < a.sv_band.size(); ++k) EXPECT_TRUE(same(a.sv_band[k], b.sv_band[k]));
}

TEST(CellStatistics, InconsistentBuffersAreRejected) {
  {
    SmallCell cell;
    cell.outcomes.final_loss.pop_back();
    EXPECT_THROW(cell_statistics(cell.outcomes, cell.traces, 2), RuntimeFailure);
  }
  {
    SmallCell cell;
    cell.outcomes.hit_step.pop_back();
    EXPECT_THROW(cell_statistics(cell.outcomes, cell.traces, 2), RuntimeFailure);
  }
  {
    SmallCell cell;
    cell.traces.sv.pop_back();
    EXPECT_THROW(cell_statistics(cell.outcomes, cell.traces, 2), RuntimeFailure);
  }
  {
    SmallCell cell;
    cell.outcomes.status[3] = 7;
    EXPECT_THROW(cell_statistics(cell.outcomes, cell.traces, 2), RuntimeFailure);
  }
}

}  // namespace
}  // namespace specsweep
