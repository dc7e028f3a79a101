// Philox4x32-10 against Random123's published known-answer vectors (kat_vectors), and the
// properties the reproducibility contract rests on.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "core/trajectory.hpp"
#include "cpu/pack.hpp"

namespace specsweep {
namespace {

struct Kat {
  r123::Philox4x32_R<10>::ctr_type ctr;
  r123::Philox4x32_R<10>::key_type key;
  r123::Philox4x32_R<10>::ctr_type expected;
};

TEST(Philox, MatchesPublishedKnownAnswers) {
  const Kat kats[] = {
      {{{0, 0, 0, 0}}, {{0, 0}}, {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}}},
      {{{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}},
       {{0xffffffff, 0xffffffff}},
       {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}}},
      {{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}},
       {{0xa4093822, 0x299f31d0}},
       {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}}},
  };
  for (const Kat& k : kats) {
    const auto out = r123::Philox4x32_R<10>()(k.ctr, k.key);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(out[i], k.expected[i]);
  }
}

// The lane-wise Philox (one per lane, words in 64-bit lanes) gives Random123's words: on the
// published vectors, and per lane on random counters and keys.
TEST(Philox, LaneWiseMatchesRandom123) {
  using Words = LaneTraits<NativePack<float>>::Words;
  constexpr int W = LaneTraits<LaneTraits<NativePack<float>>::Double>::width;
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    r123::Philox4x32_R<10>::ctr_type ctr[W];
    r123::Philox4x32_R<10>::key_type key[W];
    Words words[4]{}, key0{}, key1{};
    for (int i = 0; i < W; ++i) {
      for (int j = 0; j < 4; ++j) set_word(words[j], i, ctr[i][j] = rng());
      set_word(key0, i, key[i][0] = rng());
      set_word(key1, i, key[i][1] = rng());
    }
    philox4x32_10(words, key0, key1);
    for (int i = 0; i < W; ++i) {
      const auto want = r123::Philox4x32_R<10>()(ctr[i], key[i]);
      for (int j = 0; j < 4; ++j) EXPECT_EQ(words[j].v[i], want[j]) << trial << " " << i << " " << j;
      std::uint64_t one[4] = {ctr[i][0], ctr[i][1], ctr[i][2], ctr[i][3]};
      philox4x32_10(one, std::uint64_t{key[i][0]}, std::uint64_t{key[i][1]});
      for (int j = 0; j < 4; ++j) EXPECT_EQ(one[j], want[j]);
    }
  }
}

// Box–Muller's own log and sine/cosine (the same bits on every backend) against the C library,
// in long double: within 2 ulp of log u1 (5e-16 absolute where log u1 is near 0) and 1e-15 for
// sin and cos, over the edges of their reductions and random words.
TEST(BoxMuller, LogAndSineCosineAreAccurate) {
  std::vector<std::uint32_t> words = {0u, 1u, 2u, 3u, 0x7fffffffu, 0x80000000u, 0xb504f333u,
                                      0xb504f334u, 0x1fffffffu, 0x20000000u, 0x20000001u,
                                      0x5fffffffu, 0x60000000u, 0xdfffffffu, 0xe0000000u,
                                      0xfffffffeu, 0xffffffffu};
  for (int k = 0; k <= 32; ++k) words.push_back(std::uint32_t((std::uint64_t(1) << k) - 1));
  std::mt19937 rng(3);
  for (int i = 0; i < 20000; ++i) words.push_back(rng());
  for (std::uint32_t a : words) {
    const double m = double(a) + 1.0;
    const long double want = std::log(static_cast<long double>(m)) - 32 * std::log(2.0L);
    const double got = log_of_scaled_integer(m, -32.0);
    EXPECT_LE(std::fabs(static_cast<long double>(got) - want),
              2 * std::numeric_limits<double>::epsilon() * std::fabs(want) + 5e-16L)
        << a;
    double s = 0, c = 0;
    sincos_turns(std::uint64_t{a}, s, c);
    const long double angle = 2 * 3.14159265358979323846264338327950288L * (a * 0x1p-32L);
    EXPECT_LE(std::fabs(s - std::sin(angle)), 1e-15L) << a;
    EXPECT_LE(std::fabs(c - std::cos(angle)), 1e-15L) << a;
  }
}

TEST(RandomStream, CounterLayoutIsTheDocumentedOne) {
  // key = master seed (low, high word); counter = (block, purpose << 24 | substream, seed, cell).
  const RandomStream s(0x0000000200000001ULL, 7, 5, Purpose::init, 3);
  const auto got = s.block(11);
  const auto want = r123::Philox4x32_R<10>()({{11, (2u << 24) | 3u, 5, 7}}, {{1, 2}});
  for (int i = 0; i < 4; ++i) EXPECT_EQ(got[i], want[i]);
}

TEST(RandomStream, StreamsDifferByEveryCoordinate) {
  const double base = RandomStream(1, 0, 0, Purpose::init, 0).normal(0);
  EXPECT_NE(base, RandomStream(2, 0, 0, Purpose::init, 0).normal(0));
  EXPECT_NE(base, RandomStream(1, 1, 0, Purpose::init, 0).normal(0));
  EXPECT_NE(base, RandomStream(1, 0, 1, Purpose::init, 0).normal(0));
  EXPECT_NE(base, RandomStream(1, 0, 0, Purpose::target, 0).normal(0));
  EXPECT_NE(base, RandomStream(1, 0, 0, Purpose::init, 1).normal(0));
  EXPECT_EQ(base, RandomStream(1, 0, 0, Purpose::init, 0).normal(0));
}

TEST(RandomStream, NormalsHaveStandardMoments) {
  const RandomStream s(42, 0, 0, Purpose::init, 0);
  const int n = 200000;
  double sum = 0, sum2 = 0, sum4 = 0;
  for (int i = 0; i < n; ++i) {
    const double x = s.normal(i);
    ASSERT_TRUE(std::isfinite(x));
    sum += x;
    sum2 += x * x;
    sum4 += x * x * x * x;
  }
  const double mean = sum / n, var = sum2 / n - mean * mean;
  // Standard errors: mean 1/sqrt(n) = 0.0022, variance sqrt(2/n) = 0.0032, 4th moment ~0.022.
  EXPECT_NEAR(mean, 0.0, 5 * 0.0022);
  EXPECT_NEAR(var, 1.0, 5 * 0.0032);
  EXPECT_NEAR(sum4 / n, 3.0, 5 * 0.022);
}

TEST(RandomStream, SubstreamsAndBlocksAreTheDocumentedNumbers) {
  const RandomStream s(9, 4, 3, Purpose::gradient_noise);
  const RandomStream t = s.with_substream(17);
  const auto want = r123::Philox4x32_R<10>()({{2, (5u << 24) | 17u, 3, 4}}, {{9, 0}});
  const auto got = t.block(2);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(got[i], want[i]);
  double four[4];
  t.normals4(2, four);
  for (int j = 0; j < 4; ++j) EXPECT_EQ(four[j], t.normal(8 + j)) << j;
  EXPECT_EQ(RandomStream(9, 4, 3, Purpose::gradient_noise, 17).normal(5), t.normal(5));
}

// Gradient noise: entry e of the concatenated factors at step t and stage s is normal number
// s * params + e of the seed's stream at substream t, times the scale; a lane of a pack gets
// exactly its own seed's numbers.
TEST(GradientNoise, IsEachLanesOwnStreamScaled) {
  const Shape sh{7, 5, 3, 2};
  const int params = sh.total();
  OptimizerParams op;
  op.gradient_noise = 0.25;
  using P = NativePack<double>;
  constexpr int W = LaneTraits<P>::width;
  std::vector<RandomStream> streams;
  for (int i = 0; i < W; ++i) streams.emplace_back(11, 2, 100 + i, Purpose::gradient_noise);
  std::vector<P> G(params, P(1.0));
  add_gradient_noise(sh, op, streams.data(), 6, 2, G.data());
  for (int i = 0; i < W; ++i) {
    const RandomStream step = streams[i].with_substream(6);
    for (int e = 0; e < params; ++e)
      EXPECT_EQ(lane(G[e], i), 1.0 + 0.25 * step.normal(2 * params + e)) << i << " " << e;
    // The scalar path (one seed, as the GPU's thread) gives the same numbers.
    std::vector<double> g(params, 1.0);
    add_gradient_noise(sh, op, &streams[i], 6, 2, g.data());
    for (int e = 0; e < params; ++e) EXPECT_EQ(g[e], lane(G[e], i));
  }
}

// Relative noise: per factor, entries N(0, (c ||G_k||_F)^2 / size), so ||noise_k||^2 / (c
// ||G_k||)^2 is chi-square with size_k degrees of freedom over size_k; zero G gets none.
TEST(GradientNoise, RelativeScaleFollowsEachFactorsNorm) {
  const Shape sh{60, 70, 5, 2};
  OptimizerParams op;
  op.gradient_noise = 0.3;
  op.noise_relative = true;
  const RandomStream stream(5, 0, 1, Purpose::gradient_noise);
  std::vector<double> G(sh.total()), before;
  for (int e = 0; e < sh.total(); ++e) G[e] = (e < sh.size(0) ? 2.0 : 0.01) * std::sin(e + 1.0);
  before = G;
  double ratio_sum = 0;
  const int trials = 40;
  for (int t = 0; t < trials; ++t) {
    G = before;
    add_gradient_noise(sh, op, &stream, t, 0, G.data());
    for (int k = 0; k < 2; ++k) {
      double g2 = 0, n2 = 0;
      for (int e = sh.offset(k); e < sh.offset(k) + sh.size(k); ++e) {
        g2 += before[e] * before[e];
        n2 += (G[e] - before[e]) * (G[e] - before[e]);
      }
      const double ratio = n2 / (0.09 * g2);
      // One draw: sd sqrt(2 / size) = 0.073 (F1, 300 entries), 0.067 (F2, 350).
      EXPECT_NEAR(ratio, 1.0, 5 * std::sqrt(2.0 / sh.size(k))) << t << " " << k;
      ratio_sum += ratio;
    }
  }
  EXPECT_NEAR(ratio_sum / (2 * trials), 1.0, 5 * std::sqrt(2.0 / 650 / trials));
  std::vector<double> zero(sh.total(), 0.0);
  add_gradient_noise(sh, op, &stream, 3, 0, zero.data());
  for (double v : zero) EXPECT_EQ(v, 0.0);
}

}  // namespace
}  // namespace specsweep
