#pragma once
// Measurements of DESIGN section 3: the record-step metrics of a trajectory (lane-wise, from the
// factors) and the per-seed summaries of its mode hitting times (scalar, double).
#include "factorization.hpp"

namespace specsweep {

// Lane values of one record step. Arrays (handles P, see LaneOf) are sized by the caller: sv[r],
// core_diag[modes], factor_norm[depth], orth_error/orth_band_min/orth_band_max[depth],
// block_alignment[3], delta1/delta2[r * r] (depth 2 only).
template <class V, class P = V*>
struct RecordMetrics {
  V loss;             // 1/2 ||W - M||^2 + penalty, from the explicit residual
  V recovery_error;   // ||W - M||_F / ||M||_F (recovery_error): matrix sensing's measure
  P sv;               // singular values of W, descending; zeros beyond min(m, n, r)
  P core_diag;        // (U^T W V)_ii
  V alignment;        // ||off(U^T W V)||_F / ||diag(U^T W V)||_F
  P factor_norm;      // ||F_k||_F
  V delta1_norm;      // ||sqrt(F1^T F1) - sqrt(F2 F2^T)||_F (depth 2)
  V delta2_norm;      // ||F1^T F1 - F2 F2^T||_F (depth 2)
  P block_alignment;  // left, right, inner block alignment scores (depth 2, see block_alignment)
  P delta1;
  P delta2;
  V effective_rank;    // exp(-sum p_i log p_i), p_i = sigma_i / sum sigma
  V spectral_entropy;  // -sum q_i log q_i, q_i = sigma_i^2 / sum sigma^2 (the energy's spread)
  // run_trajectory fills these two (NaN unless RunParams::sharpness_iterations > 0): lambda_max of
  // the Hessian in all factors, and the curvature along the step taken from this point.
  V sharpness;
  V step_sharpness;
  // run_trajectory fills these per factor with RunParams::orth_error (NaN otherwise): the
  // orthogonalizer's distance from the exact polar factor of its input and its band
  // (OrthDeviation).
  P orth_error;
  P orth_band_min;
  P orth_band_max;
};

// Blocks of the block alignment score, the rule of Rhee, Simon and Karkada's fig3 notebook
// (github dkarkada/muon-mfac): a descending spectrum splits between neighbours a >= b only when
// they differ by both tolerances, a > (1 + rtol) b and a - b > atol (config record.block_rtol,
// record.block_atol); the inner score (two factors' singular values, the square roots of the
// outer ones' scale) uses atol_inner (record.block_atol_inner, by default block_atol^2).
struct BlockTolerance {
  double rtol = 0.08;
  double atol = 0.0;
  double atol_inner = 0.0;
};

// Scratch for block_alignment on bases of up to p columns, in lane values.
SPECSWEEP_HD constexpr int block_alignment_workspace(int p) {
  return p * p + 7 * p;
}

// Scratch for record_metrics, in lane values. Sized by what each buffer holds: with r above
// min(m, n) (Rhee's d = 4N) the factors have rank p1 = min(m, r), p2 = min(n, r), and only the two
// Grams of Delta are r x r (at 128^2, r = 512: 1.2 M values per lane instead of 2.8 M).
struct RecordLayout {
  int w_row, q, q2, tall, r1, r2, b, vr, s1, s2, c, tmp, tau, sig, sig2, svd_work, rv, block_work,
      total;
  SPECSWEEP_HD explicit RecordLayout(const Shape& sh) {
    const int m = sh.m, n = sh.n, r = sh.r;
    const int big = m > n ? m : n;
    const int p1 = m < r ? m : r, p2 = n < r ? n : r, pmax = p1 > p2 ? p1 : p2;
    const int big_rank = big < r ? big : r;
    w_row = 0;  // one row of W (n); weighted: W - M, (W - M) B and a row (2 m n + n)
    q = w_row + (sh.weighted ? 2 * m * n + n : n);  // Householder Q or U_P (big x min(big, r))
    q2 = q + big * big_rank;                        // Q of (F_2...F_L)^T (n x min(n, r))
    tall = q2 + n * (n < r ? n : r);                // F_1 or (F_2...F_L)^T, then U_W, V_2 (big x r)
    r1 = tall + big * r;                            // p1 x r
    r2 = r1 + p1 * r;                               // p2 x r
    b = r2 + p2 * r;                                // X1 X2^T (p1 x p2), then U_2 (r x p2)
    vr = b + r * p2;                                // V_P (r x p1)
    s1 = vr + r * p1;                               // r x r
    s2 = s1 + r * r;                                // r x r
    c = s2 + r * r;                                 // modes x modes, modes <= min(p1, p2)
    tmp = c + p1 * p2;                              // r x max(p1, p2) (modes x r first)
    tau = tmp + r * pmax;                           // r
    sig = tau + r;                                  // r
    sig2 = sig + r;                                 // r
    svd_work = sig2 + r;                            // 2 thin_svd workspaces
    rv = svd_work + 2 * thin_svd_workspace(big, r);  // V_W (n x p), then r x n
    block_work = rv + r * n;                         // block_alignment_workspace(max(p1, p2))
    total = block_work + block_alignment_workspace(pmax);
  }
};

SPECSWEEP_HD inline int record_metrics_workspace(const Shape& sh) {
  return RecordLayout(sh).total;
}

// Positions in descending order (ties by index) of the p values a, as lane values: pos[i] counts
// the values ahead of a[i]. Branch-free, so each lane sorts its own values without moving them.
template <class PS, class P>
SPECSWEEP_HD void descending_positions(int p, PS a, P pos) {
  using V = LaneOf<P>;
  using T = ScalarOf<V>;
  for (int i = 0; i < p; ++i) {
    V count = V(T(0));
    for (int j = 0; j < p; ++j) {
      if (j == i) continue;
      const auto ahead = j < i ? a[j] >= a[i] : a[j] > a[i];
      count += select(ahead, V(T(1)), V(T(0)));
    }
    pos[i] = count;
  }
}

// Block boundaries of a spectrum by position: split[k] = 1 when the k-th and (k+1)-th largest of
// the p values a (zeros beyond p, up to K), a_k >= a_{k+1}, differ by both tolerances
// (BlockTolerance), else 0, for k < K - 1. pos from descending_positions; sorted holds K scratch
// values.
template <class PS, class P>
SPECSWEEP_HD void block_splits(int p, int K, PS a, P pos, const BlockTolerance& tol, P sorted,
                               P split) {
  using V = LaneOf<P>;
  using T = ScalarOf<V>;
  for (int k = 0; k < K; ++k) {
    V v = V(T(0));
    for (int i = 0; i < p; ++i) v += select(vabs(pos[i] - V(T(k))) < V(T(0.5)), V(a[i]), V(T(0)));
    sorted[k] = v;
  }
  for (int k = 0; k + 1 < K; ++k) {
    const V gap = sorted[k] - sorted[k + 1];
    const auto apart = (gap > T(tol.rtol) * sorted[k + 1]) & (gap > V(T(tol.atol)));
    split[k] = select(apart, V(T(1)), V(T(0)));
  }
}

// Block alignment score of two orthonormal bases whose columns carry spectra: A (N x pa) with
// values a, B (N x pb) with values b (either in any order). Blocks are runs of positions in
// descending order; a block ends where both spectra split (block_splits), so a block of
// (nearly) equal values in either spectrum is one block: its vectors are defined only up to a
// rotation within it. The score is the sum over pairs (i, j) in the same block of (A_i . B_j)^2,
// divided by min(pa, pb): 1 when the two bases span the same subspace block by block (in
// particular for equal bases), 0 when every block of one is orthogonal to the same block of the
// other. A zero column (a zero singular value on the outer sides) adds nothing. b may be a
// handle to lane values or to plain scalars (the target's). work: block_alignment_workspace(max(pa,
// pb)).
template <class PA, class PSA, class PB, class PSB, class P>
SPECSWEEP_HD LaneOf<P> block_alignment(int N, int pa, PA A, PSA a, int pb, PB B, PSB b,
                                       const BlockTolerance& tol, P work) {
  using V = LaneOf<P>;
  using T = ScalarOf<V>;
  const int K = pa > pb ? pa : pb;
  P overlap = work;             // pa x pb
  P pos_a = overlap + pa * pb;  // pa
  P pos_b = pos_a + pa;         // pb
  P b_values = pos_b + pb;      // pb (b as lane values)
  P sorted = b_values + pb;     // K
  P split_a = sorted + K;       // K - 1
  P split_b = split_a + K;      // K - 1
  P block = split_b + K;        // K: block index by position
  for (int j = 0; j < pb; ++j) b_values[j] = V(b[j]);
  descending_positions(pa, a, pos_a);
  descending_positions(pb, b_values, pos_b);
  block_splits(pa, K, a, pos_a, tol, sorted, split_a);
  block_splits(pb, K, b_values, pos_b, tol, sorted, split_b);
  block[0] = V(T(0));
  for (int k = 0; k + 1 < K; ++k) block[k + 1] = block[k] + split_a[k] * split_b[k];
  // Block index of each column, looked up by its position (pos_* then hold block indices).
  auto to_blocks = [&](int p, P pos) {
    for (int i = 0; i < p; ++i) {
      V v = V(T(0));
      for (int k = 0; k < K; ++k)
        v += select(vabs(pos[i] - V(T(k))) < V(T(0.5)), block[k], V(T(0)));
      pos[i] = v;
    }
  };
  to_blocks(pa, pos_a);
  to_blocks(pb, pos_b);
  gemm_tn(pa, pb, N, A, B, overlap);
  V score = V(T(0));
  for (int i = 0; i < pa; ++i)
    for (int j = 0; j < pb; ++j) {
      const V o = overlap[i * pb + j];
      score += select(vabs(pos_a[i] - pos_b[j]) < V(T(0.5)), o * o, V(T(0)));
    }
  return score / T(pa < pb ? pa : pb);
}

// sign det(A) of a square A (p x p): from A = Q R (Householder), each nonzero reflector has
// determinant -1 and R's diagonal carries the rest; 0 when a diagonal entry of R is exactly 0. A
// is destroyed; work holds 2 p * p + p values.
template <class PA, class P>
SPECSWEEP_HD LaneOf<P> det_sign(int p, PA A, P work) {
  using V = LaneOf<P>;
  using T = ScalarOf<V>;
  P Q = work;
  P R = Q + p * p;
  P tau = R + p * p;
  householder_qr(p, p, A, Q, R, tau);
  V sign = V(T(1));
  for (int j = 0; j < p; ++j) {
    const V d = R[j * p + j];
    sign *= select(tau[j] > V(T(0)), V(T(-1)), V(T(1)));
    sign *= select(d > V(T(0)), V(T(1)), select(d < V(T(0)), V(T(-1)), V(T(0))));
  }
  return sign;
}

// sign det(W) = prod_k sign det(F_k) when every factor is square (m = n = r), NaN otherwise
// (for W = X X^T the square of sign det(X)). For
// Rhee's orthogonal init F1 = a O1, F2 = a O2^T it is the sign of det(O1^T O2), which decides
// whether the spike-then-halve schedule can succeed. work holds 3 r * r + r values.
template <class PF, class P>
SPECSWEEP_HD LaneOf<P> product_det_sign(const Shape& sh, PF F, P work) {
  using V = LaneOf<P>;
  using T = ScalarOf<V>;
  if (sh.m != sh.r || sh.n != sh.r) return V(std::numeric_limits<T>::quiet_NaN());
  const int r = sh.r;
  P copy_of = work;
  V sign = V(T(1));
  for (int k = 0; k < sh.depth; ++k) {
    copy(r * r, F + sh.offset(k), copy_of);
    sign *= det_sign(r, copy_of, copy_of + r * r);
  }
  return sh.symmetric ? sign * sign : sign;  // det(X X^T) = det(X)^2
}

// ||W - M||_F^2 with W = F_1 right1 formed a row at a time in row (n values): row sums, then their
// sum, so rounding grows like m + n rather than m n.
template <class T, class PF, class PR, class P>
SPECSWEEP_HD LaneOf<P> residual_norm2(const Shape& sh, const TargetView<T>& tg, PF F, PR right1,
                                      P row) {
  using V = LaneOf<P>;
  const int m = sh.m, n = sh.n, r = sh.r;
  V d2 = V(T(0));
  for (int i = 0; i < m; ++i) {
    gemm_nn(1, n, r, F + i * r, right1, row);
    V sum = V(T(0));
    for (int j = 0; j < n; ++j) {
      const V d = row[j] - tg.M[i * n + j];
      sum += d * d;
    }
    d2 += sum;
  }
  return d2;
}

// 1/2 l2 sum_k ||F_k||^2, the loss's penalty.
template <class T, class PF>
SPECSWEEP_HD LaneOf<PF> penalty_term(const Shape& sh, T l2, PF F) {
  using V = LaneOf<PF>;
  V penalty = V(T(0));
  if (l2 != T(0)) penalty = frob2(sh.total(), F);
  return T(0.5) * l2 * penalty;
}

// <W - M, S(W - M)>, the weighted loss's residual term (twice it), from W formed whole in w_row
// (RecordLayout::w_row: the weighted loss couples D's rows).
template <class T, class PF, class PR, class P>
SPECSWEEP_HD LaneOf<P> weighted_residual2(const Shape& sh, const TargetView<T>& tg, PF F, PR right1,
                                          P w_row) {
  using V = LaneOf<P>;
  const int m = sh.m, n = sh.n;
  gemm_nn(m, n, sh.r, F, right1, w_row);
  V w_norm2 = V(T(0)), d_norm2 = V(T(0));
  subtract_target(m * n, tg.M, w_row, w_norm2, d_norm2);
  return weigh_residual(m, n, tg, w_row, w_row + m * n, w_row + 2 * m * n);
}

// 1/2 ||W - M||^2 + penalty (weighted as the shape's loss is) from the explicit residual (W = F_1
// right1 formed a row at a time in w_row, n values; weighted: all of it, RecordLayout::w_row):
// accurate even when the loss is ~1e-7 of ||M||^2, unlike the Gram form evaluate() uses per step.
template <class T, class PF, class PR, class P>
SPECSWEEP_HD LaneOf<P> residual_loss(const Shape& sh, const TargetView<T>& tg, T l2, PF F,
                                     PR right1, P w_row) {
  const LaneOf<P> res2 = sh.weighted ? weighted_residual2(sh, tg, F, right1, w_row)
                                     : residual_norm2(sh, tg, F, right1, w_row);
  return T(0.5) * res2 + penalty_term(sh, l2, F);
}

template <class V>
struct ResidualMeasures {
  V loss;            // residual_loss
  V recovery_error;  // ||W - M||_F / ||M||_F, whatever the loss weighs (matrix sensing's
                     // recovery error); NaN for M = 0
};

// The loss and the recovery error of F from one pass over the unweighted residual (two where the
// loss is weighted); w_row as residual_loss's.
template <class T, class PF, class PR, class P>
SPECSWEEP_HD ResidualMeasures<LaneOf<P>> residual_measures(const Shape& sh, const TargetView<T>& tg,
                                                           T l2, PF F, PR right1, P w_row) {
  using V = LaneOf<P>;
  T m2 = T(0);
  for (int e = 0; e < sh.m * sh.n; ++e) m2 += tg.M[e] * tg.M[e];
  const V res2 = residual_norm2(sh, tg, F, right1, w_row);
  const V loss = T(0.5) * (sh.weighted ? weighted_residual2(sh, tg, F, right1, w_row) : res2) +
                 penalty_term(sh, l2, F);
  return {loss, vsqrt(res2) / vsqrt(V(m2))};
}

// Metrics of the iterate F (concatenated factors). right1 must hold F_2 ... F_L (r x n), as left
// by evaluate() in its workspace. Any r >= 1: an overparameterized r > min(m, n) records
// min(m, n) singular values of W, then zeros.
template <class T, class PF, class PR, class P>
SPECSWEEP_HD void record_metrics(const Shape& sh, const TargetView<T>& tg, T l2,
                                 const BlockTolerance& blocks, PF F, PR right1,
                                 RecordMetrics<LaneOf<P>, P>& out, P work) {
  using V = LaneOf<P>;
  const int m = sh.m, n = sh.n, r = sh.r, L = sh.depth;
  const int p1 = m < r ? m : r, p2 = n < r ? n : r;  // ranks of F_1 and of F_2...F_L at most
  const RecordLayout lay(sh);
  P W = work + lay.w_row;
  P Q = work + lay.q;
  P tall = work + lay.tall;
  P R1 = work + lay.r1;
  P R2 = work + lay.r2;
  P B = work + lay.b;
  P Vr = work + lay.vr;
  P S1 = work + lay.s1;
  P S2 = work + lay.s2;
  P C = work + lay.c;
  P tmp = work + lay.tmp;
  P tau = work + lay.tau;
  P sig = work + lay.sig;
  P sig2 = work + lay.sig2;
  P svd_work = work + lay.svd_work;
  P rv = work + lay.rv;
  P block_work = work + lay.block_work;

  const ResidualMeasures<V> residual = residual_measures(sh, tg, l2, F, right1, W);
  out.loss = residual.loss;
  out.recovery_error = residual.recovery_error;
  int off = 0;
  for (int k = 0; k < L; ++k) {
    out.factor_norm[k] = vsqrt(frob2(sh.size(k), F + off));
    off += sh.size(k);
  }

  // sigma(W) = sigma(X1 X2^T), never squaring W: X1 (p1 x r) is R1 of F_1 = Q1 R1 when F_1 is tall
  // (m >= r), else F_1 itself; X2 (p2 x r) is R2 of (F_2...F_L)^T = Q2 R2 when that is tall
  // (n >= r), else (F_2...F_L)^T itself. X1 X2^T is p1 x p2. At depth 2 its thin SVD
  // U_B diag(sigma) V_B^T also gives W's singular vectors, U_W = Q1 U_B and V_W = Q2 V_B, for the
  // outer block alignment scores.
  P Q2 = work + lay.q2;
  transpose(r, n, right1, tall);
  if (n >= r) {
    householder_qr(n, r, tall, Q, R2, tau);
    copy(n * r, Q, Q2);
  } else {
    copy(n * r, tall, R2);
  }
  if (m >= r) {
    copy(m * r, F, tall);
    householder_qr(m, r, tall, Q, R1, tau);
  } else {
    copy(m * r, F, R1);
  }
  gemm_nt(p1, p2, r, R1, R2, B);
  const int p = p1 < p2 ? p1 : p2;
  const int q = tg.modes;
  if (L == 2) {
    P UB = S1, VB = S2, UW = tall, VW = rv;
    thin_svd(p1, p2, B, UB, sig, VB, svd_work);
    if (m >= r)
      gemm_nn(m, p, r, Q, UB, UW);
    else
      copy(m * p, UB, UW);
    if (n >= r)
      gemm_nn(n, p, r, Q2, VB, VW);
    else
      copy(n * p, VB, VW);
    // Left: W's left singular vectors against the target's U, right: W's right ones against V,
    // both blocked by sigma(W) and the target's spectrum (the authors' fig3 notebook).
    out.block_alignment[0] = block_alignment(m, p, UW, sig, q, tg.U, tg.s, blocks, block_work);
    out.block_alignment[1] = block_alignment(n, p, VW, sig, q, tg.Vb, tg.s, blocks, block_work);
  } else if (p1 == p2) {
    const int ld = jacobi_stride(p);
    for (int i = 0; i < p; ++i)
      for (int j = 0; j < p; ++j) svd_work[i * ld + j] = B[i * p + j];
    singular_values(p, ld, svd_work, sig);
  } else {
    thin_svd(p1, p2, B, S1, sig, S2, svd_work);
  }
  sort_descending(p, sig);
  V total = V(T(0));
  for (int i = 0; i < r; ++i) {
    out.sv[i] = i < p ? sig[i] : V(T(0));
    total += out.sv[i];
  }
  const auto positive = total > V(T(0));
  const V inv_total = T(1) / select(positive, total, V(T(1)));
  V entropy = V(T(0));
  for (int i = 0; i < p; ++i) {
    const V pr = sig[i] * inv_total;
    const auto pos = pr > V(T(0));
    entropy -= select(pos, pr * vlog(select(pos, pr, V(T(1)))), V(T(0)));
  }
  out.effective_rank = select(positive, vexp(entropy), V(T(0)));
  // The energy's entropy, from sigma / sigma_max so that the squares neither overflow nor flush.
  V smax = V(T(0));
  for (int i = 0; i < p; ++i) smax = vmax(smax, sig[i]);
  const V inv_smax = T(1) / select(positive, smax, V(T(1)));
  V energy = V(T(0));
  for (int i = 0; i < p; ++i) energy += (sig[i] * inv_smax) * (sig[i] * inv_smax);
  const V inv_energy = T(1) / select(positive, energy, V(T(1)));
  V energy_entropy = V(T(0));
  for (int i = 0; i < p; ++i) {
    const V x = sig[i] * inv_smax;
    const V share = x * x * inv_energy;
    const auto pos = share > V(T(0));
    energy_entropy -= select(pos, share * vlog(select(pos, share, V(T(1)))), V(T(0)));
  }
  out.spectral_entropy = select(positive, energy_entropy, V(T(0)));
  // Only run_trajectory knows the step, the orthogonalizer's input and what is asked for.
  const V nan = V(std::numeric_limits<T>::quiet_NaN());
  out.sharpness = out.step_sharpness = nan;
  for (int k = 0; k < sh.depth; ++k)
    out.orth_error[k] = out.orth_band_min[k] = out.orth_band_max[k] = nan;

  // Core matrix C = (U^T F_1)(F_2...F_L V) over the target's modes.
  gemm_tn(q, r, m, tg.U, F, tmp);
  gemm_nn(r, q, n, right1, tg.Vb, rv);
  gemm_nn(q, q, r, tmp, rv, C);
  V diag2 = V(T(0)), off2 = V(T(0));
  for (int i = 0; i < q; ++i) {
    for (int j = 0; j < q; ++j) {
      const V c = C[i * q + j];
      if (i == j)
        diag2 += c * c;
      else
        off2 += c * c;
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
    // P = F_1 = U_P diag(sig) V_P^T (U_P = Q, m x p1; V_P = Vr, r x p1) and F_2 = U_2 diag(sig2)
    // V_2^T (U_2 = B, r x p2; V_2 = tall, n x p2), so Q = F_2^T has U_Q = V_2 and V_Q = U_2.
    thin_svd(m, r, F, Q, sig, Vr, svd_work);
    thin_svd(r, n, F2, B, sig2, tall, svd_work);
    // sqrt(F1^T F1) = V_P diag(sig) V_P^T; sqrt(F2 F2^T) = U_2 diag(sig2) U_2^T.
    for (int i = 0; i < r; ++i)
      for (int j = 0; j < p1; ++j) tmp[i * p1 + j] = Vr[i * p1 + j] * sig[j];
    gemm_nt(r, r, p1, tmp, Vr, S1);
    for (int i = 0; i < r; ++i)
      for (int j = 0; j < p2; ++j) tmp[i * p2 + j] = B[i * p2 + j] * sig2[j];
    gemm_nt(r, r, p2, tmp, B, S2);
    for (int i = 0; i < r * r; ++i) out.delta1[i] = S1[i] - S2[i];
    out.delta1_norm = vsqrt(frob2(r * r, out.delta1));
    // Inner block alignment: the right singular vectors of P against the left ones of F_2 = Q^T
    // (README, "What the numbers mean").
    BlockTolerance inner = blocks;
    inner.atol = blocks.atol_inner;
    out.block_alignment[2] = block_alignment(r, p1, Vr, sig, p2, B, sig2, inner, block_work);
  }
}

// Values in one packed record step (pack_record); the r x r Delta1, Delta2 only when asked for
// (record.delta_matrices), since at r = 512 they would be 2 MB per traced seed and record step.
SPECSWEEP_HD constexpr int packed_record_width(int r, int depth, bool delta_matrices) {
  return 12 + 2 * r + 4 * depth + (delta_matrices ? 2 * r * r : 0);
}

// Writes lane `i` of one record step into out[0, packed_record_width(r, depth)), in the order and
// widths of the /trace arrays (host/backend.hpp, for_each_trace_array, which unpacks it): loss,
// recovery_error, alignment, effective_rank, spectral_entropy, delta1_norm, delta2_norm, sharpness,
// step_sharpness, sv[r], core_diag[r], factor_norm[depth], orth_error[depth],
// orth_band_min[depth], orth_band_max[depth], block_alignment[3], then with delta_matrices
// delta1[r * r], delta2[r * r]. What a shape does not have (core_diag beyond the modes, the depth-2
// quantities for depth != 2) is NaN. Backends pack on the device or per lane and unpack on the
// host.
template <class V, class P, class Out>
SPECSWEEP_HD void pack_record(const RecordMetrics<V, P>& m, int i, int r, int modes, int depth,
                              bool delta_matrices, Out out) {
  using S = LaneOf<Out>;
  const S nan = std::numeric_limits<S>::quiet_NaN();
  const bool deltas = depth == 2;
  int at = 0;
  auto put = [&](S value) { out[at++] = value; };
  put(S(lane(m.loss, i)));
  put(S(lane(m.recovery_error, i)));
  put(S(lane(m.alignment, i)));
  put(S(lane(m.effective_rank, i)));
  put(S(lane(m.spectral_entropy, i)));
  put(deltas ? S(lane(m.delta1_norm, i)) : nan);
  put(deltas ? S(lane(m.delta2_norm, i)) : nan);
  put(S(lane(m.sharpness, i)));
  put(S(lane(m.step_sharpness, i)));
  for (int q = 0; q < r; ++q) put(S(lane(m.sv[q], i)));
  for (int q = 0; q < r; ++q) put(q < modes ? S(lane(m.core_diag[q], i)) : nan);
  for (int k = 0; k < depth; ++k) put(S(lane(m.factor_norm[k], i)));
  for (int k = 0; k < depth; ++k) put(S(lane(m.orth_error[k], i)));
  for (int k = 0; k < depth; ++k) put(S(lane(m.orth_band_min[k], i)));
  for (int k = 0; k < depth; ++k) put(S(lane(m.orth_band_max[k], i)));
  for (int q = 0; q < 3; ++q) put(deltas ? S(lane(m.block_alignment[q], i)) : nan);
  if (!delta_matrices) return;
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
      if (dx == 0)
        ++tie_x;
      else if (dy == 0)
        ++tie_y;
      else if ((dx > 0) == (dy > 0))
        ++concordant;
      else
        ++discordant;
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
