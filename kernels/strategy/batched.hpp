#pragma once
// The lockstep steps of depth-2 problems (DESIGN section 8): the S seeds of a task advance in
// lockstep, each operation done for all seeds at once by an executor (Exec) that owns memory and
// runs the primitives, each a parallel phase that completes before the next begins:
//   template <class U> using Buffer = ...;          // data(), size(); movable
//   Buffer<U> buffer<U>(long n);                     // n values, contents undefined
//   const U* shared_input(const U* data, long n);    // data, or a copy closer to the work (the
//                                                    // target M, read by every seed)
//   void for_each(long count, F f);                  // f(i) for every i < count, in any order
//   void for_each_element(long seeds, int per_seed, F f);
//                                                    // f(s, e) for every s < seeds, e < per_seed,
//                                                    // in any order
//   void sum_per_seed(long seeds, int per_seed, Term term, U* out);
//                                                    // out[s] = sum over e of term(s, e)
//   void gemm_cm(...);                               // column-major strided-batched GEMM, BLAS
//                                                    // semantics (cublas<t>gemmStridedBatched)
//   void eigh(int p, long batch, double* A, double* w, double* work);
//                                                    // symmetric eigendecomposition: w ascending,
//                                                    // eigenvectors over A's columns
//                                                    // (column-major), as cusolverDnXsyevBatched;
//                                                    // work: jacobi_work_size(p) doubles per
//                                                    // matrix, for an executor without cuSOLVER
//                                                    // (small_linalg.hpp)
//   void zero(U* data, long count);
//   std::size_t record_buffer_bytes() const;         // memory for buffered record steps (below);
//                                                    // 0: none, records go to the seeds' arenas
// Two strategies of the CUDA backend run these steps:
// - batched (kernels/cuda/batched_engine.cu): the steps run on the host, each primitive one
//   launch over all seeds of a large problem: cuBLAS, cuSOLVER, Thrust and CUB.
// - block (kernels/cuda/block_engine.cuh): a thread block runs the steps for its group of a few
//   seeds from start to end, every buffer in shared memory, each primitive a loop over the
//   block's threads closed by a barrier; for small problems, where the batched strategy's launches
//   would each do too little work.
// tests/test_strategies.cpp runs them on the CPU with plain loops in a shuffled order, so that a
// dependency inside a phase, which the GPU would race on, shows up as a mismatch. The steps'
// methods are host-and-device code; SPECSWEEP_HD_EXEC lets one template serve an executor of
// either side.
//
// - The factors of all seeds sit side by side: F1 as one m x (S r) matrix, F2 as one (S r) x n
//   matrix, so the products with the shared target, M F2^T and F1^T M, are each a single GEMM,
//   and every per-seed product is a strided-batched GEMM over the same storage.
// - The exact and smoothed polar factors come from the p x p Gram (p = min(rows, cols)) in fp64:
//   orth(G) = G V f(L) V^T (tall G) or V f(L) V^T G (wide), f = 1/sqrt(lambda) above the rank
//   cut, or 1/sqrt(lambda + eps). fp64 keeps singular values down to the fp32 rank cut (1e-7 of
//   the largest) accurate although the Gram squares them.
// - Newton–Schulz iterates on the Gram side with batched GEMMs, as kernels/core does per seed.
// - Per-seed bookkeeping (divergence, steps to tolerance, hitting times), initialization, the
//   record-step metrics of traced seeds and the final loss from the explicit residual are the
//   core engine's own functions (observe_step, init_factor, record_metrics, residual_loss), one
//   call per seed, so both strategies and the CPU report the same quantities.
// - A record step only copies the traced seeds' factors aside; their metrics (an SVD of W and
//   more, run by one thread each) are computed when a block of record steps has been buffered,
//   one thread per (traced seed, record step). Computed at each record step, a few traced seeds'
//   metrics ran on a few threads while the GPU waited, 5-100x the time of a step at every = 1.
#include <algorithm>
#include <cstddef>
#include <type_traits>
#include <utility>

#include "strategy/small_linalg.hpp"
#include "strategy/task.hpp"

namespace specsweep::strategy {

// A batch of row-major matrices: matrix s starts at data + s * stride, rows are ld apart.
template <class T>
struct MatrixBatch {
  T* data;
  long ld, stride;
  // A batch of T converts to a batch of const T (the inputs of gemm).
  template <class U, class = std::enable_if_t<std::is_same_v<U, const T> && !std::is_const_v<T>>>
  SPECSWEEP_HD operator MatrixBatch<U>() const {
    return {data, ld, stride};
  }
};

template <class T>
struct NonDeduced {
  using type = T;
};

// Row-major C_s (m x n) = alpha op(A_s) op(B_s) + beta C_s for s < batch, where op(X) = X, or
// X^T when the flag is set (X_s then stored k x m, resp. n x k). A stride of 0 shares one matrix
// (the target M) across the batch. A row-major matrix is its column-major transpose, so this is
// the column-major C^T = op(B)^T op(A)^T with the operands swapped.
SPECSWEEP_EXEC_CHECK_OFF
template <class T, class Exec>
SPECSWEEP_HD void gemm(Exec& exec, bool trans_a, bool trans_b, int m, int n, int k, T alpha,
                       MatrixBatch<const typename NonDeduced<T>::type> A,
                       MatrixBatch<const typename NonDeduced<T>::type> B, T beta, MatrixBatch<T> C,
                       int batch) {
  exec.gemm_cm(trans_b, trans_a, n, m, k, alpha, B.data, B.ld, B.stride, A.data, A.ld, A.stride,
               beta, C.data, C.ld, C.stride, batch);
}

// Where element e = i * cols + j of seed s of a factor lives in the batched storage.
struct FactorLayout {
  int rows, cols;
  long ld, stride;  // row pitch; offset from one seed's matrix to the next
  long seeds;
  SPECSWEEP_HD int per_seed() const { return rows * cols; }
  SPECSWEEP_HD long size() const { return seeds * per_seed(); }
  // Element e = i * cols + j of seed s. The elementwise steps index (seed, element) so that the
  // division here is a 32-bit one: a 64-bit division is a long software sequence on the GPU, once
  // per element of every elementwise kernel.
  SPECSWEEP_HD long at(long s, int e) const { return s * stride + long(e / cols) * ld + e % cols; }
  SPECSWEEP_HD long at(long s, int i, int j) const { return s * stride + i * ld + j; }
  template <class T>
  SPECSWEEP_HD MatrixBatch<T> batch(T* data) const {
    return {data, ld, stride};
  }
};

// Whether the batched strategy computes this cell: depth 2 unweighted (its Gram-form loss cannot
// weigh the residual's entries, so icl runs fused), the step integrator (RK4 runs fused),
// no basin probe (its restarts run fused, seed by seed), and not the exact or smoothed polar
// factor in fp64: through the Gram, a singular value sigma of G is resolved only to
// eps * sigma_max^2 / sigma, well within fp32's rounding but not within fp64's, so those cells run
// fused, with the QR-based polar factor of kernels/core.
template <class T>
bool batched_supports(const CellParams<T>& c) {
  const bool spectral = c.op.kind == OptimizerKind::specgd || c.op.kind == OptimizerKind::muon;
  const bool gram_polar = spectral && c.op.orth.kind != OrthKind::newton_schulz;
  return c.shape.depth == 2 && !c.shape.weighted && c.op.integrator == Integrator::step &&
         c.basin_probes == 0 && c.rp.sharpness_iterations == 0 && !c.rp.orth_error &&
         c.op.gradient_noise == 0 && !(gram_polar && std::is_same_v<T, double>);
}

// T values per seed of the task's interleaved arena under this strategy: the factors in the
// core's layout, scratch for record_metrics (which covers residual_loss and product_det_sign),
// and the record-step metrics.
template <class T>
SPECSWEEP_HD int batched_arena_width(const CellParams<T>& c) {
  return c.layout.params + record_metrics_workspace(c.shape) +
         metrics_values(c.shape, c.target.modes);
}

// Record steps buffered before their metrics are computed (BatchedSteps::flush_records): as many
// as the buffer of `buffer_bytes` holds for `traced` seeds, at least one.
template <class T>
SPECSWEEP_HD int batched_records_per_flush(const CellParams<T>& c, long traced,
                                           std::size_t buffer_bytes) {
  const std::size_t slot_bytes = sizeof(T) * std::size_t(batched_arena_width(c));
  const long fit = long(buffer_bytes / (slot_bytes * std::size_t(traced > 1 ? traced : 1)));
  const long most = c.rp.record_count > 1 ? c.rp.record_count : 1;
  return int(fit < 1 ? 1 : fit > most ? most : fit);
}

// Bytes of the record buffer of a task with `traced` traced seeds.
template <class T>
SPECSWEEP_HD std::size_t batched_record_bytes(const CellParams<T>& c, long traced,
                                              std::size_t buffer_bytes) {
  if (traced == 0 || c.rp.record_count == 0 || buffer_bytes == 0) return 0;
  const long slots = traced * batched_records_per_flush(c, traced, buffer_bytes);
  return sizeof(T) * std::size_t((slots + kWarp - 1) / kWarp * kWarp) *
         std::size_t(batched_arena_width(c));
}

// Bytes per seed of the strategy's own buffers, beyond the task's arrays (an upper bound).
template <class T>
std::size_t batched_bytes_per_seed(const CellParams<T>& c) {
  const Shape& sh = c.shape;
  const long params = c.layout.params, r = sh.r, q = c.target.modes;
  const long p = std::min<long>(r, std::max(sh.m, sh.n));
  // F, G, D, two optimizer states, the Muon lookahead, Newton–Schulz's Y and Z (an upper bound).
  std::size_t bytes = sizeof(T) * 8 * params;
  bytes += sizeof(T) * (2 * r * r + 2 * q * r + q + 5 + 3 * p * p);
  bytes += sizeof(double) * (std::max<long>(sh.m, sh.n) * r + 2 * p * p + p) + sizeof(int);
  return bytes;
}

// The optimizer's buffers for one factor, in that factor's batched layout.
template <class T, class Exec>
struct FactorBuffers {
  // Declared so that nvcc does not check them against the executor's side (SPECSWEEP_HD_EXEC).
  SPECSWEEP_HD_EXEC FactorBuffers() {}
  SPECSWEEP_HD_EXEC ~FactorBuffers() {}
  FactorLayout layout;
  typename Exec::template Buffer<T> F, G, D, state1, state2, lookahead, Y, Z;
};

// Members are public because CUDA's extended lambdas, which the steps below hand to the executor,
// may not be defined in private member functions.
template <class T, class Exec>
struct BatchedSteps {
  template <class U>
  using Buffer = typename Exec::template Buffer<U>;

  // record_steps: c.rp.record_steps where the steps run (the host's copy for the batched
  // strategy, whose steps run on the host).
  SPECSWEEP_HD_EXEC BatchedSteps(Exec& exec, const CellParams<T>& c, const SeedTask<T>& task,
                                 const int* record_steps)
      : x_(exec), c_(c), task_(task), record_steps_(record_steps), sh_(c.shape), S_(task.count) {
    const int m = sh_.m, n = sh_.n, r = sh_.r, q = c.target.modes;
    factor_[0].layout = FactorLayout{m, r, S_ * r, r, S_};
    factor_[1].layout = FactorLayout{r, n, n, long(r) * n, S_};
    const OptimizerParams& op = c.op;
    const bool orthogonal = op.kind == OptimizerKind::specgd || op.kind == OptimizerKind::muon;
    const bool ns = orthogonal && op.orth.kind == OrthKind::newton_schulz;
    const bool gram = orthogonal && !ns;
    M_ = exec.shared_input(c.target.M, long(m) * n);
    long p_max = 0, size_max = 0;
    for (FactorBuffers<T, Exec>& f : factor_) {
      const long size = f.layout.size();
      f.F = exec.template buffer<T>(size);
      f.G = exec.template buffer<T>(size);
      if (op.kind != OptimizerKind::gd) f.D = exec.template buffer<T>(size);
      if (op.state_buffers() >= 1) f.state1 = exec.template buffer<T>(size);
      if (op.state_buffers() >= 2) f.state2 = exec.template buffer<T>(size);
      if (op.kind == OptimizerKind::muon) f.lookahead = exec.template buffer<T>(size);
      if (ns) f.Y = exec.template buffer<T>(size), f.Z = exec.template buffer<T>(size);
      const long p = f.layout.rows < f.layout.cols ? f.layout.rows : f.layout.cols;
      p_max = p > p_max ? p : p_max;
      size_max = size > size_max ? size : size_max;
    }
    grams_ = exec.template buffer<T>(2 * S_ * r * r);
    core_left_ = exec.template buffer<T>(S_ * q * r);
    core_right_ = exec.template buffer<T>(S_ * q * r);
    diag_ = exec.template buffer<T>(S_ * (q > 1 ? q : 1));
    scalars_ = exec.template buffer<T>(6 * S_);
    if (ns) gram_work_ = exec.template buffer<T>(3 * S_ * p_max * p_max);
    if (gram) {
      gradient_fp64_ = exec.template buffer<double>(size_max);
      gram_ = exec.template buffer<double>(S_ * p_max * p_max);
      eigenvalues_ = exec.template buffer<double>(S_ * p_max);
      eigen_work_ = exec.template buffer<double>(S_ * jacobi_work_size(int(p_max)));
      gram_work_ = exec.template buffer<T>(S_ * p_max * p_max);
    }
    if (task.traced_count > 0 && c.rp.record_count > 0) {
      const std::size_t bytes = exec.record_buffer_bytes();
      records_per_flush_ = bytes > 0 ? batched_records_per_flush(c, task.traced_count, bytes) : 1;
      record_rows_ = exec.template buffer<T>(
          long(batched_record_bytes(c, task.traced_count, bytes) / sizeof(T)));
    }
  }
  SPECSWEEP_HD_EXEC ~BatchedSteps() {}

  SPECSWEEP_HD_EXEC void run() {
    initialize();
    int next_record = 0;
    for (int t = 0;; ++t) {
      evaluate();
      observe(t);
      const bool record = next_record < c_.rp.record_count && record_steps_[next_record] == t;
      if (record && task_.traced_count > 0) record_traced(next_record);
      if (record) ++next_record;
      if (t == c_.rp.steps) break;
      const T eta = T(c_.op.schedule.rate(t));
      for (int k = 0; k < 2; ++k) direction(k, t);
      for (int k = 0; k < 2; ++k) apply(k, eta);
    }
    flush_records();
    finish();
  }

  // Per-seed scalars: slots of scalars_.
  SPECSWEEP_HD_EXEC T* loss_terms() const { return scalars_.data(); }  // <F1, M F2^T>
  SPECSWEEP_HD_EXEC T* w_norm2() const {
    return scalars_.data() + S_;
  }  // ||W||^2 = <F1^T F1, F2 F2^T>
  SPECSWEEP_HD_EXEC T* penalty() const { return scalars_.data() + 2 * S_; }  // sum ||F_k||^2
  SPECSWEEP_HD_EXEC T* alive() const { return scalars_.data() + 3 * S_; }    // 1 live, 0 diverged
  SPECSWEEP_HD_EXEC T* seed_norm2() const { return scalars_.data() + 4 * S_; }  // scratch per seed
  SPECSWEEP_HD_EXEC T* factor_scale2() const {
    return scalars_.data() + 5 * S_;
  }  // ||F1||^2 ||F2||^2 (gram_loss_error)
  SPECSWEEP_HD_EXEC T* gram_of(int k) const { return grams_.data() + long(k) * S_ * sh_.r * sh_.r; }

  SPECSWEEP_HD_EXEC void initialize() {
    const CellParams<T> c = c_;
    const SeedTask<T> task = task_;
    const FactorCopy factors = factor_copy();
    T* alive_of = alive();
    const int iw = init_width(c), aw = batched_arena_width(c),
              ow = OutcomeSlots{c.target.modes}.width();
    x_.for_each(S_, [=] SPECSWEEP_HD(long s) {
      const Shape& sh = c.shape;
      const int params = c.layout.params;
      WarpArray<double> init = seed_row(task.init, s, iw);
      initialize_seed(c, task, s, init);
      WarpArray<T> arena = seed_row(task.arena, s, aw);
      for (int e = 0; e < params; ++e) arena[e] = T(init[e]);
      factors.from_arena(s, arena);
      const OutcomeSlots slots{c.target.modes};
      WarpArray<T> outcome = seed_row(task.outcome, s, ow);
      TrajectoryOutcome<T, WarpArray<T>> out{};
      out.hit_step = outcome + slots.hit_step();
      out.hit_value = outcome + slots.hit_value();
      begin_outcome(c.target.modes, out);
      outcome[slots.steps_to_tol()] = out.steps_to_tol;
      outcome[slots.diverged()] = out.diverged;
      outcome[slots.window_loss()] = out.window_loss;
      outcome[slots.final_sharpness()] = out.final_sharpness;  // NaN: no sharpness here
      outcome[slots.init_det_sign()] = product_det_sign(sh, arena, arena + params);
      alive_of[s] = T(1);
    });
    for (FactorBuffers<T, Exec>& f : factor_) {
      if (f.state1.size() > 0) x_.zero(f.state1.data(), long(f.state1.size()));
      if (f.state2.size() > 0) x_.zero(f.state2.data(), long(f.state2.size()));
    }
  }

  // G = grad f(F) and the per-seed terms of the loss (factorization.hpp's evaluate, for all seeds).
  SPECSWEEP_HD_EXEC void evaluate() {
    const int m = sh_.m, n = sh_.n, r = sh_.r, q = c_.target.modes;
    const long rr = long(r) * r, Sr = S_ * r;
    const FactorLayout l1 = factor_[0].layout, l2 = factor_[1].layout;
    T *F1 = factor_[0].F.data(), *F2 = factor_[1].F.data();
    T *G1 = factor_[0].G.data(), *G2 = factor_[1].G.data();
    T *S0 = gram_of(0), *S1 = gram_of(1);
    const T* M = M_;
    // G1 <- M F2^T for all seeds at once; S0 <- F2 F2^T and S1 <- F1^T F1 per seed.
    gemm<T>(x_, false, true, m, int(Sr), n, T(1), {M, n, 0}, {F2, n, 0}, T(0), {G1, Sr, 0}, 1);
    gemm<T>(x_, false, true, r, r, n, T(1), l2.batch(F2), l2.batch(F2), T(0), {S0, r, rr}, int(S_));
    gemm<T>(x_, true, false, r, r, m, T(1), l1.batch(F1), l1.batch(F1), T(0), {S1, r, rr}, int(S_));
    // The loss terms <F1, M F2^T> and <F1^T F1, F2 F2^T> before G1 is overwritten.
    const int per1 = l1.per_seed();
    x_.sum_per_seed(
        S_, per1,
        [=] SPECSWEEP_HD(long s, int e) {
          const long at = l1.at(s, e);
          return F1[at] * G1[at];
        },
        loss_terms());
    x_.sum_per_seed(
        S_, int(rr), [=] SPECSWEEP_HD(long s, int e) { return S1[s * rr + e] * S0[s * rr + e]; },
        w_norm2());
    T* scale2 = factor_scale2();
    x_.for_each(S_, [=] SPECSWEEP_HD(long s) {
      T trace0 = T(0), trace1 = T(0);
      for (int i = 0; i < r; ++i)
        trace0 += S0[s * rr + i * r + i], trace1 += S1[s * rr + i * r + i];
      scale2[s] = trace0 * trace1;
    });
    // G1 <- F1 S0 - M F2^T; G2 <- S1 F2 - F1^T M (F1^T M for all seeds at once).
    gemm<T>(x_, false, false, m, r, r, T(1), l1.batch(F1), {S0, r, rr}, T(-1), l1.batch(G1),
            int(S_));
    gemm<T>(x_, true, false, int(Sr), n, m, T(1), {F1, Sr, 0}, {M, n, 0}, T(0), {G2, n, 0}, 1);
    gemm<T>(x_, false, false, r, n, r, T(1), {S1, r, rr}, l2.batch(F2), T(-1), l2.batch(G2),
            int(S_));
    const T l2_weight = T(c_.rp.l2);
    if (l2_weight != T(0)) {
      const FactorCopy factors = factor_copy();
      x_.sum_per_seed(
          S_, c_.layout.params,
          [=] SPECSWEEP_HD(long s, int e) {
            const T f = factors(s, e);
            return f * f;
          },
          penalty());
      for (FactorBuffers<T, Exec>& f : factor_) {
        const FactorLayout l = f.layout;
        T *F = f.F.data(), *G = f.G.data();
        x_.for_each_element(S_, l.per_seed(), [=] SPECSWEEP_HD(long s, int e) {
          G[l.at(s, e)] += l2_weight * F[l.at(s, e)];
        });
      }
    }
    // Core diagonal d_i = (U^T F1)_{i,:} . (F2 V)_{:,i}: both products for all seeds at once.
    if (q == 0) return;
    T *left = core_left_.data(), *right = core_right_.data(), *diag = diag_.data();
    gemm<T>(x_, true, false, q, int(Sr), m, T(1), {c_.target.U, q, 0}, {F1, Sr, 0}, T(0),
            {left, Sr, 0}, 1);
    gemm<T>(x_, false, false, int(Sr), q, n, T(1), {F2, n, 0}, {c_.target.Vb, q, 0}, T(0),
            {right, q, 0}, 1);
    x_.for_each_element(S_, q, [=] SPECSWEEP_HD(long s, int i) {
      T d = T(0);
      for (int j = 0; j < r; ++j) d += left[i * Sr + s * r + j] * right[(s * r + j) * q + i];
      diag[s * q + i] = d;
    });
  }

  // Divergence, steps to tolerance and hitting times at step t (core observe_step, per seed).
  SPECSWEEP_HD_EXEC void observe(int t) {
    const CellParams<T> c = c_;
    const SeedTask<T> task = task_;
    const T *dot_mw = loss_terms(), *w2 = w_norm2(), *pen = penalty(), *scale2 = factor_scale2(),
            *diag = diag_.data();
    T* alive_of = alive();
    const bool penalized = c.rp.l2 != 0;
    const int ow = OutcomeSlots{c.target.modes}.width(), aw = batched_arena_width(c);
    const FactorCopy factors = factor_copy();
    x_.for_each(S_, [=] SPECSWEEP_HD(long s) {
      const OutcomeSlots slots{c.target.modes};
      WarpArray<T> outcome = seed_row(task.outcome, s, ow);
      TrajectoryOutcome<T, WarpArray<T>> out{};
      out.steps_to_tol = outcome[slots.steps_to_tol()];
      out.diverged = outcome[slots.diverged()];
      out.window_loss = outcome[slots.window_loss()];
      out.hit_step = outcome + slots.hit_step();
      out.hit_value = outcome + slots.hit_value();
      const T penalty_term = penalized ? T(0.5) * T(c.rp.l2) * pen[s] : T(0);
      EvalResult<T> ev;
      ev.loss = c.target.norm2_half - dot_mw[s] + T(0.5) * w2[s] + penalty_term;
      ev.w_norm2 = w2[s];
      ev.factor_scale2 = scale2[s];
      T live = alive_of[s];
      observe_step(t, ev, diag + s * c.target.modes, c.target, c.rp, live, out, [&] {
        WarpArray<T> arena = seed_row(task.arena, s, aw);
        factors.to_arena(s, arena);
        const Shape& sh = c.shape;
        return residual_loss(sh, c.target, T(c.rp.l2), arena, arena + sh.m * sh.r,
                             arena + c.layout.params);
      });
      alive_of[s] = live;
      outcome[slots.steps_to_tol()] = out.steps_to_tol;
      outcome[slots.diverged()] = out.diverged;
      outcome[slots.window_loss()] = out.window_loss;
    });
  }

  // A pair of buffers in the two factors' batched layouts (the factors, or the gradients) seen in
  // the core's concatenated layout: element by element, or a seed's whole row copied to and from
  // its arena.
  struct FactorCopy {
    FactorLayout l1, l2;
    T *F1, *F2;
    Shape sh;
    // Element e of seed s's factors concatenated in the core's layout (F1, then F2, row-major).
    SPECSWEEP_HD T& operator()(long s, int e) const {
      const int mr = sh.m * sh.r;
      return e < mr ? F1[l1.at(s, e)] : F2[l2.at(s, e - mr)];
    }
    // Seed s's factors from the batched layouts into its arena row, in the core's layout...
    SPECSWEEP_HD void to_arena(long s, WarpArray<T> arena) const {
      for (int i = 0; i < sh.m; ++i)
        for (int j = 0; j < sh.r; ++j) arena[i * sh.r + j] = F1[l1.at(s, i, j)];
      for (int i = 0; i < sh.r; ++i)
        for (int j = 0; j < sh.n; ++j) arena[sh.m * sh.r + i * sh.n + j] = F2[l2.at(s, i, j)];
    }
    // ... and back.
    SPECSWEEP_HD void from_arena(long s, WarpArray<T> arena) const {
      for (int i = 0; i < sh.m; ++i)
        for (int j = 0; j < sh.r; ++j) F1[l1.at(s, i, j)] = arena[i * sh.r + j];
      for (int i = 0; i < sh.r; ++i)
        for (int j = 0; j < sh.n; ++j) F2[l2.at(s, i, j)] = arena[sh.m * sh.r + i * sh.n + j];
    }
  };
  SPECSWEEP_HD_EXEC FactorCopy factor_copy() const {
    return FactorCopy{factor_[0].layout, factor_[1].layout, factor_[0].F.data(),
                      factor_[1].F.data(), sh_};
  }

  // Row b K + k of the buffered record steps, for traced seed k at buffered step b: laid out as
  // the arena, in the record buffer or, without one (one step at a time), in the seed's arena.
  struct RecordRows {
    T *buffer, *arena;
    long K, first;  // traced seeds; the first one's index in the task
    int width;
    SPECSWEEP_HD WarpArray<T> operator()(long row) const {
      return buffer != nullptr ? seed_row(buffer, row, width)
                               : seed_row(arena, first + row % K, width);
    }
  };
  SPECSWEEP_HD_EXEC RecordRows record_rows() const {
    return RecordRows{record_rows_.size() > 0 ? record_rows_.data() : nullptr, task_.arena,
                      task_.traced_count, task_.traced_first - task_.first_seed,
                      batched_arena_width(c_)};
  }

  // Record j: the traced seeds' factors into the rows of the next buffered record step, element
  // by element.
  SPECSWEEP_HD_EXEC void record_traced(int j) {
    if (buffered_records_ == 0) first_buffered_record_ = j;
    const long K = task_.traced_count, first_row = buffered_records_ * K,
               first = task_.traced_first - task_.first_seed;
    const FactorCopy factors = factor_copy();
    const RecordRows rows = record_rows();
    x_.for_each_element(K, c_.layout.params, [=] SPECSWEEP_HD(long k, int e) {
      rows(first_row + k)[e] = factors(first + k, e);
    });
    if (++buffered_records_ == records_per_flush_) flush_records();
  }

  // The metrics of every buffered (traced seed, record step), one thread each, into the traces.
  SPECSWEEP_HD_EXEC void flush_records() {
    if (buffered_records_ == 0) return;
    const CellParams<T> c = c_;
    const long K = task_.traced_count;
    const int first_record = first_buffered_record_;
    const RecordRows rows = record_rows();
    T* traces = task_.traces;
    x_.for_each(K * buffered_records_, [=] SPECSWEEP_HD(long row) {
      const Shape& sh = c.shape;
      const int params = c.layout.params,
                width = packed_record_width(sh.r, sh.depth, c.rp.delta_matrices);
      const long k = row % K, j = first_record + row / K;
      WarpArray<T> arena = rows(row);
      RecordMetrics<T, WarpArray<T>> metrics =
          metrics_view(sh, c.target.modes, arena + params + record_metrics_workspace(sh));
      record_metrics(sh, c.target, T(c.rp.l2), c.rp.blocks, arena, arena + sh.m * sh.r, metrics,
                     arena + params);
      pack_record(metrics, 0, sh.r, c.target.modes, sh.depth, c.rp.delta_matrices,
                  traces + (k * c.rp.record_count + j) * width);
    });
    buffered_records_ = 0;
  }

  // Update direction of factor k at step t (optimizer.hpp's update_direction, for all seeds).
  SPECSWEEP_HD_EXEC void direction(int k, int t) {
    FactorBuffers<T, Exec>& f = factor_[k];
    const FactorLayout l = f.layout;
    const OptimizerParams& op = c_.op;
    T *G = f.G.data(), *D = f.D.data(), *B = f.state1.data(), *V2 = f.state2.data();
    switch (op.kind) {
      case OptimizerKind::gd:
        return;  // apply() steps along G
      case OptimizerKind::specgd:
        orthogonalize(k, G);
        return;
      case OptimizerKind::muon: {
        const T beta = T(op.momentum);
        const bool nesterov = op.nesterov;
        T* look = f.lookahead.data();
        if (op.momentum_order == MomentumOrder::post_polar) {
          orthogonalize(k, G);  // D = orth(G), then D <- the buffer of polar factors
          x_.for_each_element(S_, l.per_seed(), [=] SPECSWEEP_HD(long s, int e) {
            const long at = l.at(s, e);
            B[at] = beta * B[at] + D[at];
            D[at] = nesterov ? D[at] + beta * B[at] : B[at];
          });
        } else {
          x_.for_each_element(S_, l.per_seed(), [=] SPECSWEEP_HD(long s, int e) {
            const long at = l.at(s, e);
            B[at] = beta * B[at] + G[at];
            look[at] = nesterov ? G[at] + beta * B[at] : B[at];
          });
          orthogonalize(k, look);
        }
        const T s = T(shape_scale_factor(op.shape_scale, l.rows, l.cols));
        if (s != T(1))
          x_.for_each_element(S_, l.per_seed(),
                              [=] SPECSWEEP_HD(long seed, int e) { D[l.at(seed, e)] *= s; });
        return;
      }
      case OptimizerKind::adam: {
        const T b1 = T(op.beta1), b2 = T(op.beta2), eps = T(op.eps);
        const T c1 = T(1.0 / (1.0 - pow(op.beta1, double(t + 1))));
        const T c2 = T(1.0 / (1.0 - pow(op.beta2, double(t + 1))));
        x_.for_each_element(S_, l.per_seed(), [=] SPECSWEEP_HD(long s, int e) {
          const long at = l.at(s, e);
          B[at] = b1 * B[at] + (T(1) - b1) * G[at];
          V2[at] = b2 * V2[at] + (T(1) - b2) * G[at] * G[at];
          D[at] = B[at] * c1 / (sqrt(V2[at] * c2) + eps);
        });
        return;
      }
    }
  }

  // D_k = orth(X) for every seed's matrix X (layout of factor k).
  SPECSWEEP_HD_EXEC void orthogonalize(int k, T* X) {
    if (c_.op.orth.kind == OrthKind::newton_schulz)
      newton_schulz(k, X);
    else
      polar_from_gram(k, X);
  }

  // The small side of a factor's matrices (rows x cols): the Gram is p x p, p = min(rows, cols),
  // X^T X for a tall X and X X^T for a wide one, and a p x p matrix K acts on X as X K (tall) or
  // K X (wide), as in orthogonalize.hpp.
  struct GramSide {
    int rows, cols, p;
    bool tall;
    long pp;
    int per;
    SPECSWEEP_HD explicit GramSide(const FactorLayout& l)
        : rows(l.rows),
          cols(l.cols),
          p(l.rows < l.cols ? l.rows : l.cols),
          tall(l.rows >= l.cols),
          pp(long(p) * p),
          per(l.per_seed()) {}
  };

  // out_s = X_s^T X_s or X_s X_s^T (p x p, contiguous per seed).
  SPECSWEEP_EXEC_CHECK_OFF
  template <class U>
  SPECSWEEP_HD void gram(const GramSide& g, MatrixBatch<const U> X, U* out) {
    gemm<U>(x_, g.tall, !g.tall, g.p, g.p, g.tall ? g.rows : g.cols, U(1), X, X, U(0),
            {out, g.p, g.pp}, int(S_));
  }

  // out_s = X_s K_s (tall) or K_s X_s (wide) + beta out_s.
  SPECSWEEP_HD_EXEC void act(const GramSide& g, MatrixBatch<const T> X, const T* K, T beta,
                             MatrixBatch<T> out) {
    const MatrixBatch<const T> Kb{K, g.p, g.pp};
    if (g.tall)
      gemm<T>(x_, false, false, g.rows, g.cols, g.cols, T(1), X, Kb, beta, out, int(S_));
    else
      gemm<T>(x_, false, false, g.rows, g.cols, g.rows, T(1), Kb, X, beta, out, int(S_));
  }

  SPECSWEEP_HD_EXEC void polar_from_gram(int k, const T* X) {
    FactorBuffers<T, Exec>& f = factor_[k];
    const FactorLayout l = f.layout;
    const GramSide g(l);
    const int p = g.p;
    const long pp = g.pp;
    double *Xd = gradient_fp64_.data(), *gram_of_X = gram_.data(), *lambda = eigenvalues_.data();
    // A diverged seed (frozen, its direction unused) contributes a zero matrix, so that no NaN or
    // Inf reaches the eigensolver, which would report a failure for it.
    const T* alive_of = alive();
    const int per = g.per;
    x_.for_each_element(S_, per, [=] SPECSWEEP_HD(long s, int e) {
      const T x = X[l.at(s, e)];
      Xd[s * per + e] = alive_of[s] > T(0.5) && is_finite(x) ? double(x) : 0.0;
    });
    gram<double>(g, {Xd, g.cols, g.per}, gram_of_X);
    eigendecompose(p);
    // K = V f(lambda) V^T; V's columns (eigenvectors, lambda ascending) are column-major in gram.
    T* K = gram_work_.data();
    const bool exact = c_.op.orth.kind == OrthKind::exact;
    const double eps = c_.op.orth.smooth_eps, cut = double(polar_rank_cut<T>());
    x_.for_each_element(S_, int(pp), [=] SPECSWEEP_HD(long s, int ij) {
      const int i = ij / p, j = ij % p;
      const double* V = gram_of_X + s * pp;
      const double* lam = lambda + s * p;
      const double smax = sqrt(fmax(lam[p - 1], 0.0));
      double acc = 0;
      for (int e = 0; e < p; ++e) {
        const double sigma2 = fmax(lam[e], 0.0);
        const double w = exact ? (sqrt(sigma2) > cut * smax ? 1.0 / sqrt(sigma2) : 0.0)
                               : 1.0 / sqrt(sigma2 + eps);
        acc += V[e * p + i] * w * V[e * p + j];
      }
      K[s * pp + ij] = T(acc);
    });
    act(g, l.batch(X), K, T(0), l.batch(f.D.data()));
  }

  // Eigenvalues (ascending) into eigenvalues_ and eigenvectors over gram_, for all seeds.
  SPECSWEEP_HD_EXEC void eigendecompose(int p) {
    x_.eigh(p, S_, gram_.data(), eigenvalues_.data(), eigen_work_.data());
  }

  SPECSWEEP_HD_EXEC void newton_schulz(int k, const T* X) {
    FactorBuffers<T, Exec>& f = factor_[k];
    const FactorLayout l = f.layout;
    const GramSide g(l);
    const int p = g.p;
    const long pp = g.pp;
    const int per = g.per;
    const NsSchedule& ns = c_.op.orth.ns;
    // Y = X / (scale ||X||_F), zero stays zero (orthogonalize.hpp).
    T* n2 = seed_norm2();
    x_.sum_per_seed(
        S_, per,
        [=] SPECSWEEP_HD(long s, int e) {
          const T x = X[l.at(s, e)];
          return x * x;
        },
        n2);
    T *Y = f.Y.data(), *Z = f.Z.data();
    const T norm_scale = T(ns.norm_scale);
    // A diverged seed iterates on zero (its direction is unused), not on NaN or Inf.
    const T* alive_of = alive();
    x_.for_each_element(S_, per, [=] SPECSWEEP_HD(long s, int e) {
      const T norm = sqrt(n2[s]) * norm_scale;
      const T inv = norm > T(0) && is_finite(norm) && alive_of[s] > T(0.5) ? T(1) / norm : T(0);
      Y[l.at(s, e)] = inv != T(0) ? X[l.at(s, e)] * inv : T(0);  // 0 * NaN would be NaN
    });
    T *A = gram_work_.data(), *A2 = A + S_ * pp, *P = A2 + S_ * pp;
    for (int it = 0; it < ns.iterations; ++it) {
      const NsTriple& triple = ns.at(it);
      const T a = T(triple.a), b = T(triple.b), c = T(triple.c);
      gram<T>(g, l.batch(Y), A);
      gemm<T>(x_, false, false, p, p, p, T(1), {A, p, pp}, {A, p, pp}, T(0), {A2, p, pp}, int(S_));
      x_.for_each(S_ * pp, [=] SPECSWEEP_HD(long i) { P[i] = b * A[i] + c * A2[i]; });
      // Z = a Y + Y P (tall) or a Y + P Y (wide), then Y <- Z.
      x_.for_each_element(S_, per,
                          [=] SPECSWEEP_HD(long s, int e) { Z[l.at(s, e)] = Y[l.at(s, e)]; });
      act(g, l.batch(Y), P, a, l.batch(Z));
      Buffer<T> next = static_cast<Buffer<T>&&>(f.Z);
      f.Z = static_cast<Buffer<T>&&>(f.Y);
      f.Y = static_cast<Buffer<T>&&>(next);
      Y = f.Y.data();
      Z = f.Z.data();
    }
    T* D = f.D.data();
    x_.for_each_element(S_, per,
                        [=] SPECSWEEP_HD(long s, int e) { D[l.at(s, e)] = Y[l.at(s, e)]; });
  }

  // F <- F - eta D for live seeds; a diverged seed stays frozen (trajectory.hpp's apply).
  SPECSWEEP_HD_EXEC void apply(int k, T eta) {
    FactorBuffers<T, Exec>& f = factor_[k];
    const FactorLayout l = f.layout;
    T* F = f.F.data();
    const T* D = c_.op.kind == OptimizerKind::gd ? f.G.data() : f.D.data();
    const T* alive_of = alive();
    x_.for_each_element(S_, l.per_seed(), [=] SPECSWEEP_HD(long s, int e) {
      const long at = l.at(s, e);
      if (alive_of[s] > T(0.5)) F[at] = F[at] - eta * D[at];
    });
  }

  // The final gradient norm, the final loss from the explicit residual, the traced final factors.
  SPECSWEEP_HD_EXEC void finish() {
    const FactorCopy gradients{factor_[0].layout, factor_[1].layout, factor_[0].G.data(),
                               factor_[1].G.data(), sh_};
    T* g2 = seed_norm2();
    x_.sum_per_seed(
        S_, c_.layout.params,
        [=] SPECSWEEP_HD(long s, int e) {
          const T g = gradients(s, e);
          return g * g;
        },
        g2);
    const CellParams<T> c = c_;
    const SeedTask<T> task = task_;
    const FactorCopy factors = factor_copy();
    const int aw = batched_arena_width(c), ow = OutcomeSlots{c.target.modes}.width();
    x_.for_each(S_, [=] SPECSWEEP_HD(long s) {
      const Shape& sh = c.shape;
      const int params = c.layout.params;
      WarpArray<T> arena = seed_row(task.arena, s, aw);
      factors.to_arena(s, arena);
      const OutcomeSlots slots{c.target.modes};
      WarpArray<T> outcome = seed_row(task.outcome, s, ow);
      outcome[slots.final_grad_norm()] = sqrt(g2[s]);
      const auto residual =
          residual_measures(sh, c.target, T(c.rp.l2), arena, arena + sh.m * sh.r, arena + params);
      outcome[slots.final_loss()] = residual.loss;
      outcome[slots.recovery_error()] = residual.recovery_error;
      if (const long row = traced_row(task, s); row >= 0)
        for (int e = 0; e < params; ++e) task.final_factors[row * params + e] = arena[e];
    });
  }

  Exec& x_;
  const CellParams<T> c_;
  const SeedTask<T> task_;
  const int* record_steps_;
  const T* M_;  // the target, where the executor keeps it
  const Shape sh_;
  const long S_;
  FactorBuffers<T, Exec> factor_[2];
  Buffer<T> grams_, core_left_, core_right_, diag_, scalars_, gram_work_;
  Buffer<double> gradient_fp64_, gram_, eigenvalues_, eigen_work_;
  // Buffered record steps: rows laid out as the arena (factors, record_metrics' workspace, the
  // metrics), interleaved by warp.
  Buffer<T> record_rows_;
  int records_per_flush_ = 0, buffered_records_ = 0, first_buffered_record_ = 0;
};

// Runs the task's seeds (all of one cell) to the end, writing the task's arrays as the fused
// strategy does: outcomes, traces and the traced seeds' initial and final factors.
SPECSWEEP_EXEC_CHECK_OFF
template <class T, class Exec>
SPECSWEEP_HD void run_batched(Exec& exec, const CellParams<T>& c, const SeedTask<T>& task,
                              const int* record_steps) {
  BatchedSteps<T, Exec>(exec, c, task, record_steps).run();
}

}  // namespace specsweep::strategy
