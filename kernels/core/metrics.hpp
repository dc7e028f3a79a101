#pragma once
// Measurements of DESIGN section 3: the record-step metrics of a trajectory (lane-wise, from the
// factors) and the per-seed summaries of its mode hitting times (scalar, double).
#include "factorization.hpp"

namespace specsweep {

// Lane values of one record step. Arrays (handles P, see LaneOf) are sized by the caller: sv[r],
// core_diag[modes], factor_norm[depth], delta1/delta2[r * r] (depth 2 only).
template <class V, class P = V*>
struct RecordMetrics {
  V loss;            // 1/2 ||W - M||^2 + penalty, from the explicit residual
  P sv;              // singular values of W, descending
  P core_diag;       // (U^T W V)_ii
  V alignment;       // ||off(U^T W V)||_F / ||diag(U^T W V)||_F
  P factor_norm;     // ||F_k||_F
  V delta1_norm;     // ||sqrt(F1^T F1) - sqrt(F2 F2^T)||_F (depth 2)
  V delta2_norm;     // ||F1^T F1 - F2 F2^T||_F (depth 2)
  P delta1;
  P delta2;
  V effective_rank;  // exp(-sum p_i log p_i), p_i = sigma_i / sum sigma
};

// Scratch for record_metrics, in lane values.
SPECSWEEP_HD inline int record_metrics_workspace(const Shape& sh) {
  const int m = sh.m, n = sh.n, r = sh.r;
  const int big = m > n ? m : n;
  return n + 2 * big * r + 8 * r * r + 2 * r + 2 * thin_svd_workspace(big, r) + r * n;
}

// 1/2 ||W - M||^2 + penalty from the explicit residual (W = F_1 right1 formed a row at a time in
// w_row, n values): accurate even when the loss is ~1e-7 of ||M||^2, unlike the Gram form
// evaluate() uses per step.
template <class T, class PF, class PR, class P>
SPECSWEEP_HD LaneOf<P> residual_loss(const Shape& sh, const TargetView<T>& tg, T l2, PF F, PR right1, P w_row) {
  using V = LaneOf<P>;
  const int m = sh.m, n = sh.n, r = sh.r;
  // Row sums, then their sum: rounding grows like m + n rather than m n.
  V res2 = V(T(0));
  for (int i = 0; i < m; ++i) {
    gemm_nn(1, n, r, F + i * r, right1, w_row);
    V row = V(T(0));
    for (int j = 0; j < n; ++j) {
      const V d = w_row[j] - tg.M[i * n + j];
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
template <class T, class PF, class PR, class P>
SPECSWEEP_HD void record_metrics(const Shape& sh, const TargetView<T>& tg, T l2, PF F, PR right1,
                                 RecordMetrics<LaneOf<P>, P>& out, P work) {
  using V = LaneOf<P>;
  const int m = sh.m, n = sh.n, r = sh.r, L = sh.depth;
  const int big = m > n ? m : n;
  P W = work;                    // one row of W (n)
  P Q = W + n;                   // big x r
  P tall = Q + big * r;          // big x r
  P R1 = tall + big * r;         // r x r
  P R2 = R1 + r * r;             // r x r
  P B = R2 + r * r;              // r x r
  P Vr = B + r * r;              // r x r
  P S1 = Vr + r * r;             // r x r
  P S2 = S1 + r * r;             // r x r
  P C = S2 + r * r;              // r x r (modes x modes)
  P tmp = C + r * r;             // r x r
  P tau = tmp + r * r;           // r
  P sig = tau + r;               // r
  P svd_work = sig + r;          // 2 thin_svd workspaces
  P rv = svd_work + 2 * thin_svd_workspace(big, r);  // r x n

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
    const auto F2 = F + m * r;
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

// Values in one packed record step (pack_record).
SPECSWEEP_HD constexpr int packed_record_width(int r, int depth) { return 5 + 2 * r + depth + 2 * r * r; }

// Writes lane `i` of one record step into out[0, packed_record_width(r, depth)), in the order and
// widths of the /trace arrays (host/backend.hpp, for_each_trace_array, which unpacks it): loss,
// alignment, effective_rank, delta1_norm, delta2_norm, sv[r], core_diag[r], factor_norm[depth],
// delta1[r * r], delta2[r * r]. What a shape does not have (core_diag beyond the modes, the deltas
// for depth != 2) is NaN. Backends pack on the device or per lane and unpack on the host.
template <class V, class P, class Out>
SPECSWEEP_HD void pack_record(const RecordMetrics<V, P>& m, int i, int r, int modes, int depth, Out out) {
  using S = LaneOf<Out>;
  const S nan = std::numeric_limits<S>::quiet_NaN();
  const bool deltas = depth == 2;
  int at = 0;
  auto put = [&](S value) { out[at++] = value; };
  put(S(lane(m.loss, i)));
  put(S(lane(m.alignment, i)));
  put(S(lane(m.effective_rank, i)));
  put(deltas ? S(lane(m.delta1_norm, i)) : nan);
  put(deltas ? S(lane(m.delta2_norm, i)) : nan);
  for (int q = 0; q < r; ++q) put(S(lane(m.sv[q], i)));
  for (int q = 0; q < r; ++q) put(q < modes ? S(lane(m.core_diag[q], i)) : nan);
  for (int k = 0; k < depth; ++k) put(S(lane(m.factor_norm[k], i)));
  for (int q = 0; q < r * r; ++q) put(deltas ? S(lane(m.delta1[q], i)) : nan);
  for (int q = 0; q < r * r; ++q) put(deltas ? S(lane(m.delta2[q], i)) : nan);
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
