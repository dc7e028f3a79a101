#pragma once
// The problem min 1/2 ||W - M||_F^2 + l2/2 sum_k ||Fk||_F^2 (DESIGN section 2) with W = F1 F2 ...
// FL (problem.kind = "factorization") or W = X X^T (kind = "symmetric", M symmetric positive
// semidefinite, one factor X), and its weighted form 1/2 <W - M, A (W - M) B> with symmetric
// positive definite A, B (kind = "icl", the population loss of in-context regression:
// docs/REFERENCE.md) or the matrix-sensing loss 1/2 sum_i <A_i, W - M>^2 (kind = "sensing"):
// shapes, loss and gradient for any depth; the m x n residual is formed only at depth 2 where that
// is the cheaper form (residual_form), and always for X X^T and for a weighted loss.
#include "linalg.hpp"

namespace specsweep {

inline constexpr int kMaxDepth = 8;

// A symmetric problem has depth 1 and m = n: its one factor X is n x r, and W = X X^T. Everything
// that reads W through F_1 and right1 = F_2 ... F_L (the residual loss, the core diagonal, the
// record metrics) reads it through X and right1 = X^T.
struct Shape {
  int m = 0, n = 0, r = 0, depth = 2;
  bool symmetric = false;
  // The loss is 1/2 <D, S(D)> with D = W - M and a positive semidefinite operator S: A D B
  // (TargetView::row_weight A, col_weight B; kind = "icl") or sum_i <A_i, D> A_i (TargetView::
  // sensing; kind = "sensing"). Only the residual form can compute it: the Gram form never holds D.
  bool weighted = false;
  SPECSWEEP_HD int rows(int k) const { return k == 0 ? m : r; }
  SPECSWEEP_HD int cols(int k) const { return k == depth - 1 && !symmetric ? n : r; }
  SPECSWEEP_HD int size(int k) const { return rows(k) * cols(k); }
  SPECSWEEP_HD int total() const {
    int t = 0;
    for (int k = 0; k < depth; ++k) t += size(k);
    return t;
  }
  // Offset of factor k in a concatenated parameter vector.
  SPECSWEEP_HD int offset(int k) const {
    int t = 0;
    for (int j = 0; j < k; ++j) t += size(j);
    return t;
  }
};

// The target of one cell, in the working precision, shared by all its seeds.
// U (m x modes) and Vb (n x modes) are the leading target singular vectors, modes = min(r, rank M).
template <class T>
struct TargetView {
  const T* M = nullptr;  // m x n
  const T* U = nullptr;
  const T* Vb = nullptr;
  const T* s = nullptr;  // modes leading singular values
  int modes = 0;
  T norm2_half = 0;  // the loss of W = 0 without penalty: 1/2 ||M||_F^2, weighted when weighted
  // Shape::weighted only: the loss is 1/2 <W - M, A (W - M) B>, A and B symmetric, or with
  // measurements > 0, 1/2 sum_i <A_i, W - M>^2 (matrix sensing with y_i = <A_i, M>).
  const T* row_weight = nullptr;  // A, m x m
  const T* col_weight = nullptr;  // B, n x n
  const T* sensing = nullptr;     // A_1 ... A_p, each m x n
  int measurements = 0;           // p
};

// Whether evaluate() forms the residual W - M (depth 2): the gradient (W - M) F_2^T, F_1^T (W - M)
// and W cost 6mnr FLOPs, the Gram form 4mnr + 4r^2(m + n) (it never forms an m x n matrix, which
// pays at small r: Kang's 60 x 70, r = 5). From r > mn / (2(m + n)) on, the residual form is the
// cheaper, 2x at Rhee's square 32^3 and 7x at 128^2, r = 512, and its loss 1/2||W - M||^2 has no
// cancellation. Integer arguments as wide as the caller's (the host sizes memory in 64 bits).
template <class I>
SPECSWEEP_HD constexpr bool residual_form(I m, I n, I r, I depth) {
  return depth == 2 && 2 * r * (m + n) > m * n;
}

// Whether evaluate() forms the residual for this shape (EvalLayout, evaluate and the host's
// sizing all ask here).
SPECSWEEP_HD inline bool forms_residual(const Shape& s) {
  return s.symmetric || s.weighted || residual_form<long>(s.m, s.n, s.r, s.depth);
}

// Workspace layout of evaluate(), in lane values.
struct EvalLayout {
  int right = 0;      // R_k = F_k ... F_L, k = 1..L-1: (L-1) blocks of r x n
  int left = 0;       // L_k = F_1 ... F_k, k = 1..L-1: (L-1) blocks of m x r
  int mrt = 0;        // M R_{k+1}^T (m x r), one at a time
  int small = 0;      // four r x r scratch matrices
  int ltm = 0;        // L_{L-1}^T M (r x n)
  int residual = 0;   // W - M (m x n), residual_form only
  int weighting = 0;  // weighted only: (W - M) B (m x n) and one row (n)
  int total = 0;
  // The residual form needs right (F_2, for the callers) and the residual only: at 128^2, r = 512
  // the Gram form's four r x r would be 64 MiB per fp64 pack.
  SPECSWEEP_HD explicit EvalLayout(const Shape& s) {
    const int L = s.depth, m = s.m, n = s.n, r = s.r;
    right = 0;
    if (forms_residual(s)) {
      residual = right + r * n;
      weighting = residual + m * n;
      total = weighting + (s.weighted ? m * n + n : 0);
      return;
    }
    left = right + (L - 1) * r * n;
    mrt = left + (L - 1) * m * r;
    small = mrt + m * r;
    ltm = small + 4 * r * r;
    total = ltm + r * n;
  }
  EvalLayout() = default;
};

template <class V>
struct EvalResult {
  V loss;           // 1/2 ||W - M||^2 + penalty
  V w_norm2;        // ||W||_F^2
  V factor_scale2;  // ||F_1||_F^2 ||F_2 ... F_L||_F^2: the size of the terms the loss cancels
};

// l2/2 sum_k ||F_k||^2, with its gradient l2 F_k added to G.
template <class T, class PF, class P>
SPECSWEEP_HD LaneOf<P> add_l2_penalty(const Shape& sh, T l2, PF F, P G) {
  using V = LaneOf<P>;
  V penalty = V(T(0));
  if (l2 == T(0)) return penalty;
  for (int k = 0; k < sh.depth; ++k) {
    penalty += frob2(sh.size(k), F + sh.offset(k));
    for (int i = 0; i < sh.size(k); ++i) G[sh.offset(k) + i] += l2 * F[sh.offset(k) + i];
  }
  return penalty * (T(0.5) * l2);
}

// residual <- W - M in place (residual holds W, count entries), with ||W||^2 and ||W - M||^2
// accumulated in the same pass.
template <class T, class P>
SPECSWEEP_HD void subtract_target(int count, const T* M, P residual, LaneOf<P>& w_norm2,
                                  LaneOf<P>& d_norm2) {
  using V = LaneOf<P>;
  for (int i = 0; i < count; ++i) {
    const V w = residual[i];
    const V d = w - M[i];
    w_norm2 += w * w;
    d_norm2 += d * d;
    residual[i] = d;
  }
}

// D <- S(D) (m x n, in place) for the weighted loss, returning <D, S(D)>, twice its unpenalized
// value. Two-sided (icl): D B goes to db (m x n); each row of A (D B) is formed in row (n) and
// dotted with D's row before it replaces it, which later rows no longer read. Sensing: c_i =
// <A_i, D>, sum_i c_i A_i accumulated in db, sum_i c_i^2 returned.
template <class T, class P>
SPECSWEEP_HD LaneOf<P> weigh_residual(int m, int n, const TargetView<T>& tg, P D, P db, P row) {
  using V = LaneOf<P>;
  if (tg.measurements > 0) {
    const int mn = m * n;
    for (int e = 0; e < mn; ++e) db[e] = V(T(0));
    V loss2 = V(T(0));
    for (int i = 0; i < tg.measurements; ++i) {
      const T* A = tg.sensing + static_cast<long>(i) * mn;
      V c = V(T(0));
      for (int e = 0; e < mn; ++e) c += A[e] * D[e];
      loss2 += c * c;
      for (int e = 0; e < mn; ++e) db[e] += c * A[e];
    }
    copy(mn, db, D);
    return loss2;
  }
  gemm_nn(m, n, n, D, tg.col_weight, db);
  V loss2 = V(T(0));
  for (int i = 0; i < m; ++i) {
    gemm_nn(1, n, m, tg.row_weight + i * m, db, row);
    loss2 += dot(n, D + i * n, row);
    copy(n, row, D + i * n);
  }
  return loss2;
}

// evaluate() at depth 2 in the residual form (forms_residual): D = F_1 F_2 - M (m x n, in
// residual), G_1 = D F_2^T, G_2 = F_1^T D, loss 1/2||D||^2; weighted, D becomes A D B and the loss
// 1/2 <D, A D B> (weighting: EvalLayout::weighting).
template <class T, class PF, class P>
SPECSWEEP_HD EvalResult<LaneOf<P>> evaluate_residual_form(const Shape& sh, const TargetView<T>& tg,
                                                          T l2, PF F, P G, P residual,
                                                          P weighting) {
  using V = LaneOf<P>;
  const int m = sh.m, n = sh.n, r = sh.r;
  const auto F1 = F + sh.offset(0), F2 = F + sh.offset(1);
  gemm_nn(m, n, r, F1, F2, residual);
  V w_norm2 = V(T(0)), d_norm2 = V(T(0));
  subtract_target(m * n, tg.M, residual, w_norm2, d_norm2);
  if (sh.weighted) d_norm2 = weigh_residual(m, n, tg, residual, weighting, weighting + m * n);
  gemm_nt(m, r, n, residual, F2, G + sh.offset(0));
  gemm_tn(r, n, m, F1, residual, G + sh.offset(1));
  EvalResult<V> res;
  res.loss = T(0.5) * d_norm2 + add_l2_penalty(sh, l2, F, G);
  res.w_norm2 = w_norm2;
  res.factor_scale2 = frob2(m * r, F1) * frob2(r * n, F2);
  return res;
}

// evaluate() for W = X X^T (symmetric): right = X^T (r x n), D = X X^T - M (n x n, in residual),
// G = 2 D X, loss 1/2||D||^2. Always the residual form: the Gram form 1/2||M||^2 - <M X, X> +
// 1/2||X^T X||^2 saves FLOPs only for r < n/2 and brings back the loss's cancellation.
template <class T, class PF, class P>
SPECSWEEP_HD EvalResult<LaneOf<P>> evaluate_symmetric(const Shape& sh, const TargetView<T>& tg,
                                                      T l2, PF F, P G, P right, P residual,
                                                      P weighting) {
  using V = LaneOf<P>;
  const int n = sh.n, r = sh.r;
  transpose(n, r, F, right);
  gemm_nn(n, n, r, F, right, residual);
  V w_norm2 = V(T(0)), d_norm2 = V(T(0));
  subtract_target(n * n, tg.M, residual, w_norm2, d_norm2);
  // Weighted (sensing with symmetric A_i): S(D) is symmetric with D, so G = 2 S(D) X.
  if (sh.weighted) d_norm2 = weigh_residual(n, n, tg, residual, weighting, weighting + n * n);
  gemm_nn(n, r, n, residual, F, G);
  for (int i = 0; i < n * r; ++i) G[i] *= T(2);
  EvalResult<V> res;
  res.loss = T(0.5) * d_norm2 + add_l2_penalty(sh, l2, F, G);
  res.w_norm2 = w_norm2;
  const V x2 = frob2(n * r, F);
  res.factor_scale2 = x2 * x2;
  return res;
}

// Loss and gradient G (concatenated like F) at F.
//   G_1 = F_1 (R_2 R_2^T) - M R_2^T
//   G_k = (L_{k-1}^T L_{k-1}) F_k (R_{k+1} R_{k+1}^T) - L_{k-1}^T (M R_{k+1}^T)
//   G_L = (L_{L-1}^T L_{L-1}) F_L - L_{L-1}^T M
// plus l2 F_k; the target enters only through L products with M (one per factor).
template <class T, class PF, class P>
SPECSWEEP_HD EvalResult<LaneOf<P>> evaluate(const Shape& sh, const TargetView<T>& tg, T l2, PF F,
                                            P G, P work) {
  using V = LaneOf<P>;
  const int L = sh.depth, m = sh.m, n = sh.n, r = sh.r;
  const EvalLayout lay(sh);
  auto Fk = [&](int k) { return F + sh.offset(k); };
  auto Gk = [&](int k) { return G + sh.offset(k); };
  // right(k) = F_k ... F_L for k = 1..L-1 (0-based factor k), stored at block k-1.
  auto right = [&](int k) { return work + lay.right + (k - 1) * r * n; };
  auto left = [&](int k) { return work + lay.left + k * m * r; };  // F_0 ... F_k, k = 0..L-2
  P mrt = work + lay.mrt;
  P S0 = work + lay.small;
  P S1 = S0 + r * r;
  P S2 = S1 + r * r;
  P S3 = S2 + r * r;
  P ltm = work + lay.ltm;

  if (sh.symmetric)
    return evaluate_symmetric(sh, tg, l2, F, G, work + lay.right, work + lay.residual,
                              work + lay.weighting);
  copy(r * n, Fk(L - 1), right(L - 1));
  if (forms_residual(sh))
    return evaluate_residual_form(sh, tg, l2, F, G, work + lay.residual, work + lay.weighting);
  for (int k = L - 2; k >= 1; --k) gemm_nn(r, n, r, Fk(k), right(k + 1), right(k));
  copy(m * r, Fk(0), left(0));
  for (int k = 1; k <= L - 2; ++k) gemm_nn(m, r, r, left(k - 1), Fk(k), left(k));

  // Factor 0 and the loss terms <M, W> = <F_1, M R_2^T>, ||W||^2 = <F_1^T F_1, R_2 R_2^T>.
  gemm_nt(m, r, n, tg.M, right(1), mrt);
  gram_nt(r, n, right(1), S0);
  gemm_nn(m, r, r, Fk(0), S0, Gk(0));
  for (int i = 0; i < m * r; ++i) Gk(0)[i] -= mrt[i];
  const V m_dot_w = dot(m * r, Fk(0), mrt);
  gram_tn(m, r, Fk(0), S1);
  const V w_norm2 = dot(r * r, S1, S0);
  V norm2_f1 = V(T(0)), norm2_right = V(T(0));
  for (int i = 0; i < r; ++i) norm2_f1 += S1[i * r + i], norm2_right += S0[i * r + i];
  const V factor_scale2 = norm2_f1 * norm2_right;

  // Middle factors.
  for (int k = 1; k <= L - 2; ++k) {
    gemm_nt(m, r, n, tg.M, right(k + 1), mrt);
    gemm_tn(r, r, m, left(k - 1), mrt, S3);  // L^T M R^T
    gram_tn(m, r, left(k - 1), S0);          // L^T L
    gram_nt(r, n, right(k + 1), S1);         // R R^T
    gemm_nn(r, r, r, S0, Fk(k), S2);
    gemm_nn(r, r, r, S2, S1, Gk(k));
    for (int i = 0; i < r * r; ++i) Gk(k)[i] -= S3[i];
  }

  // Last factor.
  gemm_tn(r, n, m, left(L - 2), tg.M, ltm);
  gram_tn(m, r, left(L - 2), S0);
  gemm_nn(r, n, r, S0, Fk(L - 1), Gk(L - 1));
  for (int i = 0; i < r * n; ++i) Gk(L - 1)[i] -= ltm[i];

  const V penalty = add_l2_penalty(sh, l2, F, G);
  EvalResult<V> res;
  // 1/2||W - M||^2 = 1/2||M||^2 - <M, W> + 1/2||W||^2: exact in exact arithmetic; in floating
  // point its absolute error is ~eps * ||M||^2 (see docs on loss accuracy).
  res.loss = tg.norm2_half - m_dot_w + T(0.5) * w_norm2 + penalty;
  res.w_norm2 = w_norm2;
  res.factor_scale2 = factor_scale2;
  return res;
}

// The core diagonal d_i = (U^T W V)_ii = (U^T F_1)_{i,:} . (R_2 V)_{:,i}, i < modes, with right1 =
// F_2 ... F_L (as evaluate() leaves it in its workspace). work: 2 * modes * r values.
template <class T, class PF, class PR, class P>
SPECSWEEP_HD void core_diagonal(const Shape& sh, const TargetView<T>& tg, PF F, PR right1, P diag,
                                P work) {
  using V = LaneOf<P>;
  const int m = sh.m, n = sh.n, r = sh.r, q = tg.modes;
  P utf = work;        // q x r
  P rv = utf + q * r;  // r x q
  gemm_tn(q, r, m, tg.U, F, utf);
  gemm_nn(r, q, n, right1, tg.Vb, rv);
  for (int i = 0; i < q; ++i) {
    V d = V(T(0));
    for (int j = 0; j < r; ++j) d += utf[i * r + j] * rv[j * q + i];
    diag[i] = d;
  }
}

}  // namespace specsweep
