#pragma once
// The library calls of the lockstep steps (batched.hpp), computed without the libraries: one
// output element of a strided-batched GEMM with cuBLAS's semantics, and the symmetric
// eigendecomposition of one small matrix with cuSOLVER's conventions. The executors that have no
// cuBLAS or cuSOLVER use them: the block strategy on the GPU (one element, or one matrix, per
// thread) and the test executor on the CPU (all of them, in a shuffled order), so the arithmetic
// the block strategy runs is the arithmetic the CPU suite checks.
#include <cmath>

#include "core/hd.hpp"

namespace specsweep::strategy {

// Element `index` of C_b = alpha op(A_b) op(B_b) + beta C_b (column-major, as
// cublas<t>gemmStridedBatched; op(A) is m x k, stored k x m when transposed), counting the
// elements of each C_b column-major and the matrices one after another. C is not read when
// beta = 0. Index: int where the elements are few (a thread block's GEMMs), so that the divisions
// are 32-bit ones, long elsewhere.
template <class U, class Index>
SPECSWEEP_HD void gemm_cm_element(Index index, bool ta, bool tb, int m, int n, int k, U alpha,
                                  const U* A, long lda, long sa, const U* B, long ldb, long sb,
                                  U beta, U* C, long ldc, long sc) {
  const Index per_matrix = Index(m) * n, b = index / per_matrix;
  const int within = int(index - b * per_matrix), i = within % m, j = within / m;
  const U *a = A + b * sa, *bm = B + b * sb;
  U acc = U(0);
  for (int p = 0; p < k; ++p)
    acc += (ta ? a[p + i * lda] : a[i + p * lda]) * (tb ? bm[j + p * ldb] : bm[p + j * ldb]);
  U& c = C[b * sc + i + j * ldc];
  c = alpha * acc + (beta == U(0) ? U(0) : beta * c);
}

// A (p x p, symmetric) in, eigenvectors out; V: p x p scratch. Sweeps stop when the off-diagonal
// mass is below 1e-30 of the whole (the rotations then change nothing at double precision), or
// after 30 sweeps (quadratic convergence needs fewer than 10 for any p this is used for).
SPECSWEEP_HD inline void jacobi_eigh(int p, double* A, double* w, double* V) {
  for (int i = 0; i < p * p; ++i) V[i] = 0;
  for (int i = 0; i < p; ++i) V[i * p + i] = 1;
  for (int sweep = 0; sweep < 30; ++sweep) {
    double off = 0, all = 0;
    for (int i = 0; i < p; ++i)
      for (int j = 0; j < p; ++j) {
        const double a2 = A[i * p + j] * A[i * p + j];
        all += a2;
        if (i != j) off += a2;
      }
    if (!(off > 1e-30 * all)) break;  // also stops on NaN, which no rotation would mend
    for (int i = 0; i < p - 1; ++i)
      for (int j = i + 1; j < p; ++j) {
        if (A[i * p + j] == 0) continue;
        const double theta = (A[j * p + j] - A[i * p + i]) / (2 * A[i * p + j]);
        const double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
        const double c = 1 / sqrt(t * t + 1), s = t * c;
        for (int k = 0; k < p; ++k) {  // columns i, j of A and V
          const double aki = A[k * p + i], akj = A[k * p + j];
          A[k * p + i] = c * aki - s * akj;
          A[k * p + j] = s * aki + c * akj;
          const double vki = V[k * p + i], vkj = V[k * p + j];
          V[k * p + i] = c * vki - s * vkj;
          V[k * p + j] = s * vki + c * vkj;
        }
        for (int k = 0; k < p; ++k) {  // rows i, j of A
          const double aik = A[i * p + k], ajk = A[j * p + k];
          A[i * p + k] = c * aik - s * ajk;
          A[j * p + k] = s * aik + c * ajk;
        }
      }
  }
  for (int i = 0; i < p; ++i) w[i] = A[i * p + i];
  // Ascending order, moving V's columns along (selection sort: p is small).
  for (int e = 0; e < p; ++e) {
    int low = e;
    for (int i = e + 1; i < p; ++i)
      if (w[i] < w[low]) low = i;
    if (low == e) continue;
    const double we = w[e];
    w[e] = w[low];
    w[low] = we;
    for (int k = 0; k < p; ++k) {
      const double v = V[k * p + e];
      V[k * p + e] = V[k * p + low];
      V[k * p + low] = v;
    }
  }
  // Eigenvector e (column e of V) into column e of A, column-major: A[e p + i].
  for (int e = 0; e < p; ++e)
    for (int i = 0; i < p; ++i) A[e * p + i] = V[i * p + e];
}

}  // namespace specsweep::strategy
