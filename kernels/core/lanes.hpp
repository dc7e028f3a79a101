#pragma once
// Lane operations for the scalar case. The per-seed algorithms in kernels/core are written once
// against a "lane value" type V: a plain float/double (one seed per thread, as on the GPU and in
// the reference tests) or a SIMD pack of seeds (kernels/cpu/pack.hpp). Every data-dependent branch
// is written as select(mask, a, b), so a pack of seeds follows exactly the arithmetic each seed
// would follow alone: results do not depend on which seeds share a pack.
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>

#include "hd.hpp"

namespace specsweep {

// Double: lanes of doubles (the same width, or a part of it: kernels/cpu/pack.hpp); Words: as
// many lanes of 64-bit unsigned integers (for the counter-based generator, random.hpp).
template <class V>
struct LaneTraits {
  using Scalar = V;
  using Mask = bool;
  using Double = double;
  using Words = std::uint64_t;
  static constexpr int width = 1;
};

template <class V>
using ScalarOf = typename LaneTraits<V>::Scalar;
// The lane value an array handle P refers to. The core takes arrays as handles rather than V*:
// a plain pointer on the CPU and in the reference tests, or an interleaved view (interleaved.hpp)
// on the GPU, where neighbouring seeds' copies of an element sit side by side in memory.
template <class P>
using LaneOf = std::remove_cv_t<std::remove_reference_t<decltype(std::declval<P>()[0])>>;
template <class V>
using MaskOf = typename LaneTraits<V>::Mask;

template <class T>
SPECSWEEP_HD inline T select(bool m, T a, T b) {
  return m ? a : b;
}
SPECSWEEP_HD inline bool any(bool m) { return m; }
SPECSWEEP_HD inline bool all(bool m) { return m; }
template <class T>
SPECSWEEP_HD inline T vsqrt(T x) {
  using std::sqrt;
  return sqrt(x);
}
template <class T>
SPECSWEEP_HD inline T vabs(T x) {
  using std::fabs;
  return fabs(x);
}
template <class T>
SPECSWEEP_HD inline T vmax(T a, T b) {
  return a > b ? a : b;
}
template <class T>
SPECSWEEP_HD inline T vmin(T a, T b) {
  return a < b ? a : b;
}
template <class T>
SPECSWEEP_HD inline T vlog(T x) {
  using std::log;
  return log(x);
}
template <class T>
SPECSWEEP_HD inline T vexp(T x) {
  using std::exp;
  return exp(x);
}
template <class T>
SPECSWEEP_HD inline T vfma(T a, T b, T c) {
  using std::fma;
  return fma(a, b, c);
}
// The words as doubles (exact below 2^53).
SPECSWEEP_HD inline double to_double(std::uint64_t w) { return static_cast<double>(w); }
// Lane i of lane words.
SPECSWEEP_HD inline void set_word(std::uint64_t& w, int, std::uint64_t value) { w = value; }
// The lane value V from its double lanes (in width(V) / width(Double) parts), rounded to V.
template <class V>
SPECSWEEP_HD inline V to_lanes(const double* x) {
  return static_cast<V>(x[0]);
}
// NaN and +-Inf fail the comparison.
template <class T>
SPECSWEEP_HD inline bool is_finite(T x) {
  return vabs(x) <= std::numeric_limits<T>::max();
}
// Lane i of a lane value; scalars have one lane.
template <class T>
SPECSWEEP_HD inline T lane(T x, int) {
  return x;
}
template <class T>
SPECSWEEP_HD inline void set_lane(T& x, int, T value) {
  x = value;
}

}  // namespace specsweep
