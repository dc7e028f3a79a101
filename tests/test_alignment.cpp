// The block alignment score and the sign of det W(0) (kernels/core/metrics.hpp), and the
// record-step metrics of overparameterized shapes (r > min(m, n)), against closed forms and
// independent fp64 references.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "core/trajectory.hpp"
#include "cpu/pack.hpp"
#include "test_helpers.hpp"

namespace specsweep {
namespace {

using testing::orthonormal_columns;
using Matrix = std::vector<double>;

// The score of A (N x pa, column values a) against B (N x pb, values b), in double.
double score(int N, int pa, const Matrix& A, const std::vector<double>& a, int pb, const Matrix& B,
             const std::vector<double>& b, BlockTolerance tol = {0.08, 0.0}) {
  std::vector<double> work(block_alignment_workspace(std::max(pa, pb)));
  return block_alignment(N, pa, A.data(), a.data(), pb, B.data(), b.data(), tol, work.data());
}

// Columns `cols` of the N x p matrix Q, in that order.
Matrix columns(int N, int p, const Matrix& Q, const std::vector<int>& cols) {
  Matrix out;
  for (int i = 0; i < N; ++i)
    for (int c : cols) out.push_back(Q[i * p + c]);
  return out;
}

// Q with columns j and k replaced by (c q_j + s q_k, -s q_j + c q_k).
Matrix rotate(int N, int p, Matrix Q, int j, int k, double theta) {
  const double c = std::cos(theta), s = std::sin(theta);
  for (int i = 0; i < N; ++i) {
    const double a = Q[i * p + j], b = Q[i * p + k];
    Q[i * p + j] = c * a + s * b;
    Q[i * p + k] = -s * a + c * b;
  }
  return Q;
}

TEST(BlockAlignment, IdenticalBasesScoreOne) {
  const auto Q = orthonormal_columns(7, 4, 1);
  EXPECT_NEAR(score(7, 4, Q, {4, 3, 2, 1}, 4, Q, {4, 3, 2, 1}), 1.0, 1e-14);
}

TEST(BlockAlignment, RotationWithinSeparatedModesGivesCosSquared) {
  const double theta = 0.3, c2 = std::cos(theta) * std::cos(theta);
  const auto Q = orthonormal_columns(6, 3, 2);
  const auto B = rotate(6, 3, Q, 0, 1, theta);
  // Pairs (0, 0) and (1, 1) overlap by cos^2, pair (2, 2) by 1; the cross terms are other blocks.
  EXPECT_NEAR(score(6, 3, Q, {3, 2, 1}, 3, B, {3, 2, 1}), (2 * c2 + 1) / 3, 1e-14);
  // Misalignment of a quarter turn: the two vectors swapped, score 1/3.
  EXPECT_NEAR(score(6, 3, Q, {3, 2, 1}, 3, rotate(6, 3, Q, 0, 1, std::acos(0.0)), {3, 2, 1}),
              1.0 / 3, 1e-14);
}

TEST(BlockAlignment, ADegeneratePairInEitherSpectrumIsOneBlock) {
  const auto Q = orthonormal_columns(6, 3, 3);
  const auto B = rotate(6, 3, Q, 0, 1, 0.7);
  EXPECT_NEAR(score(6, 3, Q, {2, 2, 1}, 3, B, {3, 2, 1}), 1.0, 1e-14);
  EXPECT_NEAR(score(6, 3, Q, {3, 2, 1}, 3, B, {2, 2, 1}), 1.0, 1e-14);
  // A rotation across blocks is still seen.
  const auto C = rotate(6, 3, Q, 1, 2, 0.7);
  const double c2 = std::cos(0.7) * std::cos(0.7);
  EXPECT_NEAR(score(6, 3, Q, {2, 2, 1}, 3, C, {2, 2, 1}), (1 + c2 + c2) / 3, 1e-14);
}

// The authors' rule (muon-mfac fig3): a spectrum splits between a >= b only when a > (1 + rtol) b
// and a - b > atol.
TEST(BlockAlignment, NeighboursSplitOnlyBeyondBothRtolAndAtol) {
  const auto Q = orthonormal_columns(5, 3, 4);
  const auto B = rotate(5, 3, Q, 0, 1, 0.5);
  const double split = (2 * std::cos(0.5) * std::cos(0.5) + 1) / 3;
  auto with = [&](std::vector<double> a, BlockTolerance tol) {
    return score(5, 3, Q, a, 3, B, a, tol);
  };
  EXPECT_NEAR(with({1.0, 0.93, 0.1}, {0.08, 0.0}), 1.0, 1e-14);  // 1 / 0.93 = 1.075 <= 1.08
  EXPECT_NEAR(with({1.0, 0.925, 0.1}, {0.08, 0.0}), split,
              1e-14);  // 1.081 > 1.08: rtol of the smaller
  EXPECT_NEAR(with({1.0, 0.90, 0.1}, {0.08, 0.0}), split, 1e-14);
  EXPECT_NEAR(with({1.0, 0.99, 0.1}, {0.0, 0.02}), 1.0, 1e-14);    // 0.01 <= atol
  EXPECT_NEAR(with({1.0, 0.97, 0.1}, {0.0, 0.02}), split, 1e-14);  // 0.03 > atol
  // Both, not their sum: 0.1 exceeds 0.08 * 0.9 and 0.05 but not 0.08 * 0.9 + 0.05.
  EXPECT_NEAR(with({1.0, 0.90, 0.1}, {0.08, 0.05}), split, 1e-14);
  EXPECT_NEAR(with({1.0, 0.90, 0.1}, {0.08, 0.2}), 1.0, 1e-14);  // 0.1 <= atol
  EXPECT_NEAR(with({1.0, 0.90, 0.1}, {0.2, 0.05}), 1.0, 1e-14);  // 1.11 <= 1.2
  // Chains merge: every neighbour within tolerance makes one block, however wide.
  EXPECT_NEAR(with({1.0, 0.95, 0.9}, {0.06, 0.0}), 1.0, 1e-14);
}

TEST(BlockAlignment, ColumnOrderDoesNotMatter) {
  const auto Q = orthonormal_columns(8, 4, 5);
  const auto B = rotate(8, 4, rotate(8, 4, Q, 0, 2, 0.4), 1, 3, 0.2);
  const double sorted = score(8, 4, Q, {4, 3, 2, 1}, 4, B, {4, 3, 2, 1});
  const auto Qp = columns(8, 4, Q, {2, 0, 3, 1});
  const auto Bp = columns(8, 4, B, {3, 2, 1, 0});
  EXPECT_NEAR(score(8, 4, Qp, {2, 4, 1, 3}, 4, Bp, {1, 2, 3, 4}), sorted, 1e-14);
  EXPECT_LT(sorted, 0.99);
}

TEST(BlockAlignment, UnequalCountsAreNormalizedByTheSmaller) {
  const auto Q = orthonormal_columns(9, 4, 6);
  const std::vector<double> b = {3, 2, 1, 0.5};
  // The two leading vectors of a 4-vector basis: aligned.
  EXPECT_NEAR(score(9, 2, columns(9, 4, Q, {0, 1}), {3, 2}, 4, Q, b), 1.0, 1e-14);
  EXPECT_NEAR(score(9, 4, Q, b, 2, columns(9, 4, Q, {0, 1}), {3, 2}), 1.0, 1e-14);
  // The trailing two in the leading places: orthogonal to the blocks they are compared with.
  EXPECT_NEAR(score(9, 2, columns(9, 4, Q, {2, 3}), {3, 2}, 4, Q, b), 0.0, 1e-14);
  // A zero vector (a zero singular value) adds nothing.
  Matrix Z = columns(9, 4, Q, {0, 1});
  for (int i = 0; i < 9; ++i) Z[i * 2 + 1] = 0;
  EXPECT_NEAR(score(9, 2, Z, {3, 0}, 4, Q, b), 0.5, 1e-14);
}

// Each lane of a pack scores its own bases, whatever its pack-mates hold.
TEST(BlockAlignment, LanesAreIndependent) {
  using P = NativePack<double>;
  constexpr int W = LaneTraits<P>::width;
  const int N = 6, p = 3;
  const auto Q = orthonormal_columns(N, p, 7);
  std::vector<P> A(N * p), B(N * p), a(p), b(p), work(block_alignment_workspace(p));
  std::vector<double> expected(W);
  for (int l = 0; l < W; ++l) {
    const double theta = 0.1 * l;
    const auto R = rotate(N, p, Q, l % 2, 2, theta);
    const std::vector<double> av = {3, 2 + 0.5 * (l % 3), 1}, bv = {3, 2, 1};
    for (int e = 0; e < N * p; ++e) set_lane(A[e], l, Q[e]), set_lane(B[e], l, R[e]);
    for (int j = 0; j < p; ++j) set_lane(a[j], l, av[j]), set_lane(b[j], l, bv[j]);
    expected[l] = score(N, p, Q, av, p, R, bv);
  }
  const P got = block_alignment(N, p, A.data(), a.data(), p, B.data(), b.data(), BlockTolerance{},
                                work.data());
  for (int l = 0; l < W; ++l) EXPECT_NEAR(lane(got, l), expected[l], 1e-14) << "lane " << l;
}

// Reference: the sign of det A by Gaussian elimination with partial pivoting.
double lu_det_sign(int p, Matrix A) {
  double sign = 1;
  for (int j = 0; j < p; ++j) {
    int piv = j;
    for (int i = j + 1; i < p; ++i)
      if (std::fabs(A[i * p + j]) > std::fabs(A[piv * p + j])) piv = i;
    if (A[piv * p + j] == 0) return 0;
    if (piv != j) {
      for (int c = 0; c < p; ++c) std::swap(A[j * p + c], A[piv * p + c]);
      sign = -sign;
    }
    if (A[j * p + j] < 0) sign = -sign;
    for (int i = j + 1; i < p; ++i) {
      const double f = A[i * p + j] / A[j * p + j];
      for (int c = j; c < p; ++c) A[i * p + c] -= f * A[j * p + c];
    }
  }
  return sign;
}

double det_sign_of(int p, Matrix A) {
  std::vector<double> work(2 * p * p + p);
  return det_sign(p, A.data(), work.data());
}

TEST(DetSign, KnownMatrices) {
  EXPECT_EQ(det_sign_of(3, {1, 0, 0, 0, 1, 0, 0, 0, 1}), 1.0);
  EXPECT_EQ(det_sign_of(3, {-1, 0, 0, 0, 1, 0, 0, 0, 1}), -1.0);
  EXPECT_EQ(det_sign_of(3, {0, 1, 0, 1, 0, 0, 0, 0, 1}), -1.0);  // a swap
  const double c = std::cos(2.0), s = std::sin(2.0);
  EXPECT_EQ(det_sign_of(2, {c, -s, s, c}), 1.0);   // a rotation
  EXPECT_EQ(det_sign_of(2, {c, s, s, -c}), -1.0);  // a reflection
  EXPECT_EQ(det_sign_of(1, {-3}), -1.0);
  EXPECT_EQ(det_sign_of(3, {1, 0, 2, 4, 0, 5, 7, 0, 9}), 0.0);  // a zero column
}

TEST(DetSign, MatchesEliminationOnRandomAndOrthogonalMatrices) {
  int negative = 0, total = 0;
  for (int p = 1; p <= 9; ++p)
    for (std::uint32_t seed = 0; seed < 12; ++seed) {
      const RandomStream stream(3, p, seed, Purpose::init, 0);
      Matrix G(p * p);
      for (int i = 0; i < p * p; ++i) G[i] = stream.normal(i);
      EXPECT_EQ(det_sign_of(p, G), lu_det_sign(p, G)) << p << " " << seed;
      const auto O = orthonormal_columns(p, p, 100 * p + seed);
      const double sign = lu_det_sign(p, O);
      EXPECT_EQ(det_sign_of(p, O), sign) << p << " " << seed;
      negative += sign < 0, ++total;
    }
  EXPECT_GT(negative, total / 4);  // both signs occur
  EXPECT_LT(negative, 3 * total / 4);
}

// F1 = a O1, F2 = a O2^T (Rhee's orthogonal init): sign det W = sign det(O1^T O2) = det O1 det O2.
TEST(DetSign, ProductOfSquareFactorsAndNaNOtherwise) {
  const int r = 5;
  for (std::uint32_t seed = 0; seed < 8; ++seed) {
    const auto O1 = orthonormal_columns(r, r, seed), O2 = orthonormal_columns(r, r, 50 + seed);
    Matrix F(2 * r * r);
    for (int i = 0; i < r; ++i)
      for (int j = 0; j < r; ++j)
        F[i * r + j] = 1e-4 * O1[i * r + j], F[r * r + i * r + j] = 1e-4 * O2[j * r + i];
    std::vector<double> work(3 * r * r + r);
    EXPECT_EQ(product_det_sign(Shape{r, r, r, 2}, F.data(), work.data()),
              lu_det_sign(r, O1) * lu_det_sign(r, O2));
  }
  Matrix F(3 * 16, 1.0);
  std::vector<double> work(3 * 16 + 4);
  EXPECT_TRUE(std::isnan(product_det_sign(Shape{4, 3, 4, 2}, F.data(), work.data())));
  EXPECT_TRUE(std::isnan(product_det_sign(Shape{4, 4, 2, 2}, F.data(), work.data())));
  // Depth 3, square: the product of three signs.
  const auto O = orthonormal_columns(4, 4, 9);
  Matrix F3;
  for (int k = 0; k < 3; ++k) F3.insert(F3.end(), O.begin(), O.end());
  EXPECT_EQ(product_det_sign(Shape{4, 4, 4, 3}, F3.data(), work.data()), lu_det_sign(4, O));
}

// ---- record_metrics on overparameterized shapes ----

struct Recorded {
  std::vector<double> arrays;
  RecordMetrics<double> m;
};

// record_metrics of depth-2 factors F = [F1 (m x r), F2 (r x n)] against a target with the given
// bases (m x q, n x q) and spectrum (q values).
Recorded record(int m, int n, int r, const Matrix& F, const Matrix& U, const Matrix& V,
                const std::vector<double>& s, BlockTolerance tol = {}) {
  const int q = static_cast<int>(s.size());
  const Shape sh{m, n, r, 2};
  Matrix M(m * n, 0.0);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j)
      for (int k = 0; k < q; ++k) M[i * n + j] += U[i * q + k] * s[k] * V[j * q + k];
  double half = 0;
  for (double v : s) half += 0.5 * v * v;
  const TargetView<double> tg{M.data(), U.data(), V.data(), s.data(), q, half};
  Recorded out;
  out.arrays.resize(metrics_values(sh, q));
  out.m = metrics_view(sh, q, out.arrays.data());
  std::vector<double> work(record_metrics_workspace(sh));
  record_metrics(sh, tg, 0.0, tol, F.data(), F.data() + m * r, out.m, work.data());
  return out;
}

struct Wide {
  int m, n, r;
};

class Overparameterized : public ::testing::TestWithParam<Wide> {};

// sigma(W) of random factors against the fp64 SVD of the explicit product: min(m, n, r) values,
// then zeros up to r; the effective rank from them.
TEST_P(Overparameterized, SingularValuesMatchTheExplicitProduct) {
  const auto [m, n, r] = GetParam();
  const RandomStream stream(11, 0, static_cast<std::uint32_t>(m * 100 + n * 10 + r), Purpose::init,
                            0);
  Matrix F(m * r + r * n);
  for (size_t i = 0; i < F.size(); ++i) F[i] = stream.normal(i);
  Matrix W(m * n, 0.0);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j)
      for (int k = 0; k < r; ++k) W[i * n + j] += F[i * r + k] * F[m * r + k * n + j];
  const auto expected = testing::singular_values(m, n, W);
  const auto U = orthonormal_columns(m, 1, 1), V = orthonormal_columns(n, 1, 2);
  const Recorded got = record(m, n, r, F, U, V, {1.0});
  const int p = std::min({m, n, r});
  double total = 0, entropy = 0;
  for (int k = 0; k < p; ++k) total += expected[k];
  for (int k = 0; k < r; ++k) {
    const double want = k < p ? expected[k] : 0.0;
    EXPECT_NEAR(got.m.sv[k], want, 1e-12 * expected[0]) << "k=" << k;
    if (k < p) entropy -= want / total * std::log(want / total);
  }
  EXPECT_NEAR(got.m.effective_rank, std::exp(entropy), 1e-10);
  // The energy's entropy from the same values: q_k = sigma_k^2 / sum sigma^2.
  double energy = 0, energy_entropy = 0;
  for (int k = 0; k < p; ++k) energy += expected[k] * expected[k];
  for (int k = 0; k < p; ++k) {
    const double share = expected[k] * expected[k] / energy;
    if (share > 0) energy_entropy -= share * std::log(share);
  }
  EXPECT_NEAR(got.m.spectral_entropy, energy_entropy, 1e-10);
  // ||F1^T F1 - F2 F2^T||_F from the explicit Grams.
  double d2 = 0;
  for (int a = 0; a < r; ++a)
    for (int b = 0; b < r; ++b) {
      double g1 = 0, g2 = 0;
      for (int i = 0; i < m; ++i) g1 += F[i * r + a] * F[i * r + b];
      for (int j = 0; j < n; ++j) g2 += F[m * r + a * n + j] * F[m * r + b * n + j];
      d2 += (g1 - g2) * (g1 - g2);
    }
  EXPECT_NEAR(got.m.delta2_norm, std::sqrt(d2), 1e-11 * std::sqrt(d2));
}

INSTANTIATE_TEST_SUITE_P(Shapes, Overparameterized,
                         ::testing::Values(Wide{6, 5, 20}, Wide{5, 8, 12}, Wide{9, 4, 6},
                                           Wide{7, 7, 28}, Wide{4, 4, 4}),
                         [](const ::testing::TestParamInfo<Wide>& p) {
                           return std::to_string(p.param.m) + "x" + std::to_string(p.param.n) +
                                  "_r" + std::to_string(p.param.r);
                         });

// Eigenvalues and eigenvectors (columns of an n x n matrix) of a symmetric A by cyclic two-sided
// Jacobi in double: the reference for W's singular vectors, independent of the one-sided Jacobi the
// engine runs on the rows of a QR triangle.
std::pair<std::vector<double>, Matrix> symmetric_eigen(int n, Matrix A) {
  Matrix Z(n * n, 0.0);
  for (int i = 0; i < n; ++i) Z[i * n + i] = 1;
  for (int sweep = 0; sweep < 50; ++sweep) {
    double off = 0;
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j)
        if (i != j) off += A[i * n + j] * A[i * n + j];
    if (off < 1e-30) break;
    for (int p = 0; p < n; ++p)
      for (int q = p + 1; q < n; ++q) {
        if (A[p * n + q] == 0) continue;
        const double tau = (A[q * n + q] - A[p * n + p]) / (2 * A[p * n + q]);
        const double t = (tau >= 0 ? 1 : -1) / (std::abs(tau) + std::sqrt(1 + tau * tau));
        const double c = 1 / std::sqrt(1 + t * t), s = t * c;
        for (int k = 0; k < n; ++k) {  // A <- A J (columns p, q)
          const double x = A[k * n + p], y = A[k * n + q];
          A[k * n + p] = c * x - s * y;
          A[k * n + q] = s * x + c * y;
        }
        for (int k = 0; k < n; ++k) {  // A <- J^T A (rows p, q)
          const double x = A[p * n + k], y = A[q * n + k];
          A[p * n + k] = c * x - s * y;
          A[q * n + k] = s * x + c * y;
        }
        for (int k = 0; k < n; ++k) {  // Z <- Z J
          const double x = Z[k * n + p], y = Z[k * n + q];
          Z[k * n + p] = c * x - s * y;
          Z[k * n + q] = s * x + c * y;
        }
      }
  }
  std::vector<double> values(n);
  for (int i = 0; i < n; ++i) values[i] = A[i * n + i];
  return {values, Z};
}

// Aligned factors of Rhee's overparameterized case d/n = 4: P = U diag(a) R^T, Q = V diag(b) R^T
// with R (r x q) orthonormal (F1 = P, F2 = Q^T): every score is 1, sqrt(P^T P) - sqrt(Q^T Q) =
// R diag(a - b) R^T, and W = U diag(a b) V^T. Rotating two of Q's inner vectors by theta gives the
// inner score (2 cos^2 theta + q - 2) / q and turns W's singular vectors away from U and V.
TEST(OverparameterizedMetrics, AlignedFactorsScoreOneAndDeltaHasItsClosedForm) {
  const int m = 4, n = 4, r = 16, q = 4;
  const auto U = orthonormal_columns(m, q, 21), V = orthonormal_columns(n, q, 22),
             R = orthonormal_columns(r, q, 23);
  const std::vector<double> a = {2.0, 1.5, 1.0, 0.5}, b = {1.8, 1.2, 0.9, 0.4};
  std::vector<double> s(q);
  for (int k = 0; k < q; ++k) s[k] = a[k] * b[k];
  auto factors = [&](const Matrix& Rq) {
    Matrix F(m * r + r * n, 0.0);
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < r; ++j)
        for (int k = 0; k < q; ++k) F[i * r + j] += U[i * q + k] * a[k] * R[j * q + k];
    for (int i = 0; i < r; ++i)
      for (int j = 0; j < n; ++j)
        for (int k = 0; k < q; ++k) F[m * r + i * n + j] += Rq[i * q + k] * b[k] * V[j * q + k];
    return F;
  };
  const Recorded aligned = record(m, n, r, factors(R), U, V, s);
  for (int side = 0; side < 3; ++side)
    EXPECT_NEAR(aligned.m.block_alignment[side], 1.0, 1e-13) << side;
  for (int k = 0; k < q; ++k) {
    EXPECT_NEAR(aligned.m.sv[k], s[k], 1e-13);
    EXPECT_NEAR(aligned.m.core_diag[k], s[k], 1e-13);
  }
  for (int k = q; k < r; ++k) EXPECT_EQ(aligned.m.sv[k], 0.0);
  for (int i = 0; i < r; ++i)
    for (int j = 0; j < r; ++j) {
      double d1 = 0, d2 = 0;
      for (int k = 0; k < q; ++k) {
        d1 += R[i * q + k] * (a[k] - b[k]) * R[j * q + k];
        d2 += R[i * q + k] * (a[k] * a[k] - b[k] * b[k]) * R[j * q + k];
      }
      EXPECT_NEAR(aligned.m.delta1[i * r + j], d1, 1e-13) << i << "," << j;
      EXPECT_NEAR(aligned.m.delta2[i * r + j], d2, 1e-13) << i << "," << j;
    }
  const double theta = 0.25, c2 = std::cos(theta) * std::cos(theta);
  const Matrix Rq = rotate(r, q, R, 1, 2, theta);
  const Recorded turned = record(m, n, r, factors(Rq), U, V, s);
  EXPECT_NEAR(turned.m.block_alignment[2], (2 * c2 + q - 2) / q, 1e-13);
  // W = U C V^T with C = diag(a) R^T Rq diag(b), so W's singular vectors are U U_C and V V_C, and
  // with every singular value apart (sigma(C) ~ 3.6, 1.78, 0.85, 0.2; s = 3.6, 1.8, 0.9, 0.2) the
  // outer scores are the mean squared diagonal of U_C and V_C, columns by descending sigma(C).
  Matrix C(q * q, 0.0);
  for (int i = 0; i < q; ++i)
    for (int j = 0; j < q; ++j)
      for (int k = 0; k < r; ++k) C[i * q + j] += a[i] * R[k * q + i] * Rq[k * q + j] * b[j];
  auto diagonal_score = [&](bool left) {
    Matrix G(q * q, 0.0);  // C C^T (left) or C^T C (right)
    for (int i = 0; i < q; ++i)
      for (int j = 0; j < q; ++j)
        for (int k = 0; k < q; ++k)
          G[i * q + j] += left ? C[i * q + k] * C[j * q + k] : C[k * q + i] * C[k * q + j];
    const auto [values, vectors] = symmetric_eigen(q, G);
    std::vector<int> order(q);
    for (int k = 0; k < q; ++k) order[k] = k;
    std::sort(order.begin(), order.end(), [&](int x, int y) { return values[x] > values[y]; });
    double sum = 0;
    for (int k = 0; k < q; ++k) sum += vectors[k * q + order[k]] * vectors[k * q + order[k]];
    return sum / q;
  };
  const double left = diagonal_score(true), right = diagonal_score(false);
  EXPECT_LT(left, 0.999);
  EXPECT_NEAR(turned.m.block_alignment[0], left, 1e-13);
  EXPECT_NEAR(turned.m.block_alignment[1], right, 1e-13);
  // With rtol = 0.5 P's spectrum (2, 1.5, 1, 0.5) is one chain, one block: the turn is invisible.
  const Recorded merged =
      record(m, n, r, factors(rotate(r, q, R, 1, 2, theta)), U, V, s, {0.5, 0.0});
  EXPECT_NEAR(merged.m.block_alignment[2], 1.0, 1e-13);
}

// The narrow case d/n = 1/4: P (m x r) spans r of the target's m left directions.
TEST(OverparameterizedMetrics, NarrowFactorsAreScoredAgainstTheLeadingTargetModes) {
  const int m = 8, n = 8, r = 2;
  const auto U = orthonormal_columns(m, 4, 31), V = orthonormal_columns(n, 4, 32),
             R = orthonormal_columns(r, r, 33);
  // P = [u_0 u_2] diag(2, 1) R^T: the second column is the target's third mode, not its second.
  Matrix F(m * r + r * n, 0.0);
  const int left_modes[] = {0, 2};
  const double a[] = {2.0, 1.0};
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < r; ++j)
      for (int k = 0; k < r; ++k) F[i * r + j] += U[i * 4 + left_modes[k]] * a[k] * R[j * r + k];
  for (int i = 0; i < r; ++i)
    for (int j = 0; j < n; ++j)
      for (int k = 0; k < r; ++k) F[m * r + i * n + j] += R[i * r + k] * a[k] * V[j * 4 + k];
  const Recorded got =
      record(m, n, r, F, columns(m, 4, U, {0, 1}), columns(n, 4, V, {0, 1}), {4.0, 2.0});
  EXPECT_NEAR(got.m.block_alignment[0], 0.5, 1e-13);
  EXPECT_NEAR(got.m.block_alignment[1], 1.0, 1e-13);
  EXPECT_NEAR(got.m.block_alignment[2], 1.0, 1e-13);
}

}  // namespace
}  // namespace specsweep
