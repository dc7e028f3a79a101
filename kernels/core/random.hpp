#pragma once
// Counter-based randomness (DESIGN section 7). Every draw is a pure function of
// (key, cell, seed index, purpose, draw index) through Philox4x32-10, so a seed's numbers do not
// depend on batch size, thread count, device or resume point.
#include <Random123/philox.h>

#include <cmath>
#include <cstdint>

#include "hd.hpp"

namespace specsweep {

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

  // Standard normal number `index` of the stream. Box–Muller on a fixed pair of words, in double,
  // so every backend derives the same value from the same counter: normals 4b..4b+3 come from
  // block b, words (0,1) -> normals 0,1 and words (2,3) -> normals 2,3.
  SPECSWEEP_HD double normal(std::uint64_t index) const {
    const auto w = block(static_cast<std::uint32_t>(index >> 2));
    const int pair = static_cast<int>((index >> 1) & 1);
    double z[2];
    box_muller(w[2 * pair], w[2 * pair + 1], z);
    return z[index & 1];
  }

  // Normals 4b .. 4b + 3, the values normal() gives them, from one Philox block.
  SPECSWEEP_HD void normals4(std::uint32_t b, double out[4]) const {
    const auto w = block(b);
    box_muller(w[0], w[1], out);
    box_muller(w[2], w[3], out + 2);
  }

 private:
  SPECSWEEP_HD static void box_muller(std::uint32_t a, std::uint32_t b, double out[2]) {
    const double u1 = (static_cast<double>(a) + 1.0) * 0x1p-32;  // (0, 1]
    const double u2 = static_cast<double>(b) * 0x1p-32;          // [0, 1)
    const double radius = sqrt(-2.0 * log(u1));
    const double angle = 6.283185307179586476925286766559 * u2;
    out[0] = radius * cos(angle);
    out[1] = radius * sin(angle);
  }

  Rng::key_type key_;
  Rng::ctr_type ctr_;
};

}  // namespace specsweep
