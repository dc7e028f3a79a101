#pragma once
// Pack<T, W>: W seeds side by side, one per SIMD lane. Arithmetic is lane-wise through GCC vector
// extensions, so each scalar operation of the per-seed algorithm becomes one vector instruction.
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "core/lanes.hpp"

namespace specsweep {

// Bytes of one SIMD register on the build target.
#if defined(__AVX512F__)
inline constexpr int kSimdBytes = 64;
#elif defined(__AVX__)
inline constexpr int kSimdBytes = 32;
#else
inline constexpr int kSimdBytes = 16;
#endif

template <class T, int W>
struct Pack;

template <class T, int W>
struct PackMask {
  using Int = std::conditional_t<sizeof(T) == 4, std::int32_t, std::int64_t>;
  typedef Int Vec __attribute__((vector_size(sizeof(Int) * W)));
  Vec v;
  friend PackMask operator&(PackMask a, PackMask b) { return {a.v & b.v}; }
  friend PackMask operator|(PackMask a, PackMask b) { return {a.v | b.v}; }
  friend PackMask operator!(PackMask a) { return {~a.v}; }
};

template <class T, int W>
struct Pack {
  typedef T Vec __attribute__((vector_size(sizeof(T) * W)));
  using Mask = PackMask<T, W>;
  Vec v;

  Pack() = default;
  Pack(T s) : v(Vec{} + s) {}  // NOLINT: broadcast, like a scalar literal
  static Pack wrap(Vec x) {
    Pack p;
    p.v = x;
    return p;
  }

  Pack& operator+=(Pack b) { v += b.v; return *this; }
  Pack& operator-=(Pack b) { v -= b.v; return *this; }
  Pack& operator*=(Pack b) { v *= b.v; return *this; }
  Pack& operator/=(Pack b) { v /= b.v; return *this; }
  friend Pack operator+(Pack a, Pack b) { return wrap(a.v + b.v); }
  friend Pack operator-(Pack a, Pack b) { return wrap(a.v - b.v); }
  friend Pack operator*(Pack a, Pack b) { return wrap(a.v * b.v); }
  friend Pack operator/(Pack a, Pack b) { return wrap(a.v / b.v); }
  friend Pack operator+(Pack a, T b) { return wrap(a.v + b); }
  friend Pack operator-(Pack a, T b) { return wrap(a.v - b); }
  friend Pack operator*(Pack a, T b) { return wrap(a.v * b); }
  friend Pack operator/(Pack a, T b) { return wrap(a.v / b); }
  friend Pack operator+(T a, Pack b) { return wrap(a + b.v); }
  friend Pack operator-(T a, Pack b) { return wrap(a - b.v); }
  friend Pack operator*(T a, Pack b) { return wrap(a * b.v); }
  friend Pack operator/(T a, Pack b) { return wrap(a / b.v); }
  friend Pack operator-(Pack a) { return wrap(-a.v); }
  friend Mask operator<(Pack a, Pack b) { return {a.v < b.v}; }
  friend Mask operator<=(Pack a, Pack b) { return {a.v <= b.v}; }
  friend Mask operator>(Pack a, Pack b) { return {a.v > b.v}; }
  friend Mask operator>=(Pack a, Pack b) { return {a.v >= b.v}; }
};

// W 64-bit words side by side, with the integer operations of the counter-based generator
// (random.hpp); a struct in this namespace, so that the core finds its functions.
template <int W>
struct PackWords {
  typedef std::uint64_t Vec __attribute__((vector_size(sizeof(std::uint64_t) * W)));
  Vec v;
  static PackWords wrap(Vec x) {
    PackWords p;
    p.v = x;
    return p;
  }
  friend PackWords operator+(PackWords a, std::uint64_t b) { return wrap(a.v + b); }
  friend PackWords operator*(std::uint64_t a, PackWords b) { return wrap(a * b.v); }
  friend PackWords operator^(PackWords a, PackWords b) { return wrap(a.v ^ b.v); }
  friend PackWords operator&(PackWords a, std::uint64_t b) { return wrap(a.v & b); }
  friend PackWords operator>>(PackWords a, int b) { return wrap(a.v >> b); }
  friend PackWords operator<<(PackWords a, int b) { return wrap(a.v << b); }
};

// Double lanes of at most one register: GCC turns comparisons and selects of wider vectors into
// scalar code, so a pack of 16 floats takes its doubles as two packs of 8 (to_lanes joins them).
template <int W>
inline constexpr int kDoubleWidth = W * 8 > kSimdBytes ? kSimdBytes / 8 : W;

template <class T, int W>
struct LaneTraits<Pack<T, W>> {
  using Scalar = T;
  using Mask = PackMask<T, W>;
  using Double = Pack<double, kDoubleWidth<W>>;
  using Words = PackWords<kDoubleWidth<W>>;
  static constexpr int width = W;
};

template <class T, int W>
inline Pack<T, W> select(PackMask<T, W> m, Pack<T, W> a, Pack<T, W> b) {
  return Pack<T, W>::wrap(m.v ? a.v : b.v);
}
template <class T, int W>
inline bool any(PackMask<T, W> m) {
  bool r = false;
  for (int i = 0; i < W; ++i) r |= m.v[i] != 0;
  return r;
}
template <class T, int W>
inline bool all(PackMask<T, W> m) {
  bool r = true;
  for (int i = 0; i < W; ++i) r &= m.v[i] != 0;
  return r;
}
template <class T, int W>
inline Pack<T, W> vsqrt(Pack<T, W> x) {
  Pack<T, W> r;
  for (int i = 0; i < W; ++i) r.v[i] = std::sqrt(x.v[i]);
  return r;
}
template <class T, int W>
inline Pack<T, W> vfma(Pack<T, W> a, Pack<T, W> b, Pack<T, W> c) {
  Pack<T, W> r;
  for (int i = 0; i < W; ++i) r.v[i] = std::fma(a.v[i], b.v[i], c.v[i]);
  return r;
}
template <int W>
inline Pack<double, W> to_double(PackWords<W> w) {
  return Pack<double, W>::wrap(__builtin_convertvector(w.v, typename Pack<double, W>::Vec));
}
template <int W>
inline void set_word(PackWords<W>& w, int i, std::uint64_t value) {
  w.v[i] = value;
}
// The pack V of W * parts lanes from `parts` packs of W doubles, each rounded to V's precision.
template <class V, int W>
inline V to_lanes(const Pack<double, W>* x) {
  using T = typename LaneTraits<V>::Scalar;
  constexpr int parts = LaneTraits<V>::width / W;
  typedef T Part __attribute__((vector_size(sizeof(T) * W)));
  if constexpr (parts == 1) {
    return V::wrap(__builtin_convertvector(x[0].v, Part));
  } else if constexpr (parts == 2 && W == 8) {
    const Part low = __builtin_convertvector(x[0].v, Part);
    const Part high = __builtin_convertvector(x[1].v, Part);
    return V::wrap(__builtin_shufflevector(low, high, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
                                           14, 15));
  } else {
    V r;
    for (int i = 0; i < LaneTraits<V>::width; ++i) r.v[i] = T(x[i / W].v[i % W]);
    return r;
  }
}
template <class T, int W>
inline Pack<T, W> vlog(Pack<T, W> x) {
  Pack<T, W> r;
  for (int i = 0; i < W; ++i) r.v[i] = std::log(x.v[i]);
  return r;
}
template <class T, int W>
inline Pack<T, W> vexp(Pack<T, W> x) {
  Pack<T, W> r;
  for (int i = 0; i < W; ++i) r.v[i] = std::exp(x.v[i]);
  return r;
}
template <class T, int W>
inline Pack<T, W> vabs(Pack<T, W> x) {
  return select(x < Pack<T, W>(T(0)), -x, x);
}
template <class T, int W>
inline Pack<T, W> vmax(Pack<T, W> a, Pack<T, W> b) {
  return select(a > b, a, b);
}
template <class T, int W>
inline Pack<T, W> vmin(Pack<T, W> a, Pack<T, W> b) {
  return select(a < b, a, b);
}
template <class T, int W>
inline PackMask<T, W> is_finite(Pack<T, W> x) {
  return vabs(x) <= Pack<T, W>(std::numeric_limits<T>::max());
}
template <class T, int W>
inline T lane(Pack<T, W> x, int i) {
  return x.v[i];
}
template <class T, int W>
inline void set_lane(Pack<T, W>& x, int i, T value) {
  x.v[i] = value;
}

// The pack the CPU backend uses for precision T: one full SIMD register of seeds.
template <class T>
using NativePack = Pack<T, kSimdBytes / sizeof(T)>;

}  // namespace specsweep
