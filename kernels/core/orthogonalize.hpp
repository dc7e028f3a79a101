#pragma once
// orth(G) for the spectral optimizers (DESIGN section 2): the exact polar factor, its smoothed
// form and Newton–Schulz polynomial iterations.
#include "linalg.hpp"

namespace specsweep {

enum class OrthKind { exact, smooth, newton_schulz };

// One Newton–Schulz step X <- a X + b (XX^T) X + c (XX^T)^2 X.
struct NsTriple {
  double a, b, c;
};

// Bands (scalar maps of the presets on a normalized singular value x): jordan5 x5 takes
// x in [0.01, 1] into [0.682, 1.135] (not to 1: it trades accuracy for speed); polar_express x8
// and cubic x40 take x in [1e-3, 1] to 1 within 1e-14.
// A Newton–Schulz schedule: steps[0..count) with the last triple repeated beyond count, and the
// pre-scaling divisor applied to ||X||_F (1 for most presets, 1.01 for polar_express).
inline constexpr int kMaxNsTriples = 16;
struct NsSchedule {
  NsTriple steps[kMaxNsTriples];
  int count = 0;
  int iterations = 0;
  double norm_scale = 1.0;
  SPECSWEEP_HD const NsTriple& at(int i) const { return steps[i < count ? i : count - 1]; }
};

struct OrthParams {
  OrthKind kind = OrthKind::exact;
  double smooth_eps = 1e-6;
  NsSchedule ns;
};

// Relative cut below which singular values count as zero in the exact polar factor: a
// rank-deficient gradient then gives a partial isometry rather than amplified rounding noise.
template <class T>
SPECSWEEP_HD constexpr T polar_rank_cut() {
  return sizeof(T) == 4 ? T(1e-7) : T(1e-14);
}

// Workspace, in lane values, for orthogonalize on a rows x cols matrix.
SPECSWEEP_HD constexpr int orthogonalize_workspace(int rows, int cols) {
  const int p = rows < cols ? rows : cols;
  const int big = rows > cols ? rows : cols;
  return 2 * big * p + 4 * p * p + 2 * p + thin_svd_workspace(rows, cols);
}

// out = U diag(f(sigma)) V^T from the thin SVD, with f applied lane-wise: used by the exact and
// smoothed polar factors.
template <class PG, class P, class F>
SPECSWEEP_HD void spectral_map(int rows, int cols, PG G, P out, P work, F f) {
  using V = LaneOf<P>;
  const int p = rows < cols ? rows : cols;
  P U = work;
  P Vm = U + rows * p;
  P sigma = Vm + cols * p;
  P scaled = sigma + p;  // U diag(f(sigma)), rows x p
  P svd_work = scaled + rows * p;
  thin_svd(rows, cols, G, U, sigma, Vm, svd_work);
  V smax = sigma[0];
  for (int j = 1; j < p; ++j) smax = vmax(smax, sigma[j]);
  for (int j = 0; j < p; ++j) {
    const V w = f(sigma[j], smax);
    for (int i = 0; i < rows; ++i) scaled[i * p + j] = U[i * p + j] * w;
  }
  gemm_nt(rows, cols, p, scaled, Vm, out);
}

// Through the thin SVD (QR + one-sided Jacobi) rather than an iteration such as QDWH. QDWH is
// accurate only to eps * kappa on arbitrary input (3e-4 at kappa = 1e6 in fp32, where the Jacobi
// SVD gives 2e-7), but on the engine's own fp32 gradients it is as accurate as the gradient itself
// (bench/polar_accuracy.py); what rules it out is its count: ~30-35 p^3 FLOPs against Jacobi's
// ~45 p^3, at most ~1.3x, and no rank cut (a partial isometry) without more work
// (bench/RESULTS.md, 2026-12-05).
template <class PG, class P>
SPECSWEEP_HD void polar_exact(int rows, int cols, PG G, P out, P work) {
  using V = LaneOf<P>;
  using T = ScalarOf<V>;
  spectral_map(rows, cols, G, out, work, [](V s, V smax) {
    return select(s > polar_rank_cut<T>() * smax, V(T(1)), V(T(0)));
  });
}

// G (G^T G + eps I)^(-1/2) = U diag(sigma / sqrt(sigma^2 + eps)) V^T.
template <class PG, class P>
SPECSWEEP_HD void polar_smooth(int rows, int cols, PG G, P out, P work, double eps) {
  using V = LaneOf<P>;
  using T = ScalarOf<V>;
  const T e = T(eps);
  spectral_map(rows, cols, G, out, work, [e](V s, V) { return s / vsqrt(s * s + e); });
}

// Newton–Schulz on the small Gram side. X0 = G / (scale ||G||_F): scale-invariant, because
// gradients near a small initialization are ~1e-9 and an additive epsilon would dominate them;
// a zero G stays zero.
template <class PG, class P>
SPECSWEEP_HD void newton_schulz(int rows, int cols, PG G, P X, P work, const NsSchedule& ns) {
  using V = LaneOf<P>;
  using T = ScalarOf<V>;
  const bool tall = rows >= cols;
  const int p = tall ? cols : rows;
  P A = work;           // p x p Gram
  P A2 = A + p * p;     // p x p
  P Poly = A2 + p * p;  // b A + c A^2
  P XP = Poly + p * p;  // rows x cols
  const V norm = vsqrt(frob2(rows * cols, G)) * T(ns.norm_scale);
  const auto nonzero = norm > V(T(0));
  const V inv = select(nonzero, T(1) / select(nonzero, norm, V(T(1))), V(T(0)));
  for (int i = 0; i < rows * cols; ++i) X[i] = G[i] * inv;
  for (int it = 0; it < ns.iterations; ++it) {
    const NsTriple& k = ns.at(it);
    if (tall)
      gram_tn(rows, cols, X, A);
    else
      gram_nt(rows, cols, X, A);
    gemm_nn(p, p, p, A, A, A2);
    for (int i = 0; i < p * p; ++i) Poly[i] = T(k.b) * A[i] + T(k.c) * A2[i];
    if (tall)
      gemm_nn(rows, cols, cols, X, Poly, XP);
    else
      gemm_nn(rows, cols, rows, Poly, X, XP);
    for (int i = 0; i < rows * cols; ++i) X[i] = T(k.a) * X[i] + XP[i];
  }
}

// How far an orthogonalizer's output O is from the exact polar factor of its input X (rows x cols),
// for the record.orth_error traces: with the thin SVD X = U diag(sigma) V^T and the modes above
// polar_rank_cut kept (k of them), error = ||O - U_k V_k^T||_F / sqrt(k), and the band
// [min, max] of f_i = u_i^T O v_i over the kept modes, the value the orthogonalizer gave the
// input's singular value sigma_i (a polynomial iteration maps each sigma_i to f(sigma_i), and the
// exact polar factor to 1). With no mode kept (X = 0) the error is 0 and the band NaN.
template <class V>
struct OrthDeviation {
  V error, band_min, band_max;
};

SPECSWEEP_HD constexpr int orth_deviation_workspace(int rows, int cols) {
  const int p = rows < cols ? rows : cols;
  return (rows + cols + 1) * p + rows * cols + thin_svd_workspace(rows, cols);
}

template <class PX, class PO, class P>
SPECSWEEP_HD OrthDeviation<LaneOf<P>> orth_deviation(int rows, int cols, PX X, PO O, P work) {
  using V = LaneOf<P>;
  using T = ScalarOf<V>;
  const int p = rows < cols ? rows : cols;
  P U = work;
  P Vm = U + rows * p;
  P sigma = Vm + cols * p;
  P polar = sigma + p;
  thin_svd(rows, cols, X, U, sigma, Vm, polar + rows * cols);
  V smax = sigma[0];
  for (int j = 1; j < p; ++j) smax = vmax(smax, sigma[j]);
  const T inf = std::numeric_limits<T>::infinity();
  V kept = V(T(0)), lo = V(inf), hi = V(-inf);
  for (int j = 0; j < p; ++j) {
    const auto keep = sigma[j] > polar_rank_cut<T>() * smax;
    V f = V(T(0));
    for (int i = 0; i < rows; ++i) {
      V ov = V(T(0));
      for (int c = 0; c < cols; ++c) ov += O[i * cols + c] * Vm[c * p + j];
      f += U[i * p + j] * ov;
    }
    lo = select(keep, vmin(lo, f), lo);
    hi = select(keep, vmax(hi, f), hi);
    kept += select(keep, V(T(1)), V(T(0)));
    const V w = select(keep, V(T(1)), V(T(0)));
    for (int i = 0; i < rows; ++i) U[i * p + j] *= w;
  }
  gemm_nt(rows, cols, p, U, Vm, polar);
  V diff2 = V(T(0));
  for (int i = 0; i < rows * cols; ++i) {
    const V d = O[i] - polar[i];
    diff2 += d * d;
  }
  const auto any_kept = kept > V(T(0.5));
  const V nan = V(std::numeric_limits<T>::quiet_NaN());
  return {vsqrt(diff2 / select(any_kept, kept, V(T(1)))), select(any_kept, lo, nan),
          select(any_kept, hi, nan)};
}

// out = orth(G) for G (rows x cols); work holds orthogonalize_workspace(rows, cols) values.
template <class PG, class P>
SPECSWEEP_HD void orthogonalize(const OrthParams& prm, int rows, int cols, PG G, P out, P work) {
  switch (prm.kind) {
    case OrthKind::exact:
      polar_exact(rows, cols, G, out, work);
      break;
    case OrthKind::smooth:
      polar_smooth(rows, cols, G, out, work, prm.smooth_eps);
      break;
    case OrthKind::newton_schulz:
      newton_schulz(rows, cols, G, out, work, prm.ns);
      break;
  }
}

}  // namespace specsweep
