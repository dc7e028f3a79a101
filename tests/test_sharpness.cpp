// Hessian-vector products and the largest Hessian eigenvalue (kernels/core/sharpness.hpp) against
// independent fp64 references: central finite differences of evaluate()'s gradient, a dense
// Hessian built from them and diagonalized by cyclic Jacobi here, the closed form lambda_max =
// s_1 (c^2 + 1/c^2) at a minimum whose factors are balanced up to c, and second differences of the
// loss along a direction; for depth 2 and 3, W = X X^T, the weighted loss, and l2 > 0.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "core/random.hpp"
#include "core/sharpness.hpp"
#include "cpu/pack.hpp"
#include "test_helpers.hpp"

namespace specsweep {
namespace {

using Vector = std::vector<double>;

struct HessianCase {
  int m, n, r, depth;
  double l2;
  bool symmetric = false;
  bool weighted = false;
  const char* name = "";
};

void PrintTo(const HessianCase& c, std::ostream* os) {
  *os << c.name;
}

// A problem of the case's shape at a random point: its target, weights and factors.
struct Problem {
  Shape sh;
  double l2 = 0;
  Vector M, A, B, F, none{0.0};
  TargetView<double> target() const {
    TargetView<double> tg{M.data(), none.data(), none.data(), none.data(), 0, 0.0};
    if (sh.weighted) {
      tg.row_weight = A.data();
      tg.col_weight = B.data();
    }
    return tg;
  }
  Vector gradient(const Vector& at) const {
    Vector G(sh.total()), work(EvalLayout(sh).total);
    evaluate(sh, target(), l2, at.data(), G.data(), work.data());
    return G;
  }
  double loss(const Vector& at) const {
    Vector G(sh.total()), work(EvalLayout(sh).total);
    return evaluate(sh, target(), l2, at.data(), G.data(), work.data()).loss;
  }
  Vector hvp(const Vector& direction) const {
    Vector out(sh.total()), work(HessianLayout(sh).total);
    hessian_vector_product(sh, target(), l2, F.data(), direction.data(), out.data(), work.data());
    return out;
  }
  double lambda_max(int iterations, const Vector& start) const {
    Vector work(lanczos_workspace(sh, iterations));
    return top_hessian_eigenvalue(sh, target(), l2, F.data(), iterations, start.data(),
                                  work.data());
  }
};

Vector normals(int count, std::uint64_t at, double scale = 1.0) {
  const RandomStream stream(5, 0, 0, Purpose::init, 0);
  Vector v(count);
  for (int i = 0; i < count; ++i) v[i] = scale * stream.normal(at + i);
  return v;
}

Vector spd(int k, std::uint64_t at) {
  return testing::random_spd(k, RandomStream(5, 0, 0, Purpose::init, 0), at);
}

Problem random_problem(const HessianCase& c, std::uint64_t salt = 0) {
  Problem p;
  p.sh = Shape{c.m, c.n, c.r, c.depth, c.symmetric, c.weighted};
  p.l2 = c.l2;
  p.M = normals(c.m * c.n, 1000 + salt * 100000);
  if (c.symmetric)
    for (int i = 0; i < c.n; ++i)
      for (int j = 0; j < i; ++j) p.M[j * c.n + i] = p.M[i * c.n + j];
  if (c.weighted) {
    p.A = spd(c.m, 20000 + salt * 100000);
    p.B = spd(c.n, 30000 + salt * 100000);
  }
  p.F = normals(p.sh.total(), 40000 + salt * 100000, 0.7);
  return p;
}

// The Hessian (total x total, row-major) from central differences of the gradient, symmetrized.
Vector finite_difference_hessian(const Problem& p) {
  const int count = p.sh.total();
  const double h = 1e-5;
  Vector H(count * count);
  for (int j = 0; j < count; ++j) {
    Vector plus = p.F, minus = p.F;
    plus[j] += h;
    minus[j] -= h;
    const Vector gp = p.gradient(plus), gm = p.gradient(minus);
    for (int i = 0; i < count; ++i) H[i * count + j] = (gp[i] - gm[i]) / (2 * h);
  }
  for (int i = 0; i < count; ++i)
    for (int j = 0; j < i; ++j)
      H[i * count + j] = H[j * count + i] = 0.5 * (H[i * count + j] + H[j * count + i]);
  return H;
}

// Eigenvalues of a symmetric matrix by cyclic two-sided Jacobi rotations, ascending.
Vector symmetric_eigenvalues(int n, Vector a) {
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0, total = 0;
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) {
        total += a[i * n + j] * a[i * n + j];
        if (i != j) off += a[i * n + j] * a[i * n + j];
      }
    if (off <= 1e-30 * total) break;
    for (int p = 0; p < n; ++p)
      for (int q = p + 1; q < n; ++q) {
        const double apq = a[p * n + q];
        if (apq == 0) continue;
        const double theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const double t = (theta >= 0 ? 1 : -1) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (int k = 0; k < n; ++k) {  // columns p, q
          const double x = a[k * n + p], y = a[k * n + q];
          a[k * n + p] = c * x - s * y;
          a[k * n + q] = s * x + c * y;
        }
        for (int k = 0; k < n; ++k) {  // rows p, q
          const double x = a[p * n + k], y = a[q * n + k];
          a[p * n + k] = c * x - s * y;
          a[q * n + k] = s * x + c * y;
        }
      }
  }
  Vector eig(n);
  for (int i = 0; i < n; ++i) eig[i] = a[i * n + i];
  std::sort(eig.begin(), eig.end());
  return eig;
}

double max_abs(const Vector& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::fabs(x));
  return m;
}

class Hessian : public ::testing::TestWithParam<HessianCase> {};

TEST_P(Hessian, ProductsMatchCentralDifferencesOfTheGradient) {
  const Problem p = random_problem(GetParam());
  const Vector direction = normals(p.sh.total(), 70000);
  const double h = 1e-5;
  Vector plus = p.F, minus = p.F;
  for (int i = 0; i < p.sh.total(); ++i) {
    plus[i] += h * direction[i];
    minus[i] -= h * direction[i];
  }
  const Vector gp = p.gradient(plus), gm = p.gradient(minus), hv = p.hvp(direction);
  double error = 0;
  for (int i = 0; i < p.sh.total(); ++i)
    error = std::max(error, std::fabs(hv[i] - (gp[i] - gm[i]) / (2 * h)));
  // Central differences err by h^2 times the third derivative: ~1e-9 of the product here.
  EXPECT_LT(error, 1e-7 * max_abs(hv)) << "largest |H v| " << max_abs(hv);
}

TEST_P(Hessian, CurvatureAlongADirectionIsTheLossSecondDifference) {
  const Problem p = random_problem(GetParam());
  const Vector u = normals(p.sh.total(), 80000);
  Vector work(curvature_along_workspace(p.sh));
  const double curvature =
      curvature_along(p.sh, p.target(), p.l2, p.F.data(), u.data(), work.data());
  const double h = 1e-4;
  Vector plus = p.F, minus = p.F;
  double u2 = 0;
  for (int i = 0; i < p.sh.total(); ++i) {
    plus[i] += h * u[i];
    minus[i] -= h * u[i];
    u2 += u[i] * u[i];
  }
  const double second = (p.loss(plus) - 2 * p.loss(p.F) + p.loss(minus)) / (h * h) / u2;
  EXPECT_NEAR(curvature, second, 1e-5 * (std::fabs(second) + 1));
}

// With as many steps as parameters the tridiagonal's eigenvalues are the Hessian's; at a random
// point it is indefinite, so lambda_max is the largest algebraic eigenvalue, not the largest |.|.
TEST_P(Hessian, LanczosFindsTheLargestEigenvalueOfTheDenseHessian) {
  const Problem p = random_problem(GetParam());
  const int count = p.sh.total();
  const Vector eig = symmetric_eigenvalues(count, finite_difference_hessian(p));
  const double scale = std::max(std::fabs(eig.front()), std::fabs(eig.back()));
  const Vector start = normals(count, 90000);
  const double full = p.lambda_max(count, start);
  EXPECT_NEAR(full, eig.back(), 1e-6 * scale)
      << "spectrum [" << eig.front() << ", " << eig.back() << "]";
  // The largest Ritz value only rises with more steps and stays below lambda_max.
  double previous = -INFINITY;
  for (int k : {2, 4, 8, 16, count}) {
    const double ritz = p.lambda_max(k, start);
    EXPECT_GE(ritz, previous - 1e-12 * scale) << k << " steps";
    EXPECT_LE(ritz, eig.back() + 1e-6 * scale) << k << " steps";
    previous = ritz;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, Hessian,
                         ::testing::Values(HessianCase{7, 6, 3, 2, 0.0, false, false, "depth2"},
                                           HessianCase{6, 5, 7, 2, 0.1, false, false,
                                                       "depth2_overparameterized_l2"},
                                           HessianCase{5, 6, 3, 3, 0.05, false, false, "depth3_l2"},
                                           HessianCase{6, 6, 2, 1, 0.0, true, false, "symmetric"},
                                           HessianCase{5, 5, 3, 2, 0.0, false, true, "weighted"}),
                         [](const auto& test_info) { return std::string(test_info.param.name); });

// At a global minimum with factors U sqrt(S) c and sqrt(S) V^T / c, H = J^T J for the map
// J(V_1, V_2) = V_1 F_2 + F_1 V_2, whose norm is sigma_1(F_1)^2 + sigma_1(F_2)^2: lambda_max =
// s_1 (c^2 + 1/c^2), 2 s_1 when balanced.
TEST(Sharpness, AtABalancedMinimumIsTwiceTheLargestSingularValue) {
  const int m = 7, n = 6, r = 3;
  const Vector s = {3.0, 2.0, 0.5};
  const Vector U = testing::orthonormal_columns(m, r, 11),
               Vb = testing::orthonormal_columns(n, r, 12);
  for (double c : {1.0, 2.0}) {
    SCOPED_TRACE("imbalance " + std::to_string(c));
    Problem p;
    p.sh = Shape{m, n, r, 2, false, false};
    p.M.assign(m * n, 0.0);
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j)
        for (int k = 0; k < r; ++k) p.M[i * n + j] += U[i * r + k] * s[k] * Vb[j * r + k];
    p.F.assign(p.sh.total(), 0.0);
    for (int i = 0; i < m; ++i)
      for (int k = 0; k < r; ++k) p.F[i * r + k] = U[i * r + k] * std::sqrt(s[k]) * c;
    for (int k = 0; k < r; ++k)
      for (int j = 0; j < n; ++j) p.F[m * r + k * n + j] = std::sqrt(s[k]) * Vb[j * r + k] / c;
    const double expected = s[0] * (c * c + 1 / (c * c));
    EXPECT_NEAR(p.lambda_max(p.sh.total(), normals(p.sh.total(), 5)), expected, 1e-10 * expected);
    // The curvature is PSD here, and 20 steps from a random start already find it.
    EXPECT_NEAR(p.lambda_max(20, normals(p.sh.total(), 6)), expected, 1e-8 * expected);
  }
}

// A pack of seeds follows each seed's arithmetic: every lane of a 4-lane fp64 pack gives the
// lambda_max of its own point, as the scalar code does.
TEST(Sharpness, EachLaneOfAPackIsItsOwnSeed) {
  using V = Pack<double, 4>;
  const HessianCase c{6, 5, 3, 2, 0.05, false, false, "pack"};
  const Problem base = random_problem(c);
  const int count = base.sh.total(), iterations = 12;
  std::vector<V> F(count), start(count), work(lanczos_workspace(base.sh, iterations));
  Vector expected(4);
  for (int lane_index = 0; lane_index < 4; ++lane_index) {
    Problem p = base;
    p.F = normals(count, 50000 + 1000 * lane_index, 0.7);
    const Vector s = normals(count, 60000 + 1000 * lane_index);
    for (int i = 0; i < count; ++i) {
      set_lane(F[i], lane_index, p.F[i]);
      set_lane(start[i], lane_index, s[i]);
    }
    expected[lane_index] = p.lambda_max(iterations, s);
  }
  const V got = top_hessian_eigenvalue(base.sh, base.target(), 0.05, F.data(), iterations,
                                       start.data(), work.data());
  for (int lane_index = 0; lane_index < 4; ++lane_index)
    EXPECT_NEAR(lane(got, lane_index), expected[lane_index],
                1e-12 * std::fabs(expected[lane_index]))
        << "lane " << lane_index;
}

}  // namespace
}  // namespace specsweep
