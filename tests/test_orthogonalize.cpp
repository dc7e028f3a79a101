// Orthogonalizers against their defining properties: Newton–Schulz acts on each singular value as
// its scalar polynomial, the exact polar factor of a rank-deficient matrix is a partial isometry,
// and smooth(eps) tends to the exact factor as eps -> 0.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "core/orthogonalize.hpp"
#include "test_helpers.hpp"

namespace specsweep {
namespace {

using testing::geometric;
using testing::singular_values;
using testing::with_spectrum;

NsSchedule schedule(std::vector<NsTriple> triples, int iterations, double norm_scale = 1.0) {
  NsSchedule s;
  for (size_t i = 0; i < triples.size(); ++i) s.steps[i] = triples[i];
  s.count = static_cast<int>(triples.size());
  s.iterations = iterations;
  s.norm_scale = norm_scale;
  return s;
}

const NsSchedule kJordan5 = schedule({{3.4445, -4.7750, 2.0315}}, 5);
const NsSchedule kCubic40 = schedule({{1.5, -0.5, 0.0}}, 40);
// Amsel et al. 2025, with the 1.01 safety factor on all but the last triple.
NsSchedule polar_express() {
  const double raw[8][3] = {{8.28721201814563, -23.595886519098837, 17.300387312530933},
                            {4.107059111542203, -2.9478499167379106, 0.5448431082926601},
                            {3.9486908534822946, -2.908902115962949, 0.5518191394370137},
                            {3.3184196573706015, -2.488488024314874, 0.51004894012372},
                            {2.300652019954817, -1.6689039845747493, 0.4188073119525673},
                            {1.891301407787398, -1.2679958271945868, 0.37680408948524835},
                            {1.8750014808534479, -1.2500016453999487, 0.3750001645474248},
                            {1.875, -1.25, 0.375}};
  std::vector<NsTriple> t;
  for (int i = 0; i < 8; ++i) {
    const double f = i < 7 ? 1.01 : 1.0;
    t.push_back({raw[i][0] / f, raw[i][1] / (f * f * f), raw[i][2] / (f * f * f * f * f)});
  }
  return schedule(t, 8, 1.01);
}

// The scalar map NS applies to a normalized singular value x.
double ns_scalar(const NsSchedule& ns, double x) {
  for (int i = 0; i < ns.iterations; ++i) {
    const NsTriple& k = ns.at(i);
    x = k.a * x + k.b * x * x * x + k.c * x * x * x * x * x;
  }
  return x;
}

template <class T>
std::vector<double> ns_output_spectrum(int rows, int cols, const std::vector<double>& A,
                                       const NsSchedule& ns) {
  std::vector<T> G(A.begin(), A.end()), X(rows * cols), work(orthogonalize_workspace(rows, cols));
  newton_schulz(rows, cols, G.data(), X.data(), work.data(), ns);
  return singular_values(rows, cols, std::vector<double>(X.begin(), X.end()));
}

struct NsCase {
  int rows, cols;
  double condition;
};

class NewtonSchulz : public ::testing::TestWithParam<NsCase> {};

// jordan5 maps every normalized singular value x in [0.01, 1] into [0.68, 1.14] (the band of its
// scalar quintic after 5 steps, documented in kernels/core/orthogonalize.hpp), and the matrix
// iteration reproduces the scalar map on each singular value.
TEST_P(NewtonSchulz, Jordan5LandsInItsBandAndFollowsTheScalarMap) {
  const auto c = GetParam();
  const int p = std::min(c.rows, c.cols);
  auto sigma = geometric(p, 2.0, c.condition);
  const auto A = with_spectrum(c.rows, c.cols, sigma, 23);
  double fro = 0;
  for (double s : sigma) fro += s * s;
  fro = std::sqrt(fro);
  ASSERT_GE(sigma.back() / fro, 0.01) << "case outside the band's input range";
  const auto out = ns_output_spectrum<float>(c.rows, c.cols, A, kJordan5);
  std::vector<double> expected;
  for (double s : sigma) expected.push_back(ns_scalar(kJordan5, s / fro));
  std::sort(expected.begin(), expected.end(), std::greater<>());
  for (int k = 0; k < p; ++k) {
    EXPECT_GE(out[k], 0.68);
    EXPECT_LE(out[k], 1.14);
  }
  // The polynomial map is not monotone, so compare as sorted multisets.
  for (int k = 0; k < p; ++k) EXPECT_NEAR(out[k], expected[k], 2e-4) << "k=" << k;
}

TEST_P(NewtonSchulz, PolarExpressAndLongCubicReachOrthogonality) {
  const auto c = GetParam();
  const int p = std::min(c.rows, c.cols);
  const auto A = with_spectrum(c.rows, c.cols, geometric(p, 5.0, c.condition), 29);
  for (const NsSchedule& ns : {polar_express(), kCubic40}) {
    const auto s = ns_output_spectrum<double>(c.rows, c.cols, A, ns);
    // ||X^T X - I||_2 = max |s_k^2 - 1|; both scalar maps reach 1 to 1e-14 for inputs in [1e-3, 1].
    for (double v : s) EXPECT_LT(std::abs(v * v - 1.0), 1e-8);
  }
}

INSTANTIATE_TEST_SUITE_P(ShapesAndConditions, NewtonSchulz,
                         ::testing::Values(NsCase{60, 5, 1}, NsCase{60, 5, 10}, NsCase{5, 70, 20},
                                           NsCase{16, 16, 10}, NsCase{128, 8, 10},
                                           NsCase{8, 3, 40}));

TEST(NewtonSchulz, IsScaleInvariantAndMapsZeroToZero) {
  const auto A = with_spectrum(30, 4, {1.0, 0.5, 0.2, 0.1}, 31);
  std::vector<double> tiny(A), X1(A.size()), X2(A.size()), work(orthogonalize_workspace(30, 4));
  for (double& v : tiny) v *= 1e-9;  // gradients near a 1e-3 LoRA init are this small
  newton_schulz(30, 4, A.data(), X1.data(), work.data(), kJordan5);
  newton_schulz(30, 4, tiny.data(), X2.data(), work.data(), kJordan5);
  for (size_t i = 0; i < A.size(); ++i) EXPECT_NEAR(X1[i], X2[i], 1e-12);
  std::vector<double> zero(A.size(), 0.0);
  newton_schulz(30, 4, zero.data(), X1.data(), work.data(), kJordan5);
  for (double v : X1) EXPECT_EQ(v, 0.0);
}

// U_2 V_2^T for G = U diag(3, 1, 0, 0) V^T: a partial isometry, not amplified noise. In fp64 the
// rounding of G (~1e-16) is far below the 1e-14 rank cut.
TEST(PolarExact, RankDeficientInputGivesPartialIsometry) {
  for (const bool tall : {true, false}) {
    const int rows = tall ? 25 : 4, cols = tall ? 4 : 25;
    const auto U = testing::orthonormal_columns(std::max(rows, cols), 4, 41);
    const auto V = testing::orthonormal_columns(4, 4, 42);
    const double sig[4] = {3.0, 1.0, 0.0, 0.0};
    std::vector<double> G(rows * cols), expected(rows * cols, 0.0);
    for (int i = 0; i < rows; ++i)
      for (int j = 0; j < cols; ++j) {
        double g = 0, e = 0;
        for (int k = 0; k < 4; ++k) {
          const double left = tall ? U[i * 4 + k] : V[i * 4 + k];
          const double right = tall ? V[j * 4 + k] : U[j * 4 + k];
          g += left * sig[k] * right;
          e += sig[k] > 0 ? left * right : 0.0;
        }
        G[i * cols + j] = g;
        expected[i * cols + j] = e;
      }
    std::vector<double> P(rows * cols), work(orthogonalize_workspace(rows, cols));
    polar_exact(rows, cols, G.data(), P.data(), work.data());
    for (int i = 0; i < rows * cols; ++i)
      EXPECT_NEAR(P[i], expected[i], 1e-13) << (tall ? "tall " : "wide ") << i;
  }
}

// In fp32 a matrix that is rank-deficient in exact arithmetic ([a, b, a, 2b]) gives singular
// values (1, 1, 0, 0), and agrees with the fp64 polar factor to fp32 accuracy; zero maps to zero.
TEST(PolarExact, Fp32ExactlyRankDeficientAndZero) {
  const int rows = 30, cols = 4;
  const RandomStream stream(9, 0, 0, Purpose::init, 0);
  std::vector<float> G(rows * cols);
  for (int i = 0; i < rows; ++i) {
    const float a = float(stream.normal(2 * i)), b = float(stream.normal(2 * i + 1));
    G[i * cols + 0] = a;
    G[i * cols + 1] = b;
    G[i * cols + 2] = a;
    G[i * cols + 3] = 2.0f * b;
  }
  std::vector<float> P(rows * cols), work(orthogonalize_workspace(rows, cols));
  polar_exact(rows, cols, G.data(), P.data(), work.data());
  const std::vector<double> Gd(G.begin(), G.end());
  std::vector<double> Pd(rows * cols), workd(orthogonalize_workspace(rows, cols));
  polar_exact(rows, cols, Gd.data(), Pd.data(), workd.data());
  for (int i = 0; i < rows * cols; ++i) EXPECT_NEAR(P[i], Pd[i], 1e-5) << i;
  const auto s = singular_values(rows, cols, Pd);
  EXPECT_NEAR(s[0], 1.0, 1e-12);
  EXPECT_NEAR(s[1], 1.0, 1e-12);
  EXPECT_LT(s[2], 1e-12);

  std::vector<float> zero(12, 0.f), Z(12, 1.f), w(orthogonalize_workspace(4, 3));
  polar_exact(4, 3, zero.data(), Z.data(), w.data());
  for (float v : Z) EXPECT_EQ(v, 0.f);
}

// orth_deviation against each orthogonalizer's closed form on every singular value of its input:
// O = U diag(f(sigma)) V^T with f the scalar map of Newton-Schulz (on sigma / ||G||_F), of the
// smoothed factor (sigma / sqrt(sigma^2 + eps)) or 1 (exact), so the band is [min f, max f] and the
// error sqrt(sum (f_i - 1)^2 / p).
TEST(OrthDeviation, MatchesEachOrthogonalizersScalarMap) {
  for (const bool tall : {true, false}) {
    const int rows = tall ? 40 : 6, cols = tall ? 6 : 40, p = 6;
    const auto sigma = geometric(p, 2.0, 20.0);
    const auto G = with_spectrum(rows, cols, sigma, 61);
    double fro = 0;
    for (double v : sigma) fro += v * v;
    fro = std::sqrt(fro);
    const double eps = 1e-2;
    const struct {
      const char* name;
      OrthParams prm;
      std::function<double(double)> f;
    } cases[] = {
        {"exact", OrthParams{OrthKind::exact, 0.0, {}}, [](double) { return 1.0; }},
        {"smooth", OrthParams{OrthKind::smooth, eps, {}},
         [eps](double x) { return x / std::sqrt(x * x + eps); }},
        {"jordan5", OrthParams{OrthKind::newton_schulz, 0.0, kJordan5},
         [fro](double x) { return ns_scalar(kJordan5, x / fro); }},
    };
    for (const auto& c : cases) {
      std::vector<double> O(rows * cols), work(orthogonalize_workspace(rows, cols)),
          dev_work(orth_deviation_workspace(rows, cols));
      orthogonalize(c.prm, rows, cols, G.data(), O.data(), work.data());
      const auto dev = orth_deviation(rows, cols, G.data(), O.data(), dev_work.data());
      double lo = 1e300, hi = -1e300, err2 = 0;
      for (double x : sigma) {
        const double f = c.f(x);
        lo = std::min(lo, f);
        hi = std::max(hi, f);
        err2 += (f - 1) * (f - 1);
      }
      EXPECT_NEAR(dev.band_min, lo, 1e-12) << c.name << (tall ? " tall" : " wide");
      EXPECT_NEAR(dev.band_max, hi, 1e-12) << c.name;
      EXPECT_NEAR(dev.error, std::sqrt(err2 / p), 1e-12) << c.name;
    }
    // The closed forms are not trivially 0 or 1 here.
    EXPECT_GT(ns_scalar(kJordan5, sigma.back() / fro), 0.0);
  }
}

// Modes at or below the rank cut are left out: the exact factor of U diag(3, 1, 0, 0) V^T is its
// partial isometry, error 0 and band [1, 1]; G = 0 has no mode, error 0 and the band NaN.
TEST(OrthDeviation, CountsOnlyModesAboveTheRankCut) {
  const int rows = 25, cols = 4;
  const auto U = testing::orthonormal_columns(rows, 4, 71);
  const auto V = testing::orthonormal_columns(cols, 4, 72);
  std::vector<double> G(rows * cols, 0.0);
  const double s[4] = {3.0, 1.0, 0.0, 0.0};
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j)
      for (int k = 0; k < 4; ++k) G[i * cols + j] += U[i * 4 + k] * s[k] * V[j * 4 + k];
  std::vector<double> O(rows * cols), work(orthogonalize_workspace(rows, cols)),
      dev_work(orth_deviation_workspace(rows, cols));
  polar_exact(rows, cols, G.data(), O.data(), work.data());
  const auto dev = orth_deviation(rows, cols, G.data(), O.data(), dev_work.data());
  EXPECT_LT(dev.error, 1e-13);
  EXPECT_NEAR(dev.band_min, 1.0, 1e-13);
  EXPECT_NEAR(dev.band_max, 1.0, 1e-13);
  // Had the zero modes counted, O = U_2 V_2^T would be sqrt(2 / 4) from U_4 V_4^T.
  const std::vector<double> zero(rows * cols, 0.0);
  const auto none = orth_deviation(rows, cols, zero.data(), zero.data(), dev_work.data());
  EXPECT_EQ(none.error, 0.0);
  EXPECT_TRUE(std::isnan(none.band_min));
  EXPECT_TRUE(std::isnan(none.band_max));
}

TEST(PolarSmooth, ConvergesToExactAsEpsilonVanishes) {
  const int rows = 20, cols = 5;
  const auto G = with_spectrum(rows, cols, geometric(5, 1.0, 100.0), 51);
  std::vector<double> exact(rows * cols), smooth(rows * cols),
      work(orthogonalize_workspace(rows, cols));
  polar_exact(rows, cols, G.data(), exact.data(), work.data());
  double previous = 1e300;
  for (double eps : {1e-2, 1e-4, 1e-6, 1e-8, 1e-12}) {
    polar_smooth(rows, cols, G.data(), smooth.data(), work.data(), eps);
    double err = 0;
    for (int i = 0; i < rows * cols; ++i) err = std::max(err, std::abs(smooth[i] - exact[i]));
    // sigma / sqrt(sigma^2 + eps) - 1 ~ -eps / (2 sigma_min^2) with sigma_min = 0.01.
    EXPECT_LE(err, 0.5 * eps / 1e-4 + 1e-12) << "eps=" << eps;
    EXPECT_LT(err, previous);
    previous = err;
  }
}

}  // namespace
}  // namespace specsweep
