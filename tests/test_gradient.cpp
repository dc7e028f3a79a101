// The factorization's loss and gradient against central finite differences in fp64, for depth 2
// and 3 with l2 > 0, and the per-step loss and ||W||^2 against the explicit residual. Depth 2 runs
// in both of evaluate()'s forms: the Gram form (20 x 18, r = 2) and the residual form (7 x 6, r =
// 3); the symmetric problem W = X X^T (symmetric M, one factor) at r below, at and above n; the
// weighted loss 1/2 sum a_i b_j (W - M)_ij^2 of kind = "icl", also at a shape whose unweighted loss
// takes the Gram form; the sensing loss 1/2 sum_k <A_k, W - M>^2 of kind = "sensing" (fewer and
// more measurements than entries).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "core/metrics.hpp"
#include "test_helpers.hpp"

namespace specsweep {
namespace {

struct GradCase {
  int m, n, r, depth;
  double l2;
  bool symmetric = false;
  bool weighted = false;
  int measurements = 0;  // > 0: the sensing loss (weighted must be true)
};

class Gradient : public ::testing::TestWithParam<GradCase> {};

TEST_P(Gradient, MatchesCentralFiniteDifferences) {
  const auto c = GetParam();
  const Shape sh{c.m, c.n, c.r, c.depth, c.symmetric, c.weighted};
  SCOPED_TRACE(c.symmetric                             ? "symmetric"
               : c.weighted                            ? "weighted"
               : residual_form(c.m, c.n, c.r, c.depth) ? "residual form"
                                                       : "Gram form");
  const RandomStream stream(3, 0, 0, Purpose::init, 0);
  std::vector<double> M(c.m * c.n), F(sh.total()), G(sh.total()), work(EvalLayout(sh).total);
  for (int i = 0; i < c.m * c.n; ++i) M[i] = stream.normal(i);
  if (c.symmetric)  // the symmetric problem's target is symmetric
    for (int i = 0; i < c.n; ++i)
      for (int j = 0; j < i; ++j) M[j * c.n + i] = M[i * c.n + j];
  for (int i = 0; i < sh.total(); ++i) F[i] = 0.5 * stream.normal(100000 + i);
  auto spd = [&](int k, std::uint64_t at) { return testing::random_spd(k, stream, at); };
  const bool sensed = c.measurements > 0, two_sided = c.weighted && !sensed;
  const std::vector<double> A = two_sided ? spd(c.m, 200000) : std::vector<double>(),
                            B = two_sided ? spd(c.n, 300000) : std::vector<double>();
  std::vector<double> S(static_cast<std::size_t>(c.measurements) * c.m * c.n);
  for (std::size_t i = 0; i < S.size(); ++i)
    S[i] = stream.normal(400000 + i) / std::sqrt(double(c.measurements));
  if (c.symmetric)  // X X^T is measured by symmetric matrices
    for (int k = 0; k < c.measurements; ++k)
      for (int i = 0; i < c.n; ++i)
        for (int j = 0; j < i; ++j) {
          double* Ak = S.data() + static_cast<std::size_t>(k) * c.n * c.n;
          Ak[j * c.n + i] = Ak[i * c.n + j];
        }
  // The weighted loss of a residual D: 1/2 <D, A D B> (1/2 ||D||^2 unweighted), summed plainly.
  auto half_weighted = [&](const std::vector<double>& D) {
    double total = 0;
    if (sensed) {
      for (int k = 0; k < c.measurements; ++k) {
        double y = 0;
        for (int e = 0; e < c.m * c.n; ++e)
          y += S[static_cast<std::size_t>(k) * c.m * c.n + e] * D[e];
        total += 0.5 * y * y;
      }
      return total;
    }
    for (int i = 0; i < c.m; ++i)
      for (int j = 0; j < c.n; ++j) {
        if (!c.weighted) {
          total += 0.5 * D[i * c.n + j] * D[i * c.n + j];
          continue;
        }
        double adb = 0;
        for (int k = 0; k < c.m; ++k)
          for (int l = 0; l < c.n; ++l) adb += A[i * c.m + k] * D[k * c.n + l] * B[l * c.n + j];
        total += 0.5 * D[i * c.n + j] * adb;
      }
    return total;
  };
  const double half = half_weighted(M);
  const std::vector<double> none(1, 0.0);
  const TargetView<double> tg{M.data(),
                              none.data(),
                              none.data(),
                              none.data(),
                              0,
                              half,
                              two_sided ? A.data() : nullptr,
                              two_sided ? B.data() : nullptr,
                              sensed ? S.data() : nullptr,
                              c.measurements};
  auto loss_at = [&](const std::vector<double>& x) {
    std::vector<double> g(sh.total());
    return evaluate(sh, tg, c.l2, x.data(), g.data(), work.data()).loss;
  };
  evaluate(sh, tg, c.l2, F.data(), G.data(), work.data());
  const double h = 1e-5;
  double max_err = 0, max_g = 0;
  for (int i = 0; i < sh.total(); ++i) {
    auto plus = F, minus = F;
    plus[i] += h;
    minus[i] -= h;
    const double fd = (loss_at(plus) - loss_at(minus)) / (2 * h);
    max_err = std::max(max_err, std::abs(fd - G[i]));
    max_g = std::max(max_g, std::abs(G[i]));
  }
  // Central differences: truncation O(h^2 f''') ~ 1e-10 and rounding ~ eps f / h ~ 1e-9 here.
  EXPECT_LT(max_err, 1e-7 * std::max(1.0, max_g));

  // The loss and ||W||^2 equal the explicit residual's.
  const EvalResult<double> ev = evaluate(sh, tg, c.l2, F.data(), G.data(), work.data());
  double res = 0, pen = 0, w2 = 0;
  std::vector<double> W(c.m * c.n);
  const double* right = work.data() + EvalLayout(sh).right;
  if (c.symmetric)
    gemm_nt(c.n, c.n, c.r, F.data(), F.data(), W.data());
  else
    gemm_nn(c.m, c.n, c.r, F.data(), right, W.data());
  if (c.symmetric) {
    // right holds X^T, through which the residual loss and the core diagonal read W = X X^T.
    std::vector<double> W_right(c.m * c.n);
    gemm_nn(c.m, c.n, c.r, F.data(), right, W_right.data());
    for (int i = 0; i < c.m * c.n; ++i) EXPECT_NEAR(W_right[i], W[i], 1e-12 * (1 + std::abs(W[i])));
  }
  std::vector<double> D(c.m * c.n);
  for (int i = 0; i < c.m * c.n; ++i) D[i] = W[i] - M[i], w2 += W[i] * W[i];
  res = half_weighted(D);
  for (double v : F) pen += 0.5 * c.l2 * v * v;
  EXPECT_NEAR(ev.loss, res + pen, 1e-10 * (res + pen));
  EXPECT_NEAR(ev.w_norm2, w2, 1e-12 * w2);
  // The record steps' accurate loss reads W through the same right factor.
  std::vector<double> w_row(RecordLayout(sh).q);
  EXPECT_NEAR(residual_loss(sh, tg, c.l2, F.data(), right, w_row.data()), res + pen,
              1e-10 * (res + pen));
}

INSTANTIATE_TEST_SUITE_P(
    Depths, Gradient,
    ::testing::Values(
        GradCase{7, 6, 3, 2, 0.0}, GradCase{7, 6, 3, 2, 0.3}, GradCase{20, 18, 2, 2, 0.0},
        GradCase{20, 18, 2, 2, 0.3}, GradCase{5, 8, 4, 3, 0.2}, GradCase{6, 5, 2, 4, 0.1},
        GradCase{9, 4, 4, 3, 0.0}, GradCase{7, 7, 3, 1, 0.0, true}, GradCase{7, 7, 3, 1, 0.3, true},
        GradCase{5, 5, 5, 1, 0.1, true}, GradCase{4, 4, 6, 1, 0.0, true},
        GradCase{7, 7, 3, 2, 0.0, false, true}, GradCase{20, 20, 2, 2, 0.0, false, true},
        GradCase{5, 5, 8, 2, 0.0, false, true}, GradCase{7, 6, 3, 2, 0.0, false, true, 20},
        GradCase{7, 6, 3, 2, 0.3, false, true, 90}, GradCase{20, 18, 2, 2, 0.0, false, true, 150},
        GradCase{7, 7, 3, 1, 0.0, true, true, 20}, GradCase{6, 6, 8, 1, 0.2, true, true, 60}));

}  // namespace
}  // namespace specsweep
