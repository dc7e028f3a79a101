#pragma once
// The library calls of the lockstep steps (batched.hpp), computed without the libraries: one
// output element of a strided-batched GEMM with cuBLAS's semantics, and the symmetric
// eigendecomposition of one small matrix with cuSOLVER's conventions. The executors that have no
// cuBLAS or cuSOLVER use them: the block strategy on the GPU (one element per thread, one matrix
// per warp) and the test executor on the CPU (every element, and every phase's items, in a
// shuffled order), so the arithmetic the block strategy runs is the arithmetic the CPU suite
// checks.
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

// The columns paired in round `round` of a round-robin tournament of `players` (even) columns
// (the circle method: the last player stays, the others turn one place per round): pair `pair`
// of that round is (i, j), i < j. The players - 1 rounds pair every two columns exactly once, and
// the pairs of a round are disjoint.
SPECSWEEP_HD inline void tournament_pair(int players, int round, int pair, int& i, int& j) {
  const int turning = players - 1;
  int a, b;
  if (pair == 0) {
    a = turning;
    b = round;
  } else {
    a = (round + pair) % turning;
    b = (round - pair + turning) % turning;
  }
  i = a < b ? a : b;
  j = a < b ? b : a;
}

// (x, y) <- (c x - s y, s x + c y): a plane rotation of two entries.
SPECSWEEP_HD inline void rotate(double& x, double& y, double c, double s) {
  const double x0 = x;
  x = c * x0 - s * y;
  y = s * x0 + c * y;
}

// Doubles of scratch jacobi_eigh needs beside A and w: V (p x p), a cosine and a sine per pair of
// a round, and the sweep's verdict.
SPECSWEEP_HD inline int jacobi_work_size(int p) {
  return p * p + (p + p % 2) + 1;
}

// The symmetric eigendecomposition of one small matrix, with cuSOLVER's conventions: A (p x p,
// symmetric) in; eigenvalues ascending into w, eigenvectors over A's columns (column-major) out.
// Jacobi's method in parallel order, so that a group of workers shares one matrix: each round
// rotates a set of disjoint column pairs, whose rotations commute and are applied all at once
// (columns of A and V, then rows of A), and the p + p % 2 - 1 rounds of a sweep rotate every pair
// once, as a sweep of the cyclic order does (the convergence is as fast). A sweep starts only if
// the off-diagonal mass is above 1e-30 of the whole (below it the rotations change nothing at
// double precision), 30 at most (quadratic convergence needs fewer than 10 for the p this
// serves).
// for_all(count, f) calls f(i) for every i < count, spread over the workers, and returns when all
// are done and each sees what the others wrote. Every worker runs this function on the same
// arguments, so every branch below is taken alike by all. work: jacobi_work_size(p) doubles.
SPECSWEEP_EXEC_CHECK_OFF
template <class ForAll>
SPECSWEEP_HD void jacobi_eigh(int p, double* A, double* w, double* work, ForAll&& for_all) {
  const int players = p + p % 2, pairs = players / 2;
  double *V = work, *rotation = work + p * p, *go_on = rotation + players;
  for_all(p * p, [=](int ij) { V[ij] = ij / p == ij % p ? 1.0 : 0.0; });
  for (int sweep = 0; sweep < 30; ++sweep) {
    for_all(1, [=](int) {
      double off = 0, all = 0;
      for (int ij = 0; ij < p * p; ++ij) {
        const double a2 = A[ij] * A[ij];
        all += a2;
        if (ij / p != ij % p) off += a2;
      }
      *go_on = off > 1e-30 * all ? 1.0 : 0.0;  // 0 on NaN too, which no rotation would mend
    });
    if (!(*go_on > 0)) break;
    for (int round = 0; round < players - 1; ++round) {
      for_all(pairs, [=](int pair) {
        int i, j;
        tournament_pair(players, round, pair, i, j);
        double c = 1, s = 0;  // the identity for a pair with the padding column, or nothing to do
        if (j < p && A[i * p + j] != 0) {
          const double theta = (A[j * p + j] - A[i * p + i]) / (2 * A[i * p + j]);
          const double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
          c = 1 / sqrt(t * t + 1);
          s = t * c;
        }
        rotation[2 * pair] = c;
        rotation[2 * pair + 1] = s;
      });
      // The rotation of an update phase's item (p items per pair: k is the row or column it
      // updates); false for a pair with the padding column.
      auto rotation_of = [=](int item, int& i, int& j, int& k, double& c, double& s) {
        const int pair = item / p;
        k = item % p;
        tournament_pair(players, round, pair, i, j);
        c = rotation[2 * pair];
        s = rotation[2 * pair + 1];
        return j < p;
      };
      for_all(pairs * p, [=](int item) {  // columns i, j of A and V, row k
        int i, j, k;
        double c, s;
        if (!rotation_of(item, i, j, k, c, s)) return;
        rotate(A[k * p + i], A[k * p + j], c, s);
        rotate(V[k * p + i], V[k * p + j], c, s);
      });
      for_all(pairs * p, [=](int item) {  // rows i, j of A, column k
        int i, j, k;
        double c, s;
        if (!rotation_of(item, i, j, k, c, s)) return;
        rotate(A[i * p + k], A[j * p + k], c, s);
      });
    }
  }
  // Ascending order, moving V's columns along (a selection sort by one worker: p is small).
  for_all(1, [=](int) {
    for (int i = 0; i < p; ++i) w[i] = A[i * p + i];
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
  });
  // Eigenvector e (column e of V) into column e of A, column-major: A[e p + i].
  for_all(p * p, [=](int ei) { A[ei] = V[(ei % p) * p + ei / p]; });
}

}  // namespace specsweep::strategy
