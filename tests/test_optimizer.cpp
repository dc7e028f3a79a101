// Initialization, schedules and optimizer update rules against closed forms.
#include <gtest/gtest.h>

#include <cmath>

#include "core/init.hpp"
#include "core/optimizer.hpp"
#include "test_helpers.hpp"

namespace specsweep {
namespace {

TEST(Init, OrthogonalIsScaledIsometryTallAndWide) {
  for (const auto& [rows, cols] : {std::pair{12, 4}, std::pair{4, 12}, std::pair{5, 5}}) {
    std::vector<double> F(rows * cols), work(init_factor_workspace(rows, cols));
    const RandomStream stream(7, 0, 3, Purpose::init, 0);
    init_factor({InitKind::orthogonal, 0.3}, 0, 2, rows, cols, stream, {}, F.data(), work.data());
    // The short side's Gram is 0.09 I.
    const int p = std::min(rows, cols);
    for (int a = 0; a < p; ++a)
      for (int b = 0; b < p; ++b) {
        double g = 0;
        for (int i = 0; i < std::max(rows, cols); ++i)
          g += rows >= cols ? F[i * cols + a] * F[i * cols + b] : F[a * cols + i] * F[b * cols + i];
        EXPECT_NEAR(g, a == b ? 0.09 : 0.0, 1e-14) << rows << "x" << cols;
      }
  }
}

TEST(Init, GaussianHasTheRequestedScaleAndZeroIsZero) {
  const int rows = 200, cols = 50;
  std::vector<double> F(rows * cols), work(init_factor_workspace(rows, cols));
  init_factor({InitKind::gaussian, 1e-3}, 1, 2, rows, cols, RandomStream(1, 0, 0, Purpose::init, 1),
              {}, F.data(), work.data());
  double s2 = 0;
  for (double v : F) s2 += v * v;
  EXPECT_NEAR(std::sqrt(s2 / F.size()), 1e-3, 5 * 1e-3 / std::sqrt(2.0 * F.size()));
  init_factor({InitKind::zero, 1.0}, 0, 2, rows, cols, RandomStream(1, 0, 0, Purpose::init, 0), {},
              F.data(), work.data());
  for (double v : F) EXPECT_EQ(v, 0.0);
}

TEST(Init, SpectralAlignsWithTheTargetBases) {
  const int m = 6, n = 5, r = 3;
  const auto U = testing::orthonormal_columns(m, r, 1), V = testing::orthonormal_columns(n, r, 2);
  const SpectralBasis basis{U.data(), V.data()};
  std::vector<double> F1(m * r), F2(r * r), F3(r * n), work(init_factor_workspace(m, n));
  const RandomStream s(1, 0, 0, Purpose::init, 0);
  init_factor({InitKind::spectral, 0.5}, 0, 3, m, r, s, basis, F1.data(), work.data());
  init_factor({InitKind::spectral, 0.5}, 1, 3, r, r, s, basis, F2.data(), work.data());
  init_factor({InitKind::spectral, 0.5}, 2, 3, r, n, s, basis, F3.data(), work.data());
  // W = F1 F2 F3 = 0.125 U V^T.
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double w = 0, e = 0;
      for (int a = 0; a < r; ++a)
        for (int b = 0; b < r; ++b) w += F1[i * r + a] * F2[a * r + b] * F3[b * n + j];
      for (int a = 0; a < r; ++a) e += 0.125 * U[i * r + a] * V[j * r + a];
      EXPECT_NEAR(w, e, 1e-15);
    }
}

TEST(Schedule, EachKindMatchesItsClosedForm) {
  Schedule s;
  s.lr = 0.1;
  s.total_steps = 100;
  EXPECT_DOUBLE_EQ(s.rate(37), 0.1);
  s.kind = ScheduleKind::exponential;
  s.decay = 0.9;
  EXPECT_NEAR(s.rate(10), 0.1 * std::pow(0.9, 10), 1e-16);
  s.kind = ScheduleKind::spike_geometric;  // Rhee et al.: eta0, then sqrt(s_max), then halving
  s.eta1 = 2.0;
  s.factor = 0.5;
  EXPECT_DOUBLE_EQ(s.rate(0), 0.1);
  EXPECT_DOUBLE_EQ(s.rate(1), 2.0);
  EXPECT_DOUBLE_EQ(s.rate(4), 0.25);
  s.kind = ScheduleKind::cosine;
  s.warmup = 10;
  s.min_lr = 0.01;
  EXPECT_DOUBLE_EQ(s.rate(0), 0.01);  // warmup: lr (t + 1) / warmup
  EXPECT_DOUBLE_EQ(s.rate(9), 0.1);
  EXPECT_DOUBLE_EQ(s.rate(10), 0.1);                  // start of the cosine
  EXPECT_NEAR(s.rate(55), 0.01 + 0.09 * 0.5, 1e-15);  // halfway
  EXPECT_NEAR(s.rate(100), 0.01, 1e-15);
  s.kind = ScheduleKind::piecewise;
  s.pieces = 3;
  s.start[0] = 0, s.start[1] = 5, s.start[2] = 50;
  s.value[0] = 1, s.value[1] = 2, s.value[2] = 3;
  EXPECT_EQ(s.rate(0), 1);
  EXPECT_EQ(s.rate(4), 1);
  EXPECT_EQ(s.rate(5), 2);
  EXPECT_EQ(s.rate(99), 3);
}

std::vector<double> direction(const OptimizerParams& op, int t, int rows, int cols,
                              const std::vector<double>& G, std::vector<double>& s1,
                              std::vector<double>& s2) {
  std::vector<double> D(G.size()), work(update_direction_workspace(rows, cols));
  update_direction(op, t, rows, cols, G.data(), s1.data(), s2.data(), D.data(), work.data());
  return D;
}

// Muon without momentum is SpecGD; with momentum its first step orthogonalizes (1 + beta) G
// (Nesterov), which is orth(G).
TEST(Muon, ReducesToSpecGdWithoutMomentumAndOnItsFirstStep) {
  const int rows = 9, cols = 4;
  const auto G = testing::with_spectrum(rows, cols, {2.0, 1.0, 0.5, 0.1}, 3);
  std::vector<double> s1(G.size(), 0.0), s2(G.size(), 0.0);
  OptimizerParams spec;
  spec.kind = OptimizerKind::specgd;
  const auto expected = direction(spec, 0, rows, cols, G, s1, s2);
  OptimizerParams muon = spec;
  muon.kind = OptimizerKind::muon;
  for (double beta : {0.0, 0.95}) {
    muon.momentum = beta;
    std::fill(s1.begin(), s1.end(), 0.0);
    const auto d = direction(muon, 0, rows, cols, G, s1, s2);
    for (size_t i = 0; i < G.size(); ++i) EXPECT_NEAR(d[i], expected[i], 1e-13);
  }
  // Shape scale sqrt(max(1, rows/cols)) multiplies the update.
  muon.shape_scale = ShapeScale::sqrt_ratio;
  std::fill(s1.begin(), s1.end(), 0.0);
  const auto scaled = direction(muon, 0, rows, cols, G, s1, s2);
  for (size_t i = 0; i < G.size(); ++i) EXPECT_NEAR(scaled[i], expected[i] * 1.5, 1e-13);
  // The momentum buffer accumulates B <- beta B + G.
  for (size_t i = 0; i < G.size(); ++i) EXPECT_NEAR(s1[i], G[i], 1e-15);
}

// momentum_order = "post_polar" accumulates polar factors: B_t = beta B_{t-1} + orth(G_t), and the
// step is orth(G_t) + beta B_t (Nesterov) or B_t. Two steps from two gradients of different
// spectra, against that definition with SpecGD's orth; pre_polar's orth(G_1 + beta B_1) is
// another matrix (the gradients' scales enter it).
TEST(Muon, PostPolarMomentumAccumulatesPolarFactors) {
  const int rows = 9, cols = 4;
  const auto G0 = testing::with_spectrum(rows, cols, {2.0, 1.0, 0.5, 0.1}, 3);
  const auto G1 = testing::with_spectrum(rows, cols, {30.0, 0.2, 0.1, 0.05}, 4);
  std::vector<double> s1(G0.size(), 0.0), s2(G0.size(), 0.0), none(G0.size(), 0.0);
  OptimizerParams spec;
  spec.kind = OptimizerKind::specgd;
  const auto O0 = direction(spec, 0, rows, cols, G0, none, none);
  const auto O1 = direction(spec, 1, rows, cols, G1, none, none);
  const double beta = 0.9;
  for (bool nesterov : {true, false}) {
    OptimizerParams post = spec;
    post.kind = OptimizerKind::muon;
    post.momentum = beta;
    post.nesterov = nesterov;
    post.momentum_order = MomentumOrder::post_polar;
    std::fill(s1.begin(), s1.end(), 0.0);
    direction(post, 0, rows, cols, G0, s1, s2);
    const auto D1 = direction(post, 1, rows, cols, G1, s1, s2);
    double gap_to_pre = 0;
    OptimizerParams pre = post;
    pre.momentum_order = MomentumOrder::pre_polar;
    std::vector<double> p1(G0.size(), 0.0);
    direction(pre, 0, rows, cols, G0, p1, s2);
    const auto P1 = direction(pre, 1, rows, cols, G1, p1, s2);
    for (size_t i = 0; i < G0.size(); ++i) {
      const double buffer = beta * O0[i] + O1[i];
      EXPECT_NEAR(s1[i], buffer, 1e-13);
      EXPECT_NEAR(D1[i], nesterov ? O1[i] + beta * buffer : buffer, 1e-13)
          << "nesterov " << nesterov;
      gap_to_pre = std::max(gap_to_pre, std::abs(D1[i] - P1[i]));
    }
    EXPECT_GT(gap_to_pre, 0.1) << "post_polar must not coincide with pre_polar here";
  }
}

// Adam's first step is g / (|g| + eps) per entry after bias correction.
TEST(Adam, FirstStepIsSignLike) {
  const std::vector<double> G = {0.5, -2.0, 1e-3, 0.0};
  std::vector<double> s1(4, 0.0), s2(4, 0.0);
  OptimizerParams op;
  op.kind = OptimizerKind::adam;
  op.eps = 1e-8;
  const auto d = direction(op, 0, 2, 2, G, s1, s2);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(d[i], G[i] / (std::abs(G[i]) + 1e-8), 1e-12);
}

}  // namespace
}  // namespace specsweep
