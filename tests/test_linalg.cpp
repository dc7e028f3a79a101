// Small dense linear algebra: SVD accuracy against prescribed spectra, and lane independence of
// the branch-free algorithms (a seed's result does not depend on its pack-mates).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/orthogonalize.hpp"
#include "core/trajectory.hpp"
#include "cpu/pack.hpp"
#include "test_helpers.hpp"

namespace specsweep {
namespace {

using testing::geometric;
using testing::singular_values;
using testing::with_spectrum;

struct SvdCase {
  int rows, cols;
  double condition;
};

class ThinSvd : public ::testing::TestWithParam<SvdCase> {};

TEST_P(ThinSvd, RecoversPrescribedSpectrumAndFactors) {
  const auto c = GetParam();
  const int p = std::min(c.rows, c.cols);
  const auto sigma = geometric(p, 3.0, c.condition);
  const auto A = with_spectrum(c.rows, c.cols, sigma, 17);
  std::vector<double> U(c.rows * p), V(c.cols * p), s(p), work(thin_svd_workspace(c.rows, c.cols));
  thin_svd(c.rows, c.cols, A.data(), U.data(), s.data(), V.data(), work.data());
  // Reconstruction A = U diag(s) V^T and orthonormality, to fp64 working accuracy.
  for (int i = 0; i < c.rows; ++i)
    for (int j = 0; j < c.cols; ++j) {
      double acc = 0;
      for (int k = 0; k < p; ++k) acc += U[i * p + k] * s[k] * V[j * p + k];
      EXPECT_NEAR(acc, A[i * c.cols + j], 1e-13 * 3.0);
    }
  for (int a = 0; a < p; ++a)
    for (int b = 0; b < p; ++b) {
      double uu = 0, vv = 0;
      for (int i = 0; i < c.rows; ++i) uu += U[i * p + a] * U[i * p + b];
      for (int i = 0; i < c.cols; ++i) vv += V[i * p + a] * V[i * p + b];
      EXPECT_NEAR(uu, a == b ? 1.0 : 0.0, 1e-13);
      EXPECT_NEAR(vv, a == b ? 1.0 : 0.0, 1e-13);
    }
  sort_descending(p, s.data());
  for (int k = 0; k < p; ++k) EXPECT_NEAR(s[k] / sigma[k], 1.0, 1e-12 * c.condition) << "k=" << k;
}

INSTANTIATE_TEST_SUITE_P(Shapes, ThinSvd,
                         ::testing::Values(SvdCase{60, 5, 10}, SvdCase{5, 70, 10},
                                           SvdCase{16, 16, 100}, SvdCase{128, 8, 1e3},
                                           SvdCase{3, 3, 1}, SvdCase{1, 9, 1}));

// The exact polar factor and the singular values at the shapes the papers use, in both precisions,
// against what holds independently of the algorithm: singular values against the prescribed
// spectrum (fp64) or against the fp64 SVD of the same fp32-rounded input, each to eps * condition
// (the sensitivity of a singular value to one rounding of the input); the polar factor P
// orthonormal to a few p * eps whatever the condition, and A = P H with H = P^T A symmetric
// (backward stability).
struct PolarCase {
  int rows, cols;
  double condition;
};

template <class T>
void check_polar_and_spectrum(const PolarCase& c) {
  const int p = std::min(c.rows, c.cols);
  const double eps = std::numeric_limits<T>::epsilon();
  const auto sigma = geometric(p, 2.0, c.condition);
  const auto exact = with_spectrum(c.rows, c.cols, sigma, 23);
  std::vector<T> A(exact.size());
  std::vector<double> rounded(exact.size());
  for (size_t i = 0; i < A.size(); ++i) rounded[i] = double(A[i] = T(exact[i]));
  // Reference spectrum: the prescribed one in fp64; the fp64 SVD of the rounded input in fp32.
  const auto reference = sizeof(T) == 8 ? sigma : singular_values(c.rows, c.cols, rounded);
  std::vector<T> U(c.rows * p), V(c.cols * p), s(p), work(thin_svd_workspace(c.rows, c.cols));
  thin_svd(c.rows, c.cols, A.data(), U.data(), s.data(), V.data(), work.data());
  sort_descending(p, s.data());
  for (int k = 0; k < p; ++k)
    EXPECT_NEAR(double(s[k]) / reference[k], 1.0, 8 * p * eps * c.condition) << "k=" << k;

  std::vector<T> P(c.rows * c.cols), pw(orthogonalize_workspace(c.rows, c.cols));
  polar_exact(c.rows, c.cols, A.data(), P.data(), pw.data());
  // Orthonormal columns (tall) or rows (wide) of P.
  double orth = 0;
  for (int a = 0; a < p; ++a)
    for (int b = 0; b < p; ++b) {
      double acc = 0;
      if (c.rows >= c.cols)
        for (int i = 0; i < c.rows; ++i)
          acc += double(P[i * c.cols + a]) * double(P[i * c.cols + b]);
      else
        for (int j = 0; j < c.cols; ++j)
          acc += double(P[a * c.cols + j]) * double(P[b * c.cols + j]);
      orth = std::max(orth, std::abs(acc - (a == b)));
    }
  EXPECT_LT(orth, 4 * p * eps) << "orthogonality";
  // H = P^T A (tall) or A P^T (wide) is symmetric: the polar factor is the one of A, not of a
  // rotated matrix.
  std::vector<double> H(p * p, 0.0);
  for (int a = 0; a < p; ++a)
    for (int b = 0; b < p; ++b)
      if (c.rows >= c.cols)
        for (int i = 0; i < c.rows; ++i)
          H[a * p + b] += double(P[i * c.cols + a]) * rounded[i * c.cols + b];
      else
        for (int j = 0; j < c.cols; ++j)
          H[a * p + b] += rounded[a * c.cols + j] * double(P[b * c.cols + j]);
  double asym = 0;
  for (int a = 0; a < p; ++a)
    for (int b = 0; b < p; ++b) asym = std::max(asym, std::abs(H[a * p + b] - H[b * p + a]));
  EXPECT_LT(asym / sigma[0], 4 * p * eps) << "symmetry of P^T A";
}

class PolarAndSpectrum : public ::testing::TestWithParam<PolarCase> {};
TEST_P(PolarAndSpectrum, Fp64) {
  check_polar_and_spectrum<double>(GetParam());
}
TEST_P(PolarAndSpectrum, Fp32) {
  PolarCase c = GetParam();
  c.condition = std::min(c.condition, 1e6);
  check_polar_and_spectrum<float>(c);
}

// Square shapes around the powers of two (the stride of the Jacobi rows), Rhee's N = d = 32 and
// 128, the wide and tall factors of an overparameterized d = 4 N, and conditions to 1e12.
INSTANTIATE_TEST_SUITE_P(Shapes, PolarAndSpectrum,
                         ::testing::Values(PolarCase{8, 8, 1e3}, PolarCase{31, 31, 1e6},
                                           PolarCase{32, 32, 1e12}, PolarCase{33, 33, 1e6},
                                           PolarCase{64, 64, 1e12}, PolarCase{128, 128, 1e6},
                                           PolarCase{512, 128, 1e12}, PolarCase{128, 512, 1e3},
                                           PolarCase{65, 40, 1e9}));

TEST(PolarExact, RankDeficientSquareGivesPartialIsometryAtAnyStride) {
  for (int p : {31, 32, 33}) {
    std::vector<double> sigma = geometric(p, 1.0, 1e3);
    for (int k = p / 2; k < p; ++k) sigma[k] = 0.0;
    const auto A = with_spectrum(p, p, sigma, 5);
    std::vector<double> P(p * p), work(orthogonalize_workspace(p, p));
    polar_exact(p, p, A.data(), P.data(), work.data());
    // P^T P is the projector onto the row space: trace p / 2 (the nonzero singular values),
    // idempotent.
    std::vector<double> PtP(p * p, 0.0);
    for (int a = 0; a < p; ++a)
      for (int b = 0; b < p; ++b)
        for (int i = 0; i < p; ++i) PtP[a * p + b] += P[i * p + a] * P[i * p + b];
    double trace = 0;
    for (int a = 0; a < p; ++a) trace += PtP[a * p + a];
    EXPECT_NEAR(trace, p / 2, 1e-12) << "p=" << p;
    for (int a = 0; a < p; ++a)
      for (int b = 0; b < p; ++b) {
        double sq = 0;
        for (int k = 0; k < p; ++k) sq += PtP[a * p + k] * PtP[k * p + b];
        EXPECT_NEAR(sq, PtP[a * p + b], 1e-12) << "p=" << p;
      }
  }
}

TEST(ThinSvd, RankDeficientGivesExactZeros) {
  const auto A = with_spectrum(40, 6, {2.0, 1.0, 0.5, 0.0, 0.0, 0.0}, 3);
  const auto s = singular_values(40, 6, A);
  EXPECT_NEAR(s[0], 2.0, 1e-13);
  EXPECT_NEAR(s[2], 0.5, 1e-13);
  for (int k = 3; k < 6; ++k) EXPECT_LT(s[k], 1e-14);
}

// fp32 singular values of W = F1 F2 spanning six decades, from the factors (record_metrics):
// each accurate relative to itself, which squaring W through a Gram cannot achieve in fp32.
TEST(RecordMetrics, SingularValuesOfProductAreRelativelyAccurateInFp32) {
  const int m = 30, n = 24, r = 4;
  const std::vector<double> a = {2.0, 0.1, 3e-3, 1e-4}, b = {1.5, 0.2, 1e-2, 2e-2};
  const auto U = testing::orthonormal_columns(m, r, 5), V = testing::orthonormal_columns(n, r, 6);
  // Graded factors, as in LoRA training: F1 = U diag(a), F2 = diag(b) V^T, so W = U diag(a b) V^T
  // and each column/row is stored to fp32 accuracy relative to its own scale.
  std::vector<float> F(m * r + r * n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < r; ++j) F[i * r + j] = float(U[i * r + j] * a[j]);
  for (int i = 0; i < r; ++i)
    for (int j = 0; j < n; ++j) F[m * r + i * n + j] = float(b[i] * V[j * r + i]);
  const Shape sh{m, n, r, 2};
  std::vector<float> M(m * n, 0.f), Ut(m, 0.f), Vt(n, 0.f), s = {1.f};
  Ut[0] = Vt[0] = 1.f;
  const TargetView<float> tg{M.data(), Ut.data(), Vt.data(), s.data(), 1, 0.5f};
  std::vector<float> work(record_metrics_workspace(sh)), arrays(metrics_values(sh, 1));
  RecordMetrics<float> out = metrics_view(sh, 1, arrays.data());
  record_metrics(sh, tg, 0.0f, BlockTolerance{}, F.data(), F.data() + m * r, out, work.data());
  std::vector<double> expected = {3.0, 0.02, 3e-5, 2e-6};  // a_k b_k, sorted
  for (int k = 0; k < r; ++k) EXPECT_NEAR(out.sv[k] / expected[k], 1.0, 2e-4) << "k=" << k;
  // Balance: sqrt(F1^T F1) - sqrt(F2 F2^T) = diag(a - b), F1^T F1 - F2 F2^T = diag(a^2 - b^2).
  double d1 = 0, d2 = 0;
  for (int i = 0; i < r; ++i) {
    for (int j = 0; j < r; ++j) {
      EXPECT_NEAR(out.delta1[i * r + j], i == j ? a[i] - b[i] : 0.0, 2e-6) << i << "," << j;
      EXPECT_NEAR(out.delta2[i * r + j], i == j ? a[i] * a[i] - b[i] * b[i] : 0.0, 2e-6)
          << i << "," << j;
    }
    d1 += (a[i] - b[i]) * (a[i] - b[i]);
    d2 += std::pow(a[i] * a[i] - b[i] * b[i], 2);
  }
  EXPECT_NEAR(out.delta1_norm, std::sqrt(d1), 2e-6);
  EXPECT_NEAR(out.delta2_norm, std::sqrt(d2), 4e-6);
  // Effective rank from the same values.
  double total = 0, ent = 0;
  for (double e : expected) total += e;
  for (double e : expected) ent -= e / total * std::log(e / total);
  EXPECT_NEAR(out.effective_rank, std::exp(ent), 1e-4);
  // The energy's entropy: W is almost rank one, q_1 = 1 - 4.4e-5.
  double energy = 0, energy_entropy = 0;
  for (double e : expected) energy += e * e;
  for (double e : expected) energy_entropy -= e * e / energy * std::log(e * e / energy);
  EXPECT_NEAR(out.spectral_entropy / energy_entropy, 1.0, 1e-3);
}

// Lane i of a pack computes exactly what it would compute with any other pack-mates.
TEST(Lanes, ResultsDoNotDependOnPackMates) {
  using P = NativePack<float>;
  constexpr int W = LaneTraits<P>::width;
  const int rows = 20, cols = 4;
  const auto A = with_spectrum(rows, cols, {1.0, 1e-2, 1e-4, 0.0}, 11);
  std::vector<P> same(rows * cols), mixed(rows * cols);
  for (int e = 0; e < rows * cols; ++e) {
    for (int l = 0; l < W; ++l) {
      set_lane(same[e], l, float(A[e]));
      set_lane(mixed[e], l, l == 0 ? float(A[e]) : float(std::sin(e * 0.7 + l)));
    }
  }
  auto polar = [&](const std::vector<P>& in) {
    std::vector<P> out(rows * cols), work(orthogonalize_workspace(rows, cols));
    polar_exact(rows, cols, in.data(), out.data(), work.data());
    return out;
  };
  const auto a = polar(same), b = polar(mixed);
  for (int e = 0; e < rows * cols; ++e) EXPECT_EQ(lane(a[e], 0), lane(b[e], 0)) << "entry " << e;
}

}  // namespace
}  // namespace specsweep
