// Problem setup (host/problem.hpp, kernels/plan/cell_plan.hpp) for overparameterized
// factorizations, r > min(m, n): the target, the optimum and the spectral initialization.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "config.hpp"
#include "plan/cell_plan.hpp"
#include "problem.hpp"

namespace specsweep {
namespace {

Config config_with_rank(int rank) {
  return parse_config("[problem]\nm = 5\nn = 4\nrank = " + std::to_string(rank) +
                          "\n[problem.target]\nspectrum = [3, 2, 1]\n"
                          "[init]\nfactors = [\"spectral\", \"spectral\"]\nscale = 0.5\n",
                      "test.toml");
}

TEST(Problem, WideRankKeepsTheTargetAndReachesItExactly) {
  const CellProblem wide = make_cell_problem(config_with_rank(12), 0);
  const CellProblem square = make_cell_problem(config_with_rank(4), 0);
  EXPECT_EQ(wide.modes, 3);
  EXPECT_EQ(wide.optimum, 0.0);
  // At most min(m, n) = 4 orthonormal basis columns exist: the same target as rank 4.
  EXPECT_EQ(wide.target.basis_cols, 4);
  EXPECT_EQ(wide.target.M, square.target.M);
  EXPECT_EQ(wide.target.U, square.target.U);
  // Below min(m, n) nothing changed: max(rank M, r) columns.
  EXPECT_EQ(make_cell_problem(config_with_rank(2), 0).target.basis_cols, 3);
}

// Spectral init with r = 12 > min(m, n) = 4: F1 = a [U_4, 0], F2 = a [V_4, 0]^T, so
// W = a^2 U_4 V_4^T, aligned with the target.
TEST(Problem, SpectralInitPadsTheBasisWithZeros) {
  const CellProblem cp = make_cell_problem(config_with_rank(12), 0);
  const CellPlan<double> plan(cp);
  const Shape& sh = cp.shape;
  std::vector<double> F1(sh.size(0)), F2(sh.size(1)), work(plan.init_scratch);
  init_factor(plan.factors[0], 0, 2, sh.rows(0), sh.cols(0), plan.init_stream(0, 0), plan.basis(), F1.data(),
              work.data());
  init_factor(plan.factors[1], 1, 2, sh.rows(1), sh.cols(1), plan.init_stream(0, 1), plan.basis(), F2.data(),
              work.data());
  const Target& t = cp.target;
  const int b = t.basis_cols, r = sh.r;
  for (int i = 0; i < sh.m; ++i)
    for (int j = 0; j < sh.n; ++j) {
      double w = 0, e = 0;
      for (int k = 0; k < r; ++k) w += F1[i * r + k] * F2[k * sh.n + j];
      for (int k = 0; k < b; ++k) e += 0.25 * t.U[i * b + k] * t.Vb[j * b + k];
      EXPECT_NEAR(w, e, 1e-15) << i << "," << j;
    }
  for (int i = 0; i < sh.m; ++i)
    for (int k = b; k < r; ++k) EXPECT_EQ(F1[i * r + k], 0.0);
}

}  // namespace
}  // namespace specsweep
