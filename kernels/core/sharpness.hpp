#pragma once
// Curvature of the loss in all factors: Hessian-vector products in closed form, the product rule
// applied to evaluate()'s gradient (no finite differences), the curvature along a direction, and
// the largest Hessian eigenvalue (the sharpness) by Lanczos on them. Written against lane values
// like the rest of the core, so the CPU packs and a GPU thread run the same arithmetic. Not yet
// recorded by the engine (issue 14: record steps, /trace and the edge-of-stability row next).
#include "factorization.hpp"

namespace specsweep {

// Workspace of hessian_vector_product, in lane values. With 0-based factors k = 0..L-1, the
// product left of factor k is left_k = F_0 ... F_{k-1} (m x r, k >= 1) and the one right of it
// right_k = F_{k+1} ... F_{L-1} (r x n, k <= L-2); d marks their derivatives along V.
struct HessianLayout {
  int left = 0, dleft = 0, right = 0, dright = 0;  // (L - 1) blocks each
  int residual = 0, dresidual = 0;                 // E = A (W - M) B and dE (m x n)
  int lhs = 0, dlhs = 0;                           // left_k^T E and its derivative (r x n)
  int tmp = 0;                                     // max(m, r) x max(n, r)
  int weighting = 0;                               // weighted: (W - M) B and one row (m n + n)
  int total = 0;
  SPECSWEEP_HD explicit HessianLayout(const Shape& s) {
    const int L = s.depth, m = s.m, n = s.n, r = s.r;
    const int blocks = s.symmetric ? 0 : L - 1;
    left = 0;
    dleft = left + blocks * m * r;
    right = dleft + blocks * m * r;
    dright = right + blocks * r * n;
    residual = dright + blocks * r * n;
    dresidual = residual + m * n;
    lhs = dresidual + m * n;
    dlhs = lhs + r * n;
    tmp = dlhs + r * n;
    weighting = tmp + (m > r ? m : r) * (n > r ? n : r);
    total = weighting + (s.weighted ? m * n + n : 0);
  }
};

// out = H V, H the Hessian of evaluate()'s loss at F (every problem kind and depth, l2 included).
// V and out are concatenated like F. With E = A (W - M) B (E = W - M unweighted) the gradient is
// G_k = left_k^T E right_k^T + l2 F_k, and its derivative along V is
//   H V_k = (dleft_k^T E + left_k^T dE) right_k^T + left_k^T E dright_k^T + l2 V_k,
// dE = A dW B, dW = V_0 right_0 + F_0 dright_0 (no left_0 or right_{L-1}: identities). For
// W = X X^T, G = 2 (W - M) X + l2 X and H V = 2 (dW X + (W - M) V) + l2 V, dW = V X^T + X V^T.
template <class T, class PF, class PV, class P>
SPECSWEEP_HD void hessian_vector_product(const Shape& sh, const TargetView<T>& tg, T l2, PF F,
                                         PV Vd, P out, P work) {
  using V = LaneOf<P>;
  const int L = sh.depth, m = sh.m, n = sh.n, r = sh.r;
  const HessianLayout lay(sh);
  P residual = work + lay.residual, dresidual = work + lay.dresidual;
  P lhs = work + lay.lhs, dlhs = work + lay.dlhs, tmp = work + lay.tmp;
  V w_norm2 = V(T(0)), d_norm2 = V(T(0));  // not needed here

  if (sh.symmetric) {
    transpose(n, r, F, lhs);  // X^T
    gemm_nn(n, n, r, F, lhs, residual);
    subtract_target(n * n, tg.M, residual, w_norm2, d_norm2);
    gemm_nt(n, n, r, Vd, F, tmp);  // V X^T
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) dresidual[i * n + j] = tmp[i * n + j] + tmp[j * n + i];
    if (sh.weighted) {  // symmetric sensing: E = S(W - M), dE = S(dW), both symmetric
      P scratch = work + lay.weighting;
      weigh_residual(n, n, tg, residual, scratch, scratch + n * n);
      weigh_residual(n, n, tg, dresidual, scratch, scratch + n * n);
    }
    gemm_nn(n, r, n, dresidual, F, out);
    gemm_nn(n, r, n, residual, Vd, tmp);
    for (int i = 0; i < n * r; ++i) out[i] = T(2) * (out[i] + tmp[i]) + l2 * Vd[i];
    return;
  }

  auto Fk = [&](int k) { return F + sh.offset(k); };
  auto Vk = [&](int k) { return Vd + sh.offset(k); };
  auto left = [&](int k) { return work + lay.left + (k - 1) * m * r; };  // k = 1..L-1
  auto dleft = [&](int k) { return work + lay.dleft + (k - 1) * m * r; };
  auto right = [&](int k) { return work + lay.right + k * r * n; };  // k = 0..L-2
  auto dright = [&](int k) { return work + lay.dright + k * r * n; };

  copy(m * r, Fk(0), left(1));
  copy(m * r, Vk(0), dleft(1));
  for (int k = 2; k <= L - 1; ++k) {
    gemm_nn(m, r, r, left(k - 1), Fk(k - 1), left(k));
    gemm_nn(m, r, r, dleft(k - 1), Fk(k - 1), dleft(k));
    gemm_nn(m, r, r, left(k - 1), Vk(k - 1), tmp);
    for (int i = 0; i < m * r; ++i) dleft(k)[i] += tmp[i];
  }
  copy(r * n, Fk(L - 1), right(L - 2));
  copy(r * n, Vk(L - 1), dright(L - 2));
  for (int k = L - 3; k >= 0; --k) {
    gemm_nn(r, n, r, Fk(k + 1), right(k + 1), right(k));
    gemm_nn(r, n, r, Fk(k + 1), dright(k + 1), dright(k));
    gemm_nn(r, n, r, Vk(k + 1), right(k + 1), tmp);
    for (int i = 0; i < r * n; ++i) dright(k)[i] += tmp[i];
  }

  gemm_nn(m, n, r, Fk(0), right(0), residual);
  subtract_target(m * n, tg.M, residual, w_norm2, d_norm2);
  gemm_nn(m, n, r, Vk(0), right(0), dresidual);
  gemm_nn(m, n, r, Fk(0), dright(0), tmp);
  for (int i = 0; i < m * n; ++i) dresidual[i] += tmp[i];
  if (sh.weighted) {
    P scratch = work + lay.weighting;
    weigh_residual(m, n, tg, residual, scratch, scratch + m * n);
    weigh_residual(m, n, tg, dresidual, scratch, scratch + m * n);
  }

  for (int k = 0; k < L; ++k) {
    const int rows = sh.rows(k), size = sh.size(k);
    P outk = out + sh.offset(k);
    // X = left_k^T E and dX = dleft_k^T E + left_k^T dE (rows x n).
    P X = residual, dX = dresidual;
    if (k > 0) {
      X = lhs;
      dX = dlhs;
      if (k < L - 1) gemm_tn(r, n, m, left(k), residual, X);  // the last factor needs dX only
      gemm_tn(r, n, m, dleft(k), residual, dX);
      gemm_tn(r, n, m, left(k), dresidual, tmp);
      for (int i = 0; i < r * n; ++i) dX[i] += tmp[i];
    }
    if (k == L - 1) {
      copy(size, dX, outk);
    } else {
      gemm_nt(rows, r, n, dX, right(k), outk);
      gemm_nt(rows, r, n, X, dright(k), tmp);
      for (int i = 0; i < size; ++i) outk[i] += tmp[i];
    }
    for (int i = 0; i < size; ++i) outk[i] += l2 * Vk(k)[i];
  }
}

// Workspace of curvature_along: H U and hessian_vector_product's.
SPECSWEEP_HD inline int curvature_along_workspace(const Shape& sh) {
  return sh.total() + HessianLayout(sh).total;
}

// The curvature of the loss along U (concatenated like F, not zero): U^T H U / ||U||^2. Along the
// step an optimizer took, the directional sharpness.
template <class T, class PF, class PU, class P>
SPECSWEEP_HD LaneOf<P> curvature_along(const Shape& sh, const TargetView<T>& tg, T l2, PF F, PU U,
                                       P work) {
  const int count = sh.total();
  hessian_vector_product(sh, tg, l2, F, U, work, work + count);
  return dot(count, U, work) / frob2(count, U);
}

// Workspace of top_hessian_eigenvalue: three Lanczos vectors, the tridiagonal (alpha, beta), which
// of its rows are live, and hessian_vector_product's.
SPECSWEEP_HD inline int lanczos_workspace(const Shape& sh, int iterations) {
  return 3 * sh.total() + 3 * iterations + 1 + HessianLayout(sh).total;
}

// The largest eigenvalue of the Hessian at F (the sharpness lambda_max) from `iterations` Lanczos
// steps started at `start` (total() values, not all zero: the caller's seeded normals), capped at
// total(), where the tridiagonal's eigenvalues are the Hessian's. Without reorthogonalization: the
// largest Ritz value rises towards lambda_max and stays within the spectrum in floating point too
// (Paige); lost orthogonality only repeats converged values. A breakdown (an invariant subspace,
// e.g. at a balanced minimum from a start inside it) ends the recurrence in that lane: its later
// rows are set below the spectrum. The Ritz value comes from bisection on Sturm counts of the
// tridiagonal, branch-free like the rest of the core.
template <class T, class PF, class PS, class P>
SPECSWEEP_HD LaneOf<P> top_hessian_eigenvalue(const Shape& sh, const TargetView<T>& tg, T l2, PF F,
                                              int iterations, PS start, P work) {
  using V = LaneOf<P>;
  const int count = sh.total();
  const int k = iterations < count ? iterations : count;
  const T eps = epsilon_of<V>();
  P q_prev = work, q = q_prev + count, w = q + count;
  P alpha = w + count, beta = alpha + k, live = beta + k + 1;  // beta[j] couples rows j - 1, j
  P hessian_work = live + k;
  const V start_norm = vsqrt(frob2(count, start));
  for (int i = 0; i < count; ++i) {
    q[i] = start[i] / start_norm;
    q_prev[i] = V(T(0));
  }
  beta[0] = V(T(0));
  V alive = V(T(1)), scale = V(T(0));
  for (int j = 0; j < k; ++j) {
    live[j] = alive;
    hessian_vector_product(sh, tg, l2, F, q, w, hessian_work);
    const V a = dot(count, w, q);
    for (int i = 0; i < count; ++i) w[i] -= a * q[i] + beta[j] * q_prev[i];
    const V b = vsqrt(frob2(count, w));
    alpha[j] = a;
    scale = vmax(scale, vabs(a) + b + beta[j]);
    alive = select(b > T(100) * eps * scale, alive, V(T(0)));
    beta[j + 1] = b * alive;
    const V inverse = select(alive > T(0), V(T(1)) / b, V(T(0)));
    for (int i = 0; i < count; ++i) {
      q_prev[i] = q[i];
      q[i] = w[i] * inverse;
    }
  }
  // Gershgorin bounds of the live rows of T (off-diagonals beta[1..k-1]).
  auto off = [&](int j) { return vabs(beta[j]) + (j + 1 < k ? vabs(beta[j + 1]) : V(T(0))); };
  V lo = alpha[0] - off(0), hi = alpha[0] + off(0);
  for (int j = 1; j < k; ++j) {
    lo = select(live[j] > T(0), vmin(lo, alpha[j] - off(j)), lo);
    hi = select(live[j] > T(0), vmax(hi, alpha[j] + off(j)), hi);
  }
  const V below = lo - (hi - lo) - V(T(1));
  for (int j = 1; j < k; ++j) alpha[j] = select(live[j] > T(0), alpha[j], below);
  // lambda_max of T: the point above which no eigenvalue lies. Sturm: the pivots of T - x I that
  // are negative count the eigenvalues below x.
  const V tiny = eps * eps * (scale + V(T(1)));
  const int halvings = sizeof(T) == 4 ? 40 : 80;
  for (int it = 0; it < halvings; ++it) {
    const V x = T(0.5) * (lo + hi);
    V below_x = V(T(0)), d = V(T(1));
    for (int j = 0; j < k; ++j) {
      d = alpha[j] - x - (j > 0 ? beta[j] * beta[j] / d : V(T(0)));
      d = select(vabs(d) < tiny, -tiny, d);
      below_x += select(d < T(0), V(T(1)), V(T(0)));
    }
    const auto all_below = below_x > T(k) - T(0.5);
    hi = select(all_below, x, hi);
    lo = select(all_below, lo, x);
  }
  return T(0.5) * (lo + hi);
}

}  // namespace specsweep
