// Philox4x32-10 against Random123's published known-answer vectors (kat_vectors), and the
// properties the reproducibility contract rests on.
#include <gtest/gtest.h>

#include <cmath>

#include "core/random.hpp"

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
      {{{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}}, {{0xffffffff, 0xffffffff}},
       {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}}},
      {{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}}, {{0xa4093822, 0x299f31d0}},
       {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}}},
  };
  for (const Kat& k : kats) {
    const auto out = r123::Philox4x32_R<10>()(k.ctr, k.key);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(out[i], k.expected[i]);
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

}  // namespace
}  // namespace specsweep
