#pragma once
// Counter-based randomness (DESIGN section 7). Every draw is a pure function of
// (key, cell, seed index, purpose, draw index) through Philox4x32-10, so a seed's numbers do not
// depend on batch size, thread count, device or resume point.
#include <Random123/philox.h>

#include <cmath>
#include <cstdint>

#include "hd.hpp"
#include "lanes.hpp"

namespace specsweep {

// Philox4x32-10 (Salmon, Moraes, Dror and Shaw 2011; the words Random123's Philox4x32_R<10>
// gives) on 32-bit words held in the low halves of U: std::uint64_t for one stream, lane words
// (LaneTraits<V>::Words) for many streams side by side, one Philox per lane.
template <class U>
SPECSWEEP_HD void philox4x32_10(U ctr[4], U key0, U key1) {
  const std::uint64_t low = 0xffffffffu;
  for (int round = 0; round < 10; ++round) {
    const U p0 = 0xD2511F53ull * ctr[0], p1 = 0xCD9E8D57ull * ctr[2];
    const U next[4] = {(p1 >> 32) ^ ctr[1] ^ key0, p1 & low, (p0 >> 32) ^ ctr[3] ^ key1, p0 & low};
    for (int i = 0; i < 4; ++i) ctr[i] = next[i];
    key0 = (key0 + 0x9E3779B9ull) & low;
    key1 = (key1 + 0xBB67AE85ull) & low;
  }
}

// log(m 2^exponent) for integers m in [1, 2^33) held as doubles D (double, or double lanes), from
// m = 2^e y with y in [1/sqrt 2, sqrt 2] and log y = 2 atanh(s), s = (y - 1) / (y + 1): a series in
// s^2 <= 0.0295, to 2^-55. Only exact scalings, explicit fma and correctly rounded operations, so
// a value is the same bits for one seed alone, in a SIMD lane and on the GPU.
template <class D>
SPECSWEEP_HD D log_of_scaled_integer(D m, double exponent) {
  D y = m, e = D(exponent);
  for (int shift = 16; shift >= 1; shift /= 2) {
    const D scale = D(double(std::uint64_t(1) << shift));
    const auto big = y >= scale;
    y = select(big, y / scale, y);
    e = select(big, e + D(double(shift)), e);
  }
  const auto high = y > D(1.4142135623730951);
  y = select(high, y * 0.5, y);
  e = select(high, e + D(1.0), e);
  const D s = (y - D(1.0)) / (y + D(1.0)), s2 = s * s;
  D series = D(1.0 / 19);
  for (int k = 8; k >= 1; --k) series = vfma(series, s2, D(1.0 / (2 * k + 1)));
  const D two_s = s * 2.0;
  const D log_y = vfma(two_s * s2, series, two_s);
  // ln 2 = ln2_high + ln2_low, ln2_high with 11 trailing zero bits: e ln2_high is exact.
  return vfma(e, D(0x1.62e42fefa3800p-1), vfma(e, D(0x1.ef35793c7673p-45), log_y));
}

// sin(2 pi u) and cos(2 pi u) for u = b 2^-32, b a 32-bit word in lane words U: the nearest
// quarter turn exactly, then Taylor series on |theta| <= pi/4 (to 2^-60).
template <class D, class U>
SPECSWEEP_HD void sincos_turns(U b, D& sine, D& cosine) {
  const U quarter = (b + (std::uint64_t(1) << 29)) >> 30;           // 0 .. 4
  const D f = (to_double(b) - to_double(quarter << 30)) * 0x1p-32;  // exact, in [-1/8, 1/8)
  const D theta = f * 6.283185307179586476925286766559;
  const D t2 = theta * theta;
  // sin = theta + theta^3 (c3 + c5 t2 + ... + c17 t2^7), cos = 1 - t2/2 + t2^2 (c4 + ... + c18 t2^7)
  const double sin_coefficients[] = {-1.0 / 1307674368000.0, 1.0 / 6227020800.0, -1.0 / 39916800.0,
                                     1.0 / 362880.0,         -1.0 / 5040.0,      1.0 / 120.0,
                                     -1.0 / 6.0};
  const double cos_coefficients[] = {1.0 / 20922789888000.0, -1.0 / 87178291200.0,
                                     1.0 / 479001600.0,      -1.0 / 3628800.0,
                                     1.0 / 40320.0,          -1.0 / 720.0,
                                     1.0 / 24.0};
  D sin_series = D(1.0 / 355687428096000.0), cos_series = D(-1.0 / 6402373705728000.0);
  for (int i = 0; i < 7; ++i) {
    sin_series = vfma(sin_series, t2, D(sin_coefficients[i]));
    cos_series = vfma(cos_series, t2, D(cos_coefficients[i]));
  }
  const D s = vfma(theta * t2, sin_series, theta);
  const D c = vfma(t2 * t2, cos_series, D(1.0) - t2 * 0.5);  // t2 / 2 is exact
  const D q = to_double(quarter & 3u);
  sine = select(q < D(0.5), s, select(q < D(1.5), c, select(q < D(2.5), -s, -c)));
  cosine = select(q < D(0.5), c, select(q < D(1.5), -s, select(q < D(2.5), -c, s)));
}

// Box–Muller on a pair of 32-bit words (a, b) in lane words U: u1 = (a + 1) 2^-32 in (0, 1],
// u2 = b 2^-32 in [0, 1); the normals sqrt(-2 log u1) cos(2 pi u2), sqrt(-2 log u1) sin(2 pi u2).
template <class D, class U>
SPECSWEEP_HD void box_muller(U a, U b, D& first, D& second) {
  const D radius = vsqrt(log_of_scaled_integer(to_double(a) + D(1.0), -32.0) * -2.0);
  D sine, cosine;
  sincos_turns(b, sine, cosine);
  first = radius * cosine;
  second = radius * sine;
}

// What a stream is for; part of the counter, so streams never overlap.
// sharpness: the Lanczos start vector, one stream shared by every seed
// (kernels/core/trajectory.hpp). gradient_noise: optimizer.gradient_noise, one stream per seed
// whose substream is the step (add_gradient_noise).
enum class Purpose : std::uint32_t {
  target = 1,
  init = 2,
  basin = 3,
  sharpness = 4,
  gradient_noise = 5
};

class RandomStream {
 public:
  using Rng = r123::Philox4x32_R<10>;
  SPECSWEEP_HD RandomStream(std::uint64_t key, std::uint32_t cell, std::uint32_t seed_index,
                            Purpose purpose, std::uint32_t substream = 0) {
    key_ = {{static_cast<std::uint32_t>(key), static_cast<std::uint32_t>(key >> 32)}};
    ctr_ = {{0u, (static_cast<std::uint32_t>(purpose) << 24) | substream, seed_index, cell}};
  }

  // The same stream with another substream (24 bits).
  SPECSWEEP_HD RandomStream with_substream(std::uint32_t substream) const {
    RandomStream s = *this;
    s.ctr_[1] = (ctr_[1] & 0xff000000u) | (substream & 0x00ffffffu);
    return s;
  }

  // Four 32-bit words for block `index` of this stream.
  SPECSWEEP_HD Rng::ctr_type block(std::uint32_t index) const {
    Rng::ctr_type c = ctr_;
    c[0] = index;
    return Rng()(c, key_);
  }

  // The stream's key and counter words (the counter's first word is the block index).
  SPECSWEEP_HD const Rng::key_type& key() const { return key_; }
  SPECSWEEP_HD const Rng::ctr_type& counter() const { return ctr_; }

  // Standard normal number `index` of the stream: box_muller (above) on a fixed pair of words, in
  // double, so every backend derives the same value from the same counter: normals 4b..4b+3 come
  // from block b, words (0,1) -> normals 0,1 and words (2,3) -> normals 2,3.
  SPECSWEEP_HD double normal(std::uint64_t index) const {
    const auto w = block(static_cast<std::uint32_t>(index >> 2));
    const int pair = static_cast<int>((index >> 1) & 1);
    double z[2];
    box_muller<double, std::uint64_t>(w[2 * pair], w[2 * pair + 1], z[0], z[1]);
    return z[index & 1];
  }

  // Normals 4b .. 4b + 3, the values normal() gives them, from one Philox block.
  SPECSWEEP_HD void normals4(std::uint32_t b, double out[4]) const {
    const auto w = block(b);
    box_muller<double, std::uint64_t>(w[0], w[1], out[0], out[1]);
    box_muller<double, std::uint64_t>(w[2], w[3], out[2], out[3]);
  }

 private:
  Rng::key_type key_;
  Rng::ctr_type ctr_;
};

}  // namespace specsweep
