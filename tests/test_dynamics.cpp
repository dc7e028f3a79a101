// Every backend against theory (Kang et al. hitting times, conservation laws, regularized optimum,
// divergence) and against itself (bitwise determinism, fp32 vs fp64).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "backend_fixture.hpp"
#include "test_helpers.hpp"

namespace specsweep {
namespace {

using testing::BackendSuite;
using testing::config_from;

std::string kang(const std::string& optimizer, int steps, long seeds,
                 const std::string& extra = "") {
  return R"(
[problem]
m = 60
n = 70
rank = 5
[problem.target]
spectrum = [5.0, 4.0, 3.0, 2.0, 1.0]
basis = "random"
seed = 3
[init]
factors = ["zero", "gaussian"]
scale = 1e-3
[optimizer]
)" + optimizer +
         "\n[run]\nsteps = " + std::to_string(steps) + "\nseeds = " + std::to_string(seeds) +
         "\n[record]\ntraced_seeds = 4\nevery = 25\n" + extra;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

// sum_k u_k max(s_k - shift, 0) v_k^T over the target's first `modes` modes (m x n): the minimum of
// an l2-regularized problem.
std::vector<double> thresholded_target(const Target& tg, int modes, double shift) {
  const int b = tg.basis_cols;
  std::vector<double> out(static_cast<size_t>(tg.m) * tg.n, 0.0);
  for (int i = 0; i < tg.m; ++i)
    for (int j = 0; j < tg.n; ++j)
      for (int k = 0; k < modes; ++k)
        out[i * tg.n + j] +=
            tg.U[i * b + k] * std::max(tg.spectrum[k] - shift, 0.0) * tg.Vb[j * b + k];
  return out;
}

// ||A B - E||_F / ||E||_F for A (m x r) and B (r x n) given by b(k, j).
template <class B>
double relative_error(int m, int n, int r, const double* A, B b, const std::vector<double>& E) {
  double err = 0, norm = 0;
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double w = 0;
      for (int k = 0; k < r; ++k) w += A[i * r + k] * b(k, j);
      err += std::pow(w - E[i * n + j], 2);
      norm += std::pow(E[i * n + j], 2);
    }
  return std::sqrt(err / norm);
}

std::vector<double> hit_column(const SeedOutcomes& o, int mode) {
  std::vector<double> v;
  for (long i = 0; i < o.count; ++i)
    if (o.hit_step[i * o.r + mode] >= 0) v.push_back(o.hit_step[i * o.r + mode]);
  return v;
}

// Kang et al.: under SpecGD sqrt(d_i) grows by eta per step, so mode i reaches (1 - delta) s_i
// after sqrt((1 - delta) s_i) / eta steps, smallest mode first.
TEST_P(BackendSuite, SpecGdHitsAtSqrtSOverEtaSmallestFirst) {
  const auto run = this->run(config_from(kang("kind = \"specgd\"\nlr = 0.01", 400, 256)));
  const double s[5] = {5, 4, 3, 2, 1};
  for (int i = 0; i < 5; ++i) {
    const auto hits = hit_column(run.outcomes, i);
    ASSERT_EQ(hits.size(), 256u) << "mode " << i;
    const double theory = std::sqrt(0.95 * s[i]) / 0.01;
    EXPECT_NEAR(median(hits) / theory, 1.0, 0.05) << "mode " << i << " median " << median(hits);
  }
  long plus_one = 0;
  for (double k : run.outcomes.order_kendall) plus_one += k == 1.0;
  EXPECT_GE(plus_one, 0.95 * 256);
  EXPECT_LT(median(run.outcomes.uniformity_cv), 0.05);
}

// Gradient descent learns the largest mode first (saddle to saddle).
TEST_P(BackendSuite, GdLearnsLargestFirst) {
  const auto run = this->run(config_from(kang("kind = \"gd\"\nlr = 0.01", 3000, 64)));
  for (int i = 0; i < 5; ++i) ASSERT_EQ(hit_column(run.outcomes, i).size(), 64u) << "mode " << i;
  EXPECT_LE(median(run.outcomes.order_kendall), -0.8);
  EXPECT_LT(median(hit_column(run.outcomes, 0)), median(hit_column(run.outcomes, 4)));
}

// lambda_max of J^T J for J(V1, V2) = V1 F2 + F1 V2 (F1 m x r, F2 r x n), by power iteration:
// the Hessian of 1/2 ||F1 F2 - M||^2 at a minimum, where the residual's term vanishes.
double gauss_newton_lambda_max(int m, int n, int r, const double* F1, const double* F2) {
  std::vector<double> v1(m * r), v2(r * n), d(m * n);
  for (int i = 0; i < m * r; ++i) v1[i] = 1.0 + 0.1 * i;
  for (int i = 0; i < r * n; ++i) v2[i] = 1.0 - 0.05 * i;
  double lambda = 0;
  for (int it = 0; it < 5000; ++it) {
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        double acc = 0;
        for (int k = 0; k < r; ++k)
          acc += v1[i * r + k] * F2[k * n + j] + F1[i * r + k] * v2[k * n + j];
        d[i * n + j] = acc;
      }
    std::vector<double> g1(m * r, 0.0), g2(r * n, 0.0);
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j)
        for (int k = 0; k < r; ++k) {
          g1[i * r + k] += d[i * n + j] * F2[k * n + j];
          g2[k * n + j] += F1[i * r + k] * d[i * n + j];
        }
    double gg = 0, vv = 0;
    for (int i = 0; i < m * r; ++i) gg += g1[i] * g1[i], vv += v1[i] * v1[i];
    for (int i = 0; i < r * n; ++i) gg += g2[i] * g2[i], vv += v2[i] * v2[i];
    lambda = std::sqrt(gg / vv);
    const double scale = 1 / std::sqrt(gg);
    for (int i = 0; i < m * r; ++i) v1[i] = g1[i] * scale;
    for (int i = 0; i < r * n; ++i) v2[i] = g2[i] * scale;
  }
  return lambda;
}

// GD from a small initialization ends at a minimum with nearly balanced factors, where the
// Hessian's largest eigenvalue is 2 s_1 (and in general ||J||^2, computed here from the final
// factors by power iteration); it converged with eta lambda_max below 2, and the curvature along
// any step is at most lambda_max. Without record.sharpness_iterations both traces are NaN.
TEST_P(BackendSuite, GdSharpnessAtItsMinimumIsTwiceTheLargestTargetValue) {
  const std::string text = R"(
[problem]
m = 8
n = 6
rank = 3
[problem.target]
spectrum = [3.0, 2.0, 1.0]
[init]
factors = ["gaussian", "gaussian"]
scale = 1e-3
[optimizer]
kind = "gd"
lr = 0.05
[run]
steps = 4000
seeds = 6
precision = "fp64"
[record]
traced_seeds = 4
every = 4000
loss_tolerance = 1e-12
)";
  // 42 Lanczos steps: as many as parameters, so the Ritz value is lambda_max itself.
  const auto run = this->run(config_from(text + "sharpness_iterations = 42\n"));
  const long T = run.traces.steps;
  ASSERT_EQ(T, 2);
  for (long s = 0; s < 4; ++s) {
    SCOPED_TRACE("seed " + std::to_string(s));
    EXPECT_EQ(run.outcomes.status[s], static_cast<int>(Status::converged));
    const double final_sharpness = run.traces.sharpness[s * T + 1];
    const double expected = gauss_newton_lambda_max(8, 6, 3, &run.traces.final_factors[0][s * 24],
                                                    &run.traces.final_factors[1][s * 18]);
    EXPECT_NEAR(final_sharpness, expected, 1e-7 * expected);
    EXPECT_NEAR(final_sharpness, 6.0, 0.01 * 6.0);
    EXPECT_LT(0.05 * final_sharpness, 2.0);
    EXPECT_LE(run.traces.step_sharpness[s * T], run.traces.sharpness[s * T] + 1e-12);
    EXPECT_TRUE(std::isnan(run.traces.step_sharpness[s * T + 1])) << "no step from the last point";
    EXPECT_EQ(run.outcomes.final_sharpness[s], final_sharpness);
  }
  // Every seed's outcome, traced or not: lambda_max at the end and eta lambda_max.
  for (long s = 0; s < 6; ++s) {
    EXPECT_NEAR(run.outcomes.final_sharpness[s], 6.0, 0.01 * 6.0) << s;
    EXPECT_DOUBLE_EQ(run.outcomes.final_lr_sharpness[s], 0.05 * run.outcomes.final_sharpness[s]);
  }
  const auto without = this->run(config_from(text));
  for (double v : without.traces.sharpness) EXPECT_TRUE(std::isnan(v));
  for (double v : without.traces.step_sharpness) EXPECT_TRUE(std::isnan(v));
  for (double v : without.outcomes.final_sharpness) EXPECT_TRUE(std::isnan(v));
}

// record.orth_error at step 0, against the first gradients computed here from the traced initial
// factors: SpecGD's input is G_k itself, and jordan5 maps each of its singular values sigma_i to
// its scalar quintic f(sigma_i / ||G_k||_F) iterated 5 times, so the band is [min f, max f] and the
// error sqrt(mean (f_i - 1)^2). The exact polar factor is at distance 0 at every record step.
TEST_P(BackendSuite, OrthErrorIsJordan5sScalarMapOfTheFirstGradient) {
  const std::string text = R"(
[problem]
m = 8
n = 6
rank = 3
[problem.target]
spectrum = [3.0, 2.0, 1.0]
[init]
factors = ["gaussian", "gaussian"]
scale = 0.3
[run]
steps = 20
seeds = 4
precision = "fp64"
[record]
traced_seeds = 4
every = 10
)";
  const int m = 8, n = 6, r = 3;
  const auto ns = this->run(
      config_from(text + "orth_error = true\n[optimizer]\nkind = \"specgd\"\nlr = 0.01\n"
                         "orthogonalizer = \"newton_schulz\"\nns_coefficients = \"jordan5\"\n"));
  const long T = ns.traces.steps;
  ASSERT_EQ(T, 3);
  auto jordan5 = [](double x) {
    for (int it = 0; it < 5; ++it) x = 3.4445 * x - 4.7750 * x * x * x + 2.0315 * std::pow(x, 5);
    return x;
  };
  const std::vector<double>& M = ns.cp.target.M;
  for (long s = 0; s < 4; ++s) {
    const double* F1 = &ns.traces.init_factors[0][s * m * r];
    const double* F2 = &ns.traces.init_factors[1][s * r * n];
    std::vector<double> R(m * n), G1(m * r, 0.0), G2(r * n, 0.0);
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        double w = 0;
        for (int k = 0; k < r; ++k) w += F1[i * r + k] * F2[k * n + j];
        R[i * n + j] = w - M[i * n + j];
      }
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j)
        for (int k = 0; k < r; ++k) {
          G1[i * r + k] += R[i * n + j] * F2[k * n + j];
          G2[k * n + j] += F1[i * r + k] * R[i * n + j];
        }
    const std::vector<double>* grads[2] = {&G1, &G2};
    const int rows[2] = {m, r}, cols[2] = {r, n};
    for (int f = 0; f < 2; ++f) {
      SCOPED_TRACE("seed " + std::to_string(s) + " factor " + std::to_string(f));
      const auto sigma = testing::singular_values(rows[f], cols[f], *grads[f]);
      double fro = 0;
      for (double v : sigma) fro += v * v;
      fro = std::sqrt(fro);
      double lo = 1e300, hi = -1e300, err2 = 0;
      for (double v : sigma) {
        const double y = jordan5(v / fro);
        lo = std::min(lo, y), hi = std::max(hi, y), err2 += (y - 1) * (y - 1);
      }
      const long at = (s * T + 0) * 2 + f;
      EXPECT_NEAR(ns.traces.orth_band_min[at], lo, 1e-9);
      EXPECT_NEAR(ns.traces.orth_band_max[at], hi, 1e-9);
      EXPECT_NEAR(ns.traces.orth_error[at], std::sqrt(err2 / double(sigma.size())), 1e-9);
      EXPECT_GT(ns.traces.orth_error[at], 1e-3) << "jordan5 is not the polar factor";
    }
  }
  const auto exact = this->run(
      config_from(text + "orth_error = true\n[optimizer]\nkind = \"specgd\"\nlr = 0.01\n"));
  for (long s = 0; s < 4; ++s)
    for (long t = 0; t < T; ++t)
      for (long f = 0; f < 2; ++f) {
        const long at = (s * T + t) * 2 + f;
        if (t == T - 1) {  // the last point: no step is taken from it
          EXPECT_TRUE(std::isnan(exact.traces.orth_error[at]));
          continue;
        }
        EXPECT_LT(exact.traces.orth_error[at], 1e-12) << at;
        EXPECT_NEAR(exact.traces.orth_band_min[at], 1.0, 1e-12) << at;
        EXPECT_NEAR(exact.traces.orth_band_max[at], 1.0, 1e-12) << at;
      }
  const auto without = this->run(config_from(text + "[optimizer]\nkind = \"specgd\"\n"));
  for (double v : without.traces.orth_error) EXPECT_TRUE(std::isnan(v));
}

// Gradient noise from the zero point, where the gradient is exactly zero: one GD step lands on
// F = -eta * sigma * xi with xi the seed's Purpose::gradient_noise normals of step 0 (entry e of
// the concatenated factors is normal e), and the values over seeds and entries are N(0, (eta
// sigma)^2). Relative noise of a zero gradient is zero: the factors do not move.
TEST_P(BackendSuite, GradientNoiseIsTheSeedsOwnGaussianDraw) {
  const std::string text = R"(
[problem]
m = 8
n = 6
rank = 3
[problem.target]
spectrum = [3.0, 2.0, 1.0]
[init]
factors = ["zero", "zero"]
[optimizer]
kind = "gd"
lr = 0.1
gradient_noise = 0.5
[run]
steps = 1
seeds = 40
precision = "fp64"
master_seed = 7
[record]
traced_seeds = 40
every = 1
)";
  const auto run = this->run(config_from(text));
  const int sizes[2] = {8 * 3, 3 * 6};
  double sum = 0, sum2 = 0;
  long count = 0;
  for (long s = 0; s < 40; ++s) {
    const RandomStream stream(7, 0, static_cast<std::uint32_t>(s), Purpose::gradient_noise, 0);
    for (int k = 0, e = 0; k < 2; ++k)
      for (int i = 0; i < sizes[k]; ++i, ++e) {
        const double got = run.traces.final_factors[k][s * sizes[k] + i];
        EXPECT_DOUBLE_EQ(got, 0.0 - 0.1 * (0.5 * stream.normal(e))) << s << " " << k << " " << i;
        sum += got, sum2 += got * got, ++count;
      }
  }
  // 1680 draws of N(0, 0.05^2): the mean within 5 standard errors, the variance within 5 of its
  // standard error sqrt(2 / n) (relative).
  const double mean = sum / count, var = sum2 / count - mean * mean;
  EXPECT_NEAR(mean, 0.0, 5 * 0.05 / std::sqrt(double(count)));
  EXPECT_NEAR(var / 0.0025, 1.0, 5 * std::sqrt(2.0 / count));

  std::string relative = text;
  relative.replace(relative.find("gradient_noise = 0.5"), 20,
                   "gradient_noise = 0.5\ngradient_noise_scale = \"relative\"");
  const auto still = this->run(config_from(relative));
  for (int k = 0; k < 2; ++k)
    for (double v : still.traces.final_factors[k]) EXPECT_EQ(v, 0.0);
}

// Matrix sensing with more Gaussian measurements than entries (p = 2 m n, so the sensing operator
// is injective): its only minimizers with rank <= r are W = M, as factorization's, and GD from a
// small start recovers M. The recovery error of every seed is computed here from its final
// factors, and /outcome/recovery_error must equal it; the loss at W = 0 is 1/2 sum_i <A_i, M>^2.
TEST_P(BackendSuite, SensingWithMoreMeasurementsThanEntriesRecoversTheTarget) {
  const auto run = this->run(config_from(R"(
[problem]
kind = "sensing"
m = 6
n = 5
rank = 2
[problem.target]
spectrum = [2.0, 1.0]
[problem.sensing]
measurements = 60
[init]
factors = ["gaussian", "gaussian"]
scale = 0.1
[optimizer]
kind = "gd"
lr = 0.1
[run]
steps = 3000
seeds = 8
precision = "fp64"
[record]
traced_seeds = 8
every = 3000
loss_tolerance = 1e-14
)"));
  const std::vector<double>& M = run.cp.target.M;
  double m2 = 0;
  for (double v : M) m2 += v * v;
  double half = 0;  // 1/2 sum_i <A_i, M>^2
  for (int i = 0; i < 60; ++i) {
    double y = 0;
    for (int e = 0; e < 30; ++e) y += run.cp.target.sensing[i * 30 + e] * M[e];
    half += 0.5 * y * y;
  }
  EXPECT_NEAR(run.cp.target.norm2_half, half, 1e-12 * half);
  for (long s = 0; s < 8; ++s) {
    SCOPED_TRACE("seed " + std::to_string(s));
    EXPECT_EQ(run.outcomes.status[s], static_cast<int>(Status::converged));
    const double* F1 = &run.traces.final_factors[0][s * 12];
    const double* F2 = &run.traces.final_factors[1][s * 10];
    double d2 = 0;
    for (int i = 0; i < 6; ++i)
      for (int j = 0; j < 5; ++j) {
        double w = 0;
        for (int k = 0; k < 2; ++k) w += F1[i * 2 + k] * F2[k * 5 + j];
        d2 += (w - M[i * 5 + j]) * (w - M[i * 5 + j]);
      }
    EXPECT_NEAR(run.outcomes.recovery_error[s], std::sqrt(d2 / m2), 1e-12);
    EXPECT_LT(run.outcomes.recovery_error[s], 1e-6);
    EXPECT_EQ(run.traces.recovery_error[s * 2 + 1], run.outcomes.recovery_error[s]);
  }
}

// Symmetric sensing, W = X X^T with symmetric Gaussian A_i: p = 30 measurements of the 15 free
// entries of a symmetric 5 x 5 M (positive semidefinite, rank 2) leave W = M the only rank-2
// minimizer, and GD from a small Gaussian X recovers it in every seed.
TEST_P(BackendSuite, SymmetricSensingRecoversThePositiveSemidefiniteTarget) {
  const auto run = this->run(config_from(R"(
[problem]
kind = "sensing"
n = 5
rank = 2
[problem.target]
spectrum = [2.0, 1.0]
[problem.sensing]
measurements = 30
factor = "symmetric"
[init]
scale = 0.1
[optimizer]
kind = "gd"
lr = 0.05
[run]
steps = 4000
seeds = 8
precision = "fp64"
[record]
traced_seeds = 8
every = 4000
loss_tolerance = 1e-14
)"));
  const std::vector<double>& M = run.cp.target.M;
  double m2 = 0;
  for (double v : M) m2 += v * v;
  for (long s = 0; s < 8; ++s) {
    SCOPED_TRACE("seed " + std::to_string(s));
    EXPECT_EQ(run.outcomes.status[s], static_cast<int>(Status::converged));
    const double* X = &run.traces.final_factors[0][s * 10];
    double d2 = 0;
    for (int i = 0; i < 5; ++i)
      for (int j = 0; j < 5; ++j) {
        double w = 0;
        for (int k = 0; k < 2; ++k) w += X[i * 2 + k] * X[j * 2 + k];
        d2 += (w - M[i * 5 + j]) * (w - M[i * 5 + j]);
      }
    EXPECT_NEAR(run.outcomes.recovery_error[s], std::sqrt(d2 / m2), 1e-12);
    EXPECT_LT(run.outcomes.recovery_error[s], 1e-6);
  }
}

// Without sensing the recovery error is sqrt(2 f) / ||M||_F of the final loss f (l2 = 0).
TEST_P(BackendSuite, RecoveryErrorOfFactorizationIsItsLoss) {
  const auto run = this->run(config_from(kang("kind = \"specgd\"\nlr = 0.01", 60, 16)));
  double m2 = 0;
  for (double v : run.cp.target.M) m2 += v * v;
  for (long s = 0; s < 16; ++s)
    EXPECT_NEAR(run.outcomes.recovery_error[s], std::sqrt(2 * run.outcomes.final_loss[s] / m2),
                1e-5 * run.outcomes.recovery_error[s])
        << s;
}

// GD flow conserves F1^T F1 - F2 F2^T; RK4 at small dt keeps it to 1e-6 relative.
TEST_P(BackendSuite, GdFlowConservesBalance) {
  const auto cfg = config_from(R"(
[problem]
m = 12
n = 10
rank = 4
[problem.target]
spectrum = [3.0, 2.0, 1.0, 0.5]
[init]
factors = ["gaussian", "gaussian"]
scale = 0.5
[optimizer]
kind = "gd"
lr = 0.01
integrator = "rk4"
[run]
steps = 500
seeds = 8
precision = "fp64"
[record]
traced_seeds = 8
every = 100
delta_matrices = true
)");
  const auto run = this->run(cfg);
  const long T = run.traces.steps, rr = 16;
  for (long s = 0; s < run.traces.count; ++s) {
    const double* first = &run.traces.delta2[s * T * rr];
    double ref = 0;
    for (int q = 0; q < rr; ++q) ref += first[q] * first[q];
    for (long t = 1; t < T; ++t) {
      double diff = 0;
      for (int q = 0; q < rr; ++q)
        diff += std::pow(run.traces.delta2[(s * T + t) * rr + q] - first[q], 2);
      EXPECT_LT(std::sqrt(diff / ref), 1e-6) << "seed " << s << " record " << t;
    }
    // ... while the loss itself decreased substantially.
    EXPECT_LT(run.traces.loss[s * T + T - 1], 0.1 * run.traces.loss[s * T]);
  }
}

// With l2 > 0 the global minimum is the soft-thresholded SVD U diag(max(s - l2, 0)) V^T, and GD
// reaches it from random starts.
TEST_P(BackendSuite, L2RegularizedGdConvergesToSoftThresholdedSvd) {
  const auto cfg = config_from(R"(
[problem]
m = 10
n = 8
rank = 4
l2 = 0.5
[problem.target]
spectrum = [3.0, 2.0, 1.0, 0.3]
[init]
factors = ["gaussian", "gaussian"]
scale = 0.3
[optimizer]
kind = "gd"
lr = 0.05
[run]
steps = 4000
seeds = 16
precision = "fp64"
[record]
traced_seeds = 16
every = 4000
loss_tolerance = 1e-10
)");
  const auto run = this->run(cfg);
  const int m = 10, n = 8, r = 4;
  const auto expected = thresholded_target(run.cp.target, 4, 0.5);
  for (long s = 0; s < 16; ++s) {
    EXPECT_EQ(run.outcomes.status[s], static_cast<int>(Status::converged)) << "seed " << s;
    const double* F1 = &run.traces.final_factors[0][s * m * r];
    const double* F2 = &run.traces.final_factors[1][s * r * n];
    const double error = relative_error(
        m, n, r, F1, [&](int k, int j) { return F2[k * n + j]; }, expected);
    EXPECT_LT(error, 1e-6) << "seed " << s;
  }
}

// From W = 0 with both factors zero the gradient vanishes: a non-global critical point, "stalled".
TEST_P(BackendSuite, ZeroInitIsStalledAtTheSaddle) {
  auto cfg = config_from(kang("kind = \"gd\"\nlr = 0.01", 20, 16));
  cfg.init.factors = {InitKind::zero, InitKind::zero};
  const auto run = this->run(cfg);
  for (long s = 0; s < 16; ++s) {
    EXPECT_EQ(run.outcomes.status[s], static_cast<int>(Status::stalled)) << s;
    EXPECT_EQ(run.outcomes.final_grad_norm[s], 0.0);
    // loss = 1/2 ||M||^2, summed in fp32 over m n terms (rounding ~ sqrt(m + n) eps).
    EXPECT_NEAR(run.outcomes.excess[s], 1.0, 1e-6);
  }
}

// steps_to_tol is the first step whose relative excess loss is within the tolerance, consistent
// with the per-step traced loss.
TEST_P(BackendSuite, StepsToToleranceIsTheFirstStepWithinTolerance) {
  const auto cfg = config_from(R"(
[problem]
m = 8
n = 6
rank = 3
[problem.target]
spectrum = [2.0, 1.0, 0.5]
[init]
factors = ["gaussian", "gaussian"]
scale = 0.3
[optimizer]
kind = "gd"
lr = 0.1
[run]
steps = 400
seeds = 8
precision = "fp64"
[record]
traced_seeds = 8
every = 1
loss_tolerance = 1e-8
)");
  const auto run = this->run(cfg);
  const long T = run.traces.steps;
  for (long s = 0; s < 8; ++s) {
    const long hit = run.outcomes.steps_to_tol[s];
    ASSERT_GT(hit, 0) << s;
    auto excess = [&](long t) {
      return (run.traces.loss[s * T + t] - run.cp.optimum) / run.cp.target.norm2_half;
    };
    EXPECT_LE(excess(hit), 1e-8 * (1 + 1e-6)) << s;
    EXPECT_GT(excess(hit - 1), 1e-8 * (1 - 1e-6)) << s;
  }
}

// With ||W|| >> ||M|| the per-step Gram-form loss cannot resolve the tolerance in fp32; a step is
// counted as reaching it only when the explicit residual (the traced loss) agrees. Before the
// residual confirmed it, 145 of these 256 seeds reported the tolerance reached, all falsely.
TEST_P(BackendSuite, Fp32ToleranceIsReachedOnlyWhereTheResidualSaysSo) {
  const auto cfg = config_from(R"(
[problem]
m = 10
n = 12
rank = 6
[problem.target]
spectrum = { kind = "geometric", max = 1e4, condition = 1e12, count = 6 }
[init]
factors = ["gaussian", "gaussian"]
scale = 1.0
[optimizer]
kind = "adam"
lr = 1e3
[run]
steps = 200
seeds = 64
precision = "fp32"
blowup = 1e300
[record]
traced_seeds = 64
every = 1
loss_tolerance = 1e-6
)");
  const auto run = this->run(cfg);
  const long T = run.traces.steps;
  for (long s = 0; s < 64; ++s) {
    const long hit = run.outcomes.steps_to_tol[s];
    if (hit < 0) continue;
    const double excess =
        (run.traces.loss[s * T + hit] - run.cp.optimum) / run.cp.target.norm2_half;
    EXPECT_LE(excess, 1e-6 * (1 + 1e-3)) << "seed " << s << " step " << hit;
  }
}

// A diverging d_i passes every hitting threshold on its way up: a diverged seed has no hitting
// times.
TEST_P(BackendSuite, DivergedSeedsHaveNoHittingTimes) {
  const auto run = this->run(config_from(kang("kind = \"gd\"\nlr = 5.0", 200, 40)));
  for (long s = 0; s < 40; ++s) {
    ASSERT_EQ(run.outcomes.status[s], static_cast<int>(Status::diverged)) << s;
    for (int i = 0; i < 5; ++i)
      EXPECT_EQ(run.outcomes.hit_step[s * run.outcomes.r + i], -1) << s << " mode " << i;
  }
}

// Far above 2 / lambda_max every seed diverges: an outcome, not a crash.
TEST_P(BackendSuite, GdFarAboveCriticalRateDivergesCleanly) {
  const auto run = this->run(config_from(kang("kind = \"gd\"\nlr = 5.0", 200, 40)));
  for (long s = 0; s < 40; ++s) {
    EXPECT_EQ(run.outcomes.status[s], static_cast<int>(Status::diverged)) << s;
    EXPECT_TRUE(std::isnan(run.outcomes.window_loss[s])) << s;
  }
}

// /outcome/window_loss is the mean of loss / (1/2 ||M||^2) over the last record.loss_window steps:
// against the traced explicit-residual losses of those steps (recorded at every step). Muon at
// lr 1.5 on Rhee's M* = diag(10/k) oscillates with period 2 (the quantity of the paper's Fig 1c),
// so the last two losses differ and a window of 1 would not do.
TEST_P(BackendSuite, WindowLossAveragesTheLastSteps) {
  const auto run = this->run(config_from(R"(
[problem]
m = 8
n = 8
rank = 8
[problem.target]
spectrum = { kind = "power", scale = 10.0, exponent = 1.0, count = 8 }
basis = "identity"
[init]
factors = ["gaussian", "gaussian"]
scale = 0.1
[optimizer]
kind = "muon"
lr = 1.5
orthogonalizer = "exact"
momentum = 0.0
nesterov = false
[run]
steps = 120
seeds = 8
precision = "fp64"
[record]
every = 1
traced_seeds = 8
loss_window = 2
)"));
  const double half = run.cp.target.norm2_half;
  const int T = run.traces.steps;
  for (long seed = 0; seed < 8; ++seed) {
    const double last = run.traces.loss[seed * T + T - 1],
                 before = run.traces.loss[seed * T + T - 2];
    EXPECT_GT(std::abs(last - before), 0.05 * std::max(last, before))
        << "not oscillating, seed " << seed;
    EXPECT_NEAR(run.outcomes.window_loss[seed], 0.5 * (last + before) / half,
                1e-9 * (last + before) / half)
        << "seed " << seed;
  }
}

// A seed that converges computes the same bits whether its pack-mates diverge or not.
TEST_P(BackendSuite, DivergingSeedsDoNotAffectOthers) {
  // Near GD's stability edge (init scale 1, lr 0.2) the outcome depends on the start: some seeds
  // blow up and others converge.
  const auto cfg = config_from(R"(
[problem]
m = 6
n = 5
rank = 3
[problem.target]
spectrum = [2.0, 1.0, 0.5]
[init]
factors = ["gaussian", "gaussian"]
scale = 1.0
[optimizer]
kind = "gd"
lr = 0.2
[run]
steps = 300
seeds = 64
[record]
traced_seeds = 0
)");
  const auto batch = this->run(cfg);
  long diverged = 0, converged = 0;
  for (long s = 0; s < 64; ++s) {
    diverged += batch.outcomes.status[s] == static_cast<int>(Status::diverged);
    converged += batch.outcomes.status[s] == static_cast<int>(Status::converged);
  }
  ASSERT_GT(diverged, 0);
  ASSERT_GT(converged, 0);
  for (long s = 0; s < 64; ++s) {
    const auto alone = run_seed_range(GetParam(), cfg, s, 1, 1);
    EXPECT_EQ(alone.outcomes.status[0], batch.outcomes.status[s]) << s;
    if (batch.outcomes.status[s] != static_cast<int>(Status::diverged)) {
      EXPECT_EQ(alone.outcomes.final_loss[0], batch.outcomes.final_loss[s]) << s;
    }
  }
}

// Bitwise identical per-seed results whatever the block size and thread count.
TEST_P(BackendSuite, DeterministicAcrossBlockSizesAndThreads) {
  for (const char* opt : {"kind = \"specgd\"\nlr = 0.02",
                          "kind = \"muon\"\nlr = 0.02\northogonalizer = \"newton_schulz\"",
                          "kind = \"adam\"\nlr = 0.01",
                          "kind = \"specgd\"\nlr = 0.02\ngradient_noise = 0.2\n"
                          "gradient_noise_scale = \"relative\""}) {
    const auto cfg = config_from(kang(opt, 60, 50));
    const auto ref = this->run(cfg, 4096, 2);
    for (const auto& [block, threads] : {std::pair<long, int>{1, 1}, {7, 2}, {33, 1}}) {
      const auto other = this->run(cfg, block, threads);
      EXPECT_EQ(ref.outcomes.final_loss, other.outcomes.final_loss) << opt << " block " << block;
      EXPECT_EQ(ref.outcomes.hit_step, other.outcomes.hit_step) << opt;
      EXPECT_EQ(ref.traces.sv, other.traces.sv) << opt;
      EXPECT_EQ(ref.traces.final_factors[1], other.traces.final_factors[1]) << opt;
    }
  }
}

// fp32 and fp64 follow the same trajectory on a well-conditioned case.
TEST_P(BackendSuite, Fp32AgreesWithFp64) {
  auto cfg = config_from(kang("kind = \"specgd\"\nlr = 0.01", 300, 16));
  const auto f32 = this->run(cfg);
  cfg.run.precision = Precision::fp64;
  const auto f64 = this->run(cfg);
  for (long s = 0; s < 16; ++s) {
    EXPECT_NEAR(f32.outcomes.final_loss[s] / f64.outcomes.final_loss[s], 1.0, 1e-3) << s;
    for (int i = 0; i < 5; ++i)
      EXPECT_NEAR(f32.outcomes.hit_step[s * 5 + i], f64.outcomes.hit_step[s * 5 + i], 1);
  }
  for (size_t i = 0; i < f32.traces.init_factors[1].size(); ++i)
    EXPECT_NEAR(f32.traces.init_factors[1][i], f64.traces.init_factors[1][i], 1e-9);
}

// Symmetric factorization W = X X^T (Ma et al.'s second problem), three closed forms.
std::string symmetric(const std::string& problem, const std::string& rest) {
  return "[problem]\nkind = \"symmetric\"\n" + problem + rest;
}

// From X_0 = a U_r (spectral init, identity basis) the gradient 2 (X X^T - M) X = 2 U diag((x^2 -
// s) x) stays aligned and its polar factor is U diag(sign(x^2 - s)): each x_i grows by eta per step
// from a until it passes sqrt(s_i), then stays within eta of it. So d_i = x_i^2 reaches 0.95 s_i at
// exactly t = ceil((sqrt(0.95 s_i) - a) / eta) (here 194, 146, 97, 48, each at least 0.06 of a step
// from an integer).
TEST_P(BackendSuite, SymmetricSpecGdFromSpectralInitFollowsTheScalarRecursion) {
  const auto run = this->run(config_from(symmetric("n = 12\nrank = 4\n", R"(
[problem.target]
spectrum = [4.0, 2.25, 1.0, 0.25]
basis = "identity"
[init]
factors = ["spectral"]
scale = 0.01
[optimizer]
kind = "specgd"
lr = 0.01
[run]
steps = 300
seeds = 2
precision = "fp64"
[record]
traced_seeds = 2
every = 300
)")));
  const double s[4] = {4.0, 2.25, 1.0, 0.25}, a = 0.01, eta = 0.01;
  const int n = 12, r = 4;
  ASSERT_EQ(run.traces.final_factors.size(), 1u);
  for (long seed = 0; seed < 2; ++seed) {
    for (int i = 0; i < r; ++i) {
      EXPECT_EQ(run.outcomes.hit_step[seed * r + i],
                static_cast<int>(std::ceil((std::sqrt(0.95 * s[i]) - a) / eta)))
          << "mode " << i;
      const double* X = &run.traces.final_factors[0][seed * n * r];
      for (int row = 0; row < n; ++row) {
        if (row == i)
          EXPECT_NEAR(std::abs(X[row * r + i]), std::sqrt(s[i]), eta * (1 + 1e-9)) << "mode " << i;
        else
          EXPECT_NEAR(X[row * r + i], 0.0, 1e-12) << "row " << row << " column " << i;
      }
    }
  }
}

// From a small random X, symmetric SpecGD grows the singular values of X at the same rate eta per
// step (Kang et al.'s mechanism, with X in place of both factors): d_i = x_i^2 reaches 0.95 s_i
// after sqrt(0.95 s_i) / eta steps, smallest mode first. (A float64 NumPy run of the same
// recursion, 20 seeds: medians 218, 195, 169, 138, 98 against 217.9, 194.9, 168.8, 137.8, 97.5.)
TEST_P(BackendSuite, SymmetricSpecGdHitsAtSqrtSOverEtaSmallestFirst) {
  const auto run = this->run(config_from(symmetric("n = 30\nrank = 5\n", R"(
[problem.target]
spectrum = [5.0, 4.0, 3.0, 2.0, 1.0]
basis = "random"
seed = 3
[init]
factors = ["gaussian"]
scale = 1e-3
[optimizer]
kind = "specgd"
lr = 0.01
[run]
steps = 400
seeds = 64
[record]
traced_seeds = 2
every = 100
)")));
  const double s[5] = {5, 4, 3, 2, 1};
  for (int i = 0; i < 5; ++i) {
    const auto hits = hit_column(run.outcomes, i);
    ASSERT_EQ(hits.size(), 64u) << "mode " << i;
    EXPECT_NEAR(median(hits) / (std::sqrt(0.95 * s[i]) / 0.01), 1.0, 0.05) << "mode " << i;
  }
  long plus_one = 0;
  for (double k : run.outcomes.order_kendall) plus_one += k == 1.0;
  EXPECT_GE(plus_one, 0.95 * 64);
}

// With l2 > 0 the minimum of 1/2||X X^T - M||^2 + l2/2 ||X||^2 is X X^T = U diag(max(s - l2/2, 0))
// U^T (per mode 1/2 (s - w)^2 + (l2/2) w), and GD reaches it from random starts; the run's optimum
// (steps_to_tol, status) uses the same value.
TEST_P(BackendSuite, L2RegularizedSymmetricGdConvergesToHalfThresholdedEigenvalues) {
  const auto run = this->run(config_from(symmetric("n = 8\nrank = 4\nl2 = 0.5\n", R"(
[problem.target]
spectrum = [3.0, 2.0, 1.0, 0.1]
[init]
factors = ["gaussian"]
scale = 0.3
[optimizer]
kind = "gd"
lr = 0.02
[run]
steps = 4000
seeds = 16
precision = "fp64"
[record]
traced_seeds = 16
every = 4000
loss_tolerance = 1e-10
)")));
  const int n = 8, r = 4;
  const auto expected = thresholded_target(run.cp.target, 4, 0.25);  // symmetric: Vb = U
  for (long seed = 0; seed < 16; ++seed) {
    EXPECT_EQ(run.outcomes.status[seed], static_cast<int>(Status::converged)) << "seed " << seed;
    const double* X = &run.traces.final_factors[0][seed * n * r];
    const double error = relative_error(
        n, n, r, X, [&](int k, int j) { return X[j * r + k]; }, expected);
    EXPECT_LT(error, 1e-6) << "seed " << seed;
  }
}

// In-context regression (kind = "icl", Ma et al.'s second problem): W = F1 F2 against the
// population loss 1/2 <W - W*, Gamma (W - W*) Lambda>, Lambda = diag(lambda), Gamma = (1 + 1/N)
// Lambda^2 + (tr Lambda / N) Lambda, W* = Gamma^-1 Lambda, computed here from lambda and N.
std::string icl(const std::string& problem, const std::string& rest) {
  return "[problem]\nkind = \"icl\"\n" + problem + rest;
}

std::vector<double> icl_optimum_diagonal(const std::vector<double>& lambda, int N) {
  double trace = 0;
  for (double l : lambda) trace += l;
  std::vector<double> w;
  for (double l : lambda) w.push_back(l / ((1 + 1.0 / N) * l * l + trace / N * l));
  return w;
}

// From the spectral start F1 = a U, F2 = a U^T (U the coordinate vectors ordered by W*'s diagonal)
// the gradient Gamma (W - W*) Lambda F2^T is diagonal in that basis, with the sign of x_i^2 - w*_i
// whatever the weights: SpecGD moves every x_i by eta per step, and d_i = x_i^2 reaches 0.95 w*_i
// at exactly t = ceil((sqrt(0.95 w*_i) - a) / eta), independently of Lambda's conditioning (Ma et
// al.'s decoupling into scalar sequences).
TEST_P(BackendSuite, IclSpecGdFromSpectralInitFollowsTheScalarRecursion) {
  const auto run = this->run(config_from(icl("n = 4\nrank = 4\ncontext_length = 8\n", R"(
[problem.target]
spectrum = [4.0, 1.0, 0.25, 0.0625]
[init]
factors = ["spectral", "spectral"]
scale = 0.1
[optimizer]
kind = "specgd"
lr = 0.01
[run]
steps = 150
seeds = 2
precision = "fp64"
[record]
traced_seeds = 2
every = 150
)")));
  std::vector<double> w = icl_optimum_diagonal({4.0, 1.0, 0.25, 0.0625}, 8);
  std::sort(w.rbegin(), w.rend());   // the modes, descending
  const double a = 0.1, eta = 0.01;  // spectral init: every singular value of each factor is a
  for (long seed = 0; seed < 2; ++seed)
    for (int i = 0; i < 4; ++i) {
      const double steps = (std::sqrt(0.95 * w[i]) - a) / eta;
      ASSERT_GT(std::abs(steps - std::round(steps)), 0.01) << "mode " << i << ": too near a step";
      EXPECT_EQ(run.outcomes.hit_step[seed * 4 + i], static_cast<int>(std::ceil(steps)))
          << "mode " << i;
    }
}

// GD from random factors reaches W* = Gamma^-1 Lambda (Lambda diagonal here; the rotated case's
// closed form is Problem.IclPopulationLossMatchesSimulatedPrompts) at full rank, and below it the
// weighted Eckart-Young optimum: with A = Gamma^1/2, B = Lambda^1/2 the loss is 1/2||A W B - A W*
// B||^2, so a rank-r W loses the d - r smallest of sqrt(gamma_i lambda_i) w*_i.
TEST_P(BackendSuite, IclGdConvergesToThePopulationOptimum) {
  const std::vector<double> lambda = {1.0, 0.6, 0.4, 0.25};
  const std::vector<double> w = icl_optimum_diagonal(lambda, 10);
  for (int rank : {4, 2}) {
    SCOPED_TRACE("rank " + std::to_string(rank));
    const auto run = this->run(
        config_from(icl("n = 4\nrank = " + std::to_string(rank) + "\ncontext_length = 10\n", R"(
[problem.target]
spectrum = [1.0, 0.6, 0.4, 0.25]
basis = "identity"
[init]
factors = ["gaussian", "gaussian"]
scale = 0.3
[optimizer]
kind = "gd"
lr = 0.2
[run]
steps = 6000
seeds = 8
precision = "fp64"
[record]
traced_seeds = 8
every = 6000
loss_tolerance = 1e-10
)")));
    std::vector<double> scaled;
    double trace = 0;
    for (double l : lambda) trace += l;
    for (int i = 0; i < 4; ++i) {
      const double gamma = (1 + 0.1) * lambda[i] * lambda[i] + trace / 10 * lambda[i];
      scaled.push_back(std::sqrt(gamma * lambda[i]) * w[i]);
    }
    std::sort(scaled.begin(), scaled.end());
    double optimum = 0, at_zero = 0;
    for (int i = 0; i < 4; ++i) {
      at_zero += 0.5 * scaled[i] * scaled[i];
      if (i < 4 - rank) optimum += 0.5 * scaled[i] * scaled[i];
    }
    for (long seed = 0; seed < 8; ++seed) {
      EXPECT_EQ(run.outcomes.status[seed], static_cast<int>(Status::converged)) << "seed " << seed;
      EXPECT_NEAR(run.outcomes.final_loss[seed], optimum, 1e-9 * at_zero) << "seed " << seed;
      if (rank < 4) continue;
      const double* F1 = &run.traces.final_factors[0][seed * 16];
      const double* F2 = &run.traces.final_factors[1][seed * 16];
      std::vector<double> expected(16, 0.0);
      for (int i = 0; i < 4; ++i) expected[i * 4 + i] = w[i];
      EXPECT_LT(relative_error(
                    4, 4, 4, F1, [&](int k, int j) { return F2[k * 4 + j]; }, expected),
                1e-6)
          << "seed " << seed;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, BackendSuite, ::testing::Values("cpu", "cuda"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace specsweep
