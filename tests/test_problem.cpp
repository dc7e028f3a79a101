// Problem setup (host/problem.hpp, kernels/plan/cell_plan.hpp) for overparameterized
// factorizations, r > min(m, n): the target, the optimum and the spectral initialization; and
// in-context regression's population loss against a Monte Carlo simulation of prompts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
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
  init_factor(plan.factors[0], 0, 2, sh.rows(0), sh.cols(0), plan.init_stream(0, 0), plan.basis(),
              F1.data(), work.data());
  init_factor(plan.factors[1], 1, 2, sh.rows(1), sh.cols(1), plan.init_stream(0, 1), plan.basis(),
              F2.data(), work.data());
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

// In-context regression (kind = "icl"), simulated: prompts of N tokens x_i ~ N(0, Lambda) with
// labels y_i = w^T x_i for a task w ~ N(0, I), and a query x_q; the linear attention predicts
// h^T W x_q with h = (1/N) sum_i y_i x_i. The mean of 1/2 (h^T W x_q - w^T x_q)^2 over the prompts
// must match the engine's loss of W (the weighted residual against icl_target) plus
// icl_irreducible_loss within 5 standard errors of the simulation (its own sample deviation), at a
// random W and at the optimum W*, for a rotated Lambda. This checks the closed form (the Wishart
// moment Gamma) without using it.
TEST(Problem, IclPopulationLossMatchesSimulatedPrompts) {
  const std::vector<double> lambda = {2.0, 0.7, 0.2};
  const int d = 3, N = 4;
  std::mt19937_64 rng(11);
  std::normal_distribution<double> normal;
  // Lambda = Q diag(lambda) Q^T with Q orthonormalized from a Gaussian (Gram-Schmidt on columns).
  std::vector<double> Q(d * d);
  for (double& v : Q) v = normal(rng);
  for (int j = 0; j < d; ++j) {
    for (int k = 0; k < j; ++k) {
      double proj = 0;
      for (int i = 0; i < d; ++i) proj += Q[i * d + j] * Q[i * d + k];
      for (int i = 0; i < d; ++i) Q[i * d + j] -= proj * Q[i * d + k];
    }
    double norm = 0;
    for (int i = 0; i < d; ++i) norm += Q[i * d + j] * Q[i * d + j];
    for (int i = 0; i < d; ++i) Q[i * d + j] /= std::sqrt(norm);
  }
  const Target t = icl_target(lambda, N, Q);
  const double irreducible = icl_irreducible_loss(lambda, N);
  ASSERT_EQ(t.m, d);
  ASSERT_EQ(t.row_weight.size(), 9u);
  std::vector<double> W_random(d * d), z(d);
  for (double& v : W_random) v = 0.6 * normal(rng);
  auto token = [&](std::vector<double>& x) {  // x = Q diag(sqrt(lambda)) z ~ N(0, Lambda)
    for (int k = 0; k < d; ++k) z[k] = std::sqrt(lambda[k]) * normal(rng);
    for (int i = 0; i < d; ++i) {
      x[i] = 0;
      for (int k = 0; k < d; ++k) x[i] += Q[i * d + k] * z[k];
    }
  };

  const std::vector<double>* const points[] = {&W_random, &t.M};
  for (const std::vector<double>* W : points) {
    // The engine's loss at W = F1 F2 with F1 = W, F2 = I (r = d).
    const Shape sh{d, d, d, 2, false, true};
    std::vector<double> F(sh.total(), 0.0), G(sh.total()), work(EvalLayout(sh).total);
    std::copy(W->begin(), W->end(), F.begin());
    for (int i = 0; i < d; ++i) F[sh.offset(1) + i * d + i] = 1.0;
    const std::vector<double> none(1, 0.0);
    const TargetView<double> tg{t.M.data(), none.data(),  none.data(),         none.data(),
                                0,          t.norm2_half, t.row_weight.data(), t.col_weight.data()};
    const double engine = evaluate(sh, tg, 0.0, F.data(), G.data(), work.data()).loss + irreducible;

    const long prompts = 400000;
    double sum = 0, sum2 = 0;
    std::vector<double> x(d), h(d), w(d);
    for (long p = 0; p < prompts; ++p) {
      for (double& v : w) v = normal(rng);
      std::fill(h.begin(), h.end(), 0.0);
      for (int i = 0; i < N; ++i) {
        token(x);
        double y = 0;
        for (int k = 0; k < d; ++k) y += w[k] * x[k];
        for (int k = 0; k < d; ++k) h[k] += y * x[k] / N;
      }
      double prediction = 0, label = 0;
      token(x);
      for (int k = 0; k < d; ++k) label += w[k] * x[k];
      for (int i = 0; i < d; ++i)
        for (int j = 0; j < d; ++j) prediction += h[i] * (*W)[i * d + j] * x[j];
      const double loss = 0.5 * (prediction - label) * (prediction - label);
      sum += loss, sum2 += loss * loss;
    }
    const double mean = sum / prompts;
    const double standard_error = std::sqrt((sum2 / prompts - mean * mean) / prompts);
    EXPECT_NEAR(engine, mean, 5 * standard_error) << (W == &t.M ? "at W*" : "at a random W");
    EXPECT_LT(standard_error, 0.01 * mean);  // the check has teeth
  }
  // W*'s singular values are listed descending, with its singular vectors, Lambda's eigenvectors.
  EXPECT_TRUE(std::is_sorted(t.spectrum.rbegin(), t.spectrum.rend()));
  for (int j = 0; j < d; ++j)
    for (int i = 0; i < d; ++i) {
      double mu = 0;  // (W* u_j)_i = s_j (u_j)_i
      for (int k = 0; k < d; ++k) mu += t.M[i * d + k] * t.U[k * d + j];
      EXPECT_NEAR(mu, t.spectrum[j] * t.U[i * d + j], 1e-14);
    }
}

// Below full rank the optimum of the weighted loss is Eckart-Young's on diag(sqrt(gamma_i lambda_i)
// w*_i): the smallest d - r of those entries are lost (host/problem.hpp problem_optimum).
TEST(Problem, IclOptimumBelowFullRankDropsTheSmallestWeightedModes) {
  const Config c = parse_config(
      "[problem]\nkind = \"icl\"\nn = 4\nrank = 2\ncontext_length = 8\n"
      "[problem.target]\nspectrum = [4.0, 1.0, 0.5, 0.1]\n",
      "test.toml");
  const CellProblem cp = make_cell_problem(c, 0);
  const std::vector<double> lambda = {4.0, 1.0, 0.5, 0.1};
  std::vector<double> scaled;
  for (double l : lambda) {
    const double gamma = (1 + 1.0 / 8) * l * l + 5.6 / 8 * l;
    scaled.push_back(l * std::sqrt(l / gamma));  // sqrt(gamma lambda) * lambda / gamma
  }
  std::sort(scaled.begin(), scaled.end());
  EXPECT_NEAR(cp.optimum, 0.5 * (scaled[0] * scaled[0] + scaled[1] * scaled[1]), 1e-14);
  EXPECT_EQ(cp.modes, 2);
}

}  // namespace
}  // namespace specsweep
