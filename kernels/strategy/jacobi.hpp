#pragma once
// The symmetric eigendecomposition of one small matrix by cyclic two-sided Jacobi rotations, with
// cusolverDnXsyevBatched's conventions: eigenvalues ascending into w, the eigenvectors over A's
// columns (column-major). The executors of the lockstep steps (batched.hpp) that have no cuSOLVER
// use it: the block strategy on the GPU, one thread per matrix, and the test executor on the CPU.
#include <cmath>

#include "core/hd.hpp"

namespace specsweep::strategy {

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
