#pragma once
// Measurements of DESIGN section 3: the record-step metrics of a trajectory (lane-wise, from the
// factors) and the per-seed summaries of its mode hitting times (scalar, double).
#include "factorization.hpp"

namespace specsweep {

// Lane values of one record step. Arrays are sized by the caller: sv[r], core_diag[modes],
// factor_norm[depth], delta1/delta2[r * r] (depth 2 only).
template <class V>
struct RecordMetrics {
  V loss;            // 1/2 ||W - M||^2 + penalty, from the explicit residual
  V* sv;             // singular values of W, descending
  V* core_diag;      // (U^T W V)_ii
  V alignment;       // ||off(U^T W V)||_F / ||diag(U^T W V)||_F
  V* factor_norm;    // ||F_k||_F
  V delta1_norm;     // ||sqrt(F1^T F1) - sqrt(F2 F2^T)||_F (depth 2)
  V delta2_norm;     // ||F1^T F1 - F2 F2^T||_F (depth 2)
  V* delta1;
  V* delta2;
  V effective_rank;  // exp(-sum p_i log p_i), p_i = sigma_i / sum sigma
};

// Scratch for record_metrics, in lane values.
SPECSWEEP_HD inline int record_metrics_workspace(const Shape& sh) {
  const int m = sh.m, n = sh.n, r = sh.r;
  const int big = m > n ? m : n;
  return m * n + 2 * big * r + 8 * r * r + 2 * r + 2 * thin_svd_workspace(big, r) + r * n;
}

// 1/2 ||W - M||^2 + penalty from the explicit residual (W = F_1 right1 formed in W_work, m x n):
// accurate even when the loss is ~1e-7 of ||M||^2, unlike the Gram form evaluate() uses per step.
template <class V, class T>
SPECSWEEP_HD V residual_loss(const Shape& sh, const TargetView<T>& tg, T l2, const V* F, const V* right1,
                             V* W_work) {
  const int m = sh.m, n = sh.n, r = sh.r;
  gemm_nn(m, n, r, F, right1, W_work);
  // Row sums, then their sum: rounding grows like m + n rather than m n.
  V res2 = V(T(0));
  for (int i = 0; i < m; ++i) {
    V row = V(T(0));
    for (int j = 0; j < n; ++j) {
      const V d = W_work[i * n + j] - tg.M[i * n + j];
      row += d * d;
    }
    res2 += row;
  }
  V penalty = V(T(0));
  if (l2 != T(0)) penalty = frob2(sh.total(), F);
  return T(0.5) * res2 + T(0.5) * l2 * penalty;
}

// Metrics of the iterate F (concatenated factors). right1 must hold F_2 ... F_L (r x n), as left
// by evaluate() in its workspace.
template <class V, class T>
SPECSWEEP_HD void record_metrics(const Shape& sh, const TargetView<T>& tg, T l2, const V* F, const V* right1,
                                 RecordMetrics<V>& out, V* work) {
  const int m = sh.m, n = sh.n, r = sh.r, L = sh.depth;
  const int big = m > n ? m : n;
  V* W = work;                    // m x n
  V* Q = W + m * n;               // big x r
  V* tall = Q + big * r;          // big x r
  V* R1 = tall + big * r;         // r x r
  V* R2 = R1 + r * r;             // r x r
  V* B = R2 + r * r;              // r x r
  V* Vr = B + r * r;              // r x r
  V* S1 = Vr + r * r;             // r x r
  V* S2 = S1 + r * r;             // r x r
  V* C = S2 + r * r;              // r x r (modes x modes)
  V* tmp = C + r * r;             // r x r
  V* tau = tmp + r * r;           // r
  V* sig = tau + r;               // r
  V* svd_work = sig + r;          // 2 thin_svd workspaces
  V* rv = svd_work + 2 * thin_svd_workspace(big, r);  // r x n

  out.loss = residual_loss(sh, tg, l2, F, right1, W);
  int off = 0;
  for (int k = 0; k < L; ++k) {
    out.factor_norm[k] = vsqrt(frob2(sh.size(k), F + off));
    off += sh.size(k);
  }

  // sigma(W) = sigma(R1 R2^T) with F_1 = Q1 R1 and (F_2...F_L)^T = Q2 R2: never squares W.
  copy(m * r, F, tall);
  householder_qr(m, r, tall, Q, R1, tau);
  transpose(r, n, right1, tall);
  householder_qr(n, r, tall, Q, R2, tau);
  gemm_nt(r, r, r, R1, R2, B);
  jacobi_svd(r, B, Vr);
  normalize_columns(r, r, B, sig);
  sort_descending(r, sig);
  V total = V(T(0));
  for (int i = 0; i < r; ++i) {
    out.sv[i] = sig[i];
    total += sig[i];
  }
  const auto positive = total > V(T(0));
  const V inv_total = T(1) / select(positive, total, V(T(1)));
  V entropy = V(T(0));
  for (int i = 0; i < r; ++i) {
    const V p = sig[i] * inv_total;
    const auto pos = p > V(T(0));
    entropy -= select(pos, p * vlog(select(pos, p, V(T(1)))), V(T(0)));
  }
  out.effective_rank = select(positive, vexp(entropy), V(T(0)));

  // Core matrix C = (U^T F_1)(F_2...F_L V) over the target's modes.
  const int q = tg.modes;
  gemm_tn(q, r, m, tg.U, F, tmp);
  gemm_nn(r, q, n, right1, tg.Vb, rv);
  gemm_nn(q, q, r, tmp, rv, C);
  V diag2 = V(T(0)), off2 = V(T(0));
  for (int i = 0; i < q; ++i) {
    for (int j = 0; j < q; ++j) {
      const V c = C[i * q + j];
      if (i == j) diag2 += c * c;
      else off2 += c * c;
    }
    out.core_diag[i] = C[i * q + i];
  }
  out.alignment = vsqrt(off2) / vsqrt(diag2);

  if (L == 2) {
    const V* F2 = F + m * r;
    gram_tn(m, r, F, S1);
    gram_nt(r, n, F2, S2);
    for (int i = 0; i < r * r; ++i) out.delta2[i] = S1[i] - S2[i];
    out.delta2_norm = vsqrt(frob2(r * r, out.delta2));
    // sqrt(F1^T F1) = V1 S1 V1^T from F1 = U1 S1 V1^T; sqrt(F2 F2^T) = U2 S2 U2^T.
    thin_svd(m, r, F, Q, sig, Vr, svd_work);
    for (int i = 0; i < r; ++i)
      for (int j = 0; j < r; ++j) tmp[i * r + j] = Vr[i * r + j] * sig[j];
    gemm_nt(r, r, r, tmp, Vr, S1);
    thin_svd(r, n, F2, B, sig, tall, svd_work);
    for (int i = 0; i < r; ++i)
      for (int j = 0; j < r; ++j) tmp[i * r + j] = B[i * r + j] * sig[j];
    gemm_nt(r, r, r, tmp, B, S2);
    for (int i = 0; i < r * r; ++i) out.delta1[i] = S1[i] - S2[i];
    out.delta1_norm = vsqrt(frob2(r * r, out.delta1));
  }
}

// ---- Per-seed summaries of the hitting times (scalar, double) ----

// Kendall tau-b between hitting times tau (never hit = +infinity, given as -1) and spectrum s.
SPECSWEEP_HD inline double kendall_tau_b(int count, const int* tau, const double* s) {
  long concordant = 0, discordant = 0, tie_x = 0, tie_y = 0;
  for (int i = 0; i < count; ++i) {
    for (int j = i + 1; j < count; ++j) {
      const double ti = tau[i] < 0 ? 1e300 : double(tau[i]);
      const double tj = tau[j] < 0 ? 1e300 : double(tau[j]);
      const double dx = ti - tj, dy = s[i] - s[j];
      if (dx == 0 && dy == 0) continue;
      if (dx == 0) ++tie_x;
      else if (dy == 0) ++tie_y;
      else if ((dx > 0) == (dy > 0)) ++concordant;
      else ++discordant;
    }
  }
  const double n1 = double(concordant + discordant + tie_x);
  const double n2 = double(concordant + discordant + tie_y);
  if (n1 == 0 || n2 == 0) return NAN;
  return double(concordant - discordant) / sqrt(n1 * n2);
}

// Coefficient of variation std/mean of the growth speeds v_i = sqrt(d_i(tau_i)) / tau_i over the
// modes that hit (population std); NaN when no mode hit at a positive step.
SPECSWEEP_HD inline double uniformity_cv(int count, const int* tau, const double* d_at_hit) {
  auto speed = [&](int i) { return sqrt(d_at_hit[i] > 0 ? d_at_hit[i] : 0.0) / double(tau[i]); };
  double sum = 0;
  int k = 0;
  for (int i = 0; i < count; ++i) {
    if (tau[i] <= 0) continue;
    sum += speed(i);
    ++k;
  }
  if (k == 0) return NAN;
  const double mean = sum / k;
  double var = 0;
  for (int i = 0; i < count; ++i) {
    if (tau[i] <= 0) continue;
    var += (speed(i) - mean) * (speed(i) - mean);
  }
  return sqrt(var / k) / mean;
}

}  // namespace specsweep
