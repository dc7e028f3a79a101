#pragma once
// Small dense linear algebra for one seed (or one pack of seeds): row-major matrices of lane values
// V, with an optional operand of plain scalars (the target M, shared by every seed of a cell).
// Everything is branch-free in the data (see lanes.hpp), so the same code runs on a GPU thread and
// across SIMD lanes. Matrices are passed as array handles (P, PA, ...: a V* or an interleaved
// view, see LaneOf), indexed with [] and offset with +.
#include "lanes.hpp"

namespace specsweep {

// C (m x n) = sum_p A(i, p) B(p, j) with A(i, p) = A[i * a_row + p * a_depth] and
// B(p, j) = B[p * b_depth + j * b_col]: the three GEMM forms below share this kernel.
// Accumulators are register-blocked (BI x BJ independent FMA chains) so the loop is bound by
// FMA throughput, not latency.
// With resume, the sums continue from what C holds (the previous depth block's partial sums):
// the same FMA chain in the same order as one unblocked pass, so blocking changes no bit.
template <int BI, int BJ, class PC, class PA, class PB>
SPECSWEEP_HD void gemm_tile(int i0, int j0, int k, PA A, int a_row, int a_depth, PB B, int b_depth, int b_col, PC C,
                            int ldc, bool resume) {
  using VC = LaneOf<PC>;
  using VA = LaneOf<PA>;
  using VB = LaneOf<PB>;
  VC acc[BI][BJ];
  for (int ii = 0; ii < BI; ++ii)
    for (int jj = 0; jj < BJ; ++jj) acc[ii][jj] = resume ? C[static_cast<long>(i0 + ii) * ldc + j0 + jj] : VC(0);
  // Walking pointers rather than p * stride products keeps the index arithmetic overflow-free.
  auto a_p = A + static_cast<long>(i0) * a_row;
  auto b_p = B + static_cast<long>(j0) * b_col;
  for (int p = 0; p < k; ++p, a_p += a_depth, b_p += b_depth) {
    VA a[BI];
    VB b[BJ];
    for (int ii = 0; ii < BI; ++ii) a[ii] = a_p[ii * a_row];
    for (int jj = 0; jj < BJ; ++jj) b[jj] = b_p[jj * b_col];
    for (int ii = 0; ii < BI; ++ii)
      for (int jj = 0; jj < BJ; ++jj) acc[ii][jj] += a[ii] * b[jj];
  }
  for (int ii = 0; ii < BI; ++ii)
    for (int jj = 0; jj < BJ; ++jj) C[static_cast<long>(i0 + ii) * ldc + j0 + jj] = acc[ii][jj];
}

// Runs gemm_tile over rows [i_begin, m) in blocks of BI for columns [j0, j0 + BJ).
template <int BI, int BJ, class PC, class PA, class PB>
SPECSWEEP_HD int gemm_rows(int i_begin, int m, int j0, int k, PA A, int a_row, int a_depth, PB B, int b_depth,
                           int b_col, PC C, int ldc, bool resume) {
  int i = i_begin;
  for (; i + BI <= m; i += BI) gemm_tile<BI, BJ>(i, j0, k, A, a_row, a_depth, B, b_depth, b_col, C, ldc, resume);
  return i;
}

// Cache blocking, in bytes. A lane value of a 16-lane fp32 or 8-lane fp64 pack is 64 bytes, so a
// 128 x 512 operand is 4 MiB: unblocked, the rows of A streamed once per 4-column tile of C from
// L3, and the factor products of a 128 x 512 Muon step ran at 5% of the FMA peak. A depth block
// keeps a tile's B panel (depth x 4 values) within half of a 48 KiB L1 and a row block of A
// (rows x depth) within a 2 MiB L2, so A is read from L3 once per depth block.
inline constexpr long kGemmPanelBytes = 24 * 1024;
inline constexpr long kGemmBlockBytes = 768 * 1024;

template <class PC, class PA, class PB>
SPECSWEEP_HD void gemm_strided(int m, int n, int k, PA A, int a_row, int a_depth, PB B, int b_depth, int b_col,
                               PC C) {
  const long panel = kGemmPanelBytes / (4 * static_cast<long>(sizeof(LaneOf<PB>)));
  const int depth_block = static_cast<int>(panel < 8 ? 8 : panel);
  const long rows = kGemmBlockBytes / (depth_block * static_cast<long>(sizeof(LaneOf<PA>)));
  const int row_block = static_cast<int>(rows < 8 ? 8 : rows) & ~7;
  for (int p0 = 0; p0 < k; p0 += depth_block) {
    const int kb = k - p0 < depth_block ? k - p0 : depth_block;
    const bool resume = p0 > 0;
    const auto Ab = A + static_cast<long>(p0) * a_depth;
    const auto Bb = B + static_cast<long>(p0) * b_depth;
    for (int i0 = 0; i0 < m; i0 += row_block) {
      const int i1 = m - i0 < row_block ? m : i0 + row_block;
      int j = 0;
      for (; j + 4 <= n; j += 4) {
        int i = gemm_rows<2, 4>(i0, i1, j, kb, Ab, a_row, a_depth, Bb, b_depth, b_col, C, n, resume);
        gemm_rows<1, 4>(i, i1, j, kb, Ab, a_row, a_depth, Bb, b_depth, b_col, C, n, resume);
      }
      // Leftover columns one at a time, with tall row blocks to keep enough chains in flight.
      for (; j < n; ++j) {
        int i = gemm_rows<8, 1>(i0, i1, j, kb, Ab, a_row, a_depth, Bb, b_depth, b_col, C, n, resume);
        gemm_rows<1, 1>(i, i1, j, kb, Ab, a_row, a_depth, Bb, b_depth, b_col, C, n, resume);
      }
    }
  }
}

// C (m x n) = A (m x k) * B (k x n).
template <class PC, class PA, class PB>
SPECSWEEP_HD void gemm_nn(int m, int n, int k, PA A, PB B, PC C) {
  gemm_strided(m, n, k, A, k, 1, B, n, 1, C);
}

// C (m x n) = A^T * B, A (k x m), B (k x n).
template <class PC, class PA, class PB>
SPECSWEEP_HD void gemm_tn(int m, int n, int k, PA A, PB B, PC C) {
  gemm_strided(m, n, k, A, 1, m, B, n, 1, C);
}

// C (m x n) = A * B^T, A (m x k), B (n x k).
template <class PC, class PA, class PB>
SPECSWEEP_HD void gemm_nt(int m, int n, int k, PA A, PB B, PC C) {
  gemm_strided(m, n, k, A, k, 1, B, 1, k, C);
}

// G (cols x cols) = A^T A for A (rows x cols).
template <class PG, class PA>
SPECSWEEP_HD void gram_tn(int rows, int cols, PA A, PG G) {
  gemm_tn(cols, cols, rows, A, A, G);
}

// G (rows x rows) = A A^T for A (rows x cols).
template <class PG, class PA>
SPECSWEEP_HD void gram_nt(int rows, int cols, PA A, PG G) {
  gemm_nt(rows, rows, cols, A, A, G);
}

template <class PA, class PT>
SPECSWEEP_HD void transpose(int rows, int cols, PA A, PT At) {
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) At[j * rows + i] = A[i * cols + j];
}

template <class PA, class PB>
SPECSWEEP_HD void copy(int count, PA a, PB b) {
  for (int i = 0; i < count; ++i) b[i] = a[i];
}

template <class PA, class PB>
SPECSWEEP_HD LaneOf<PA> dot(int count, PA a, PB b) {
  using V = LaneOf<PA>;
  V acc = V(0);
  for (int i = 0; i < count; ++i) acc += a[i] * b[i];
  return acc;
}

template <class P>
SPECSWEEP_HD LaneOf<P> frob2(int count, P a) {
  return dot(count, a, a);
}

// The machine epsilon of the lane's scalar type.
template <class V>
SPECSWEEP_HD constexpr ScalarOf<V> epsilon_of() {
  return std::numeric_limits<ScalarOf<V>>::epsilon();
}

// Applies H = I - tau v v^T, v = column j of A from row j down, to columns j+1.. of X (rows x cols,
// rows j.. only). Row by row rather than column by column: a column of a 64-byte-lane matrix walks
// with a stride of cols * 64 bytes, which took each reflector through L3 once per column. The
// sums run over i in the same order as a column walk would (the same bits). w (indices j+1..cols-1)
// receives tau v^T X.
template <class PA, class PX, class PW, class V>
SPECSWEEP_HD void reflect_trailing(int rows, int cols, int j, V tau, PA A, PX X, PW w) {
  for (int c = j + 1; c < cols; ++c) w[c] = V(0);
  int i = j;
  for (; i + 4 <= rows; i += 4) {  // four rows per pass over w: a quarter of the stores to w
    const V v0 = A[i * cols + j], v1 = A[(i + 1) * cols + j];
    const V v2 = A[(i + 2) * cols + j], v3 = A[(i + 3) * cols + j];
    for (int c = j + 1; c < cols; ++c) {
      V acc = w[c];
      acc += v0 * X[i * cols + c];
      acc += v1 * X[(i + 1) * cols + c];
      acc += v2 * X[(i + 2) * cols + c];
      acc += v3 * X[(i + 3) * cols + c];
      w[c] = acc;
    }
  }
  for (; i < rows; ++i) {
    const V v = A[i * cols + j];
    for (int c = j + 1; c < cols; ++c) w[c] += v * X[i * cols + c];
  }
  for (int c = j + 1; c < cols; ++c) w[c] *= tau;
  for (i = j; i < rows; ++i) {
    const V v = A[i * cols + j];
    for (int c = j + 1; c < cols; ++c) X[i * cols + c] -= w[c] * v;
  }
}

// Thin Householder QR of a tall A (rows x cols, rows >= cols): A = Q R with Q (rows x cols)
// orthonormal columns, R (cols x cols) upper triangular. A is destroyed (it holds the reflectors).
// Columns that are zero give a zero row in R and still an orthonormal Q column, so rank-deficient
// inputs are exact. tau holds cols scratch values.
template <class PA, class PQ, class PR, class PT>
SPECSWEEP_HD void householder_qr(int rows, int cols, PA A, PQ Q, PR R, PT tau) {
  using V = LaneOf<PA>;
  using T = ScalarOf<V>;
  for (int j = 0; j < cols; ++j) {
    V norm2 = V(0);
    for (int i = j; i < rows; ++i) norm2 += A[i * cols + j] * A[i * cols + j];
    const V x0 = A[j * cols + j];
    const V norm = vsqrt(norm2);
    // alpha = -sign(x0) ||x||, so v0 = x0 - alpha never cancels.
    const V alpha = select(x0 < V(T(0)), norm, -norm);
    const V v0 = x0 - alpha;
    // v = x - alpha e1; H = I - tau v v^T with tau = 2 / v^T v = -1 / (alpha v0).
    const V vtv = norm2 - x0 * x0 + v0 * v0;
    const auto nonzero = vtv > V(T(0));
    const V safe_vtv = select(nonzero, vtv, V(T(1)));
    tau[j] = select(nonzero, V(T(2)) / safe_vtv, V(T(0)));
    A[j * cols + j] = v0;
    // Row j of R is not written yet: it holds tau v^T A for the trailing columns.
    reflect_trailing(rows, cols, j, tau[j], A, A, R + j * cols);
    for (int c = 0; c < cols; ++c) {
      R[j * cols + c] = c < j ? V(T(0)) : (c == j ? select(nonzero, alpha, V(T(0))) : A[j * cols + c]);
    }
  }
  // Q = H_0 H_1 ... H_{cols-1} [I; 0], applied from the last reflector back. Before H_j, column j
  // of Q is e_j, so H_j makes it e_j - tau_j v_j v0_j (closed form). The strict upper triangle of
  // A's row 0 (copied to R) holds the trailing columns' tau v^T Q.
  for (int i = 0; i < rows * cols; ++i) Q[i] = V(T(0));
  for (int j = 0; j < cols; ++j) Q[j * cols + j] = V(T(1));
  for (int j = cols - 1; j >= 0; --j) {
    reflect_trailing(rows, cols, j, tau[j], A, Q, A);
    const V s = A[j * cols + j] * tau[j];
    for (int i = j; i < rows; ++i) Q[i * cols + j] -= s * A[i * cols + j];
  }
}

// Row stride for the p x p work matrices of the Jacobi SVD. The rotations stream through rows
// (contiguous), not columns: a column of a 16-lane pack at p = 32 walks with a 2 KiB stride through
// two L1 sets, which made p = 32 2.2x slower per FLOP than p = 31 or 33 before. An odd stride also
// keeps the rows of a pack off multiples of 4 KiB, where a rotation's stores to one row alias the
// loads from the other (4K aliasing); measured on a busy machine the padding alone changed little.
SPECSWEEP_HD constexpr int jacobi_stride(int p) { return p % 2 == 0 ? p + 1 : p; }

// L1 bytes jacobi_rows gives the rows of one block pair (half of a 48 KiB L1d).
inline constexpr long kJacobiBlockBytes = 24 * 1024;

// One-sided (Hestenes) Jacobi on the rows of a square B (p x p, row stride ld): plane rotations
// from the left make the rows mutually orthogonal, B_out = Z^T B_in with Z orthogonal, so
// B_in = Z B_out and the row norms of B_out are the singular values. With Accumulate, Zt (p x p,
// row stride ld) receives Z^T. Applied to the triangle R of a QR factorization this is Jacobi on
// the columns of R^T, the QR-preconditioned one-sided Jacobi of Drmac & Veselic, which needs
// fewer sweeps than Jacobi on the columns of R (6 against 8 for a Gaussian 32 x 32, 7 against 9
// at 64). Singular values come out with high relative accuracy (Demmel & Veselic).
// Rows are contiguous, so each rotation streams through memory; on the CPU a rotation is then
// bound by its two stores per element and row pair (measured: a form with half the FMAs, norms
// updated instead of recomputed and cosines folded into row scales, ran no faster).
// Rotations are skipped per lane once a pair is orthogonal to working precision, so a lane that
// has converged is left untouched by the sweeps its pack-mates still need: results are
// independent of the pack.
template <bool Accumulate, class PB, class PZ>
SPECSWEEP_HD void jacobi_rows(int p, int ld, PB B, PZ Zt, int max_sweeps = 40) {
  using V = LaneOf<PB>;
  using T = ScalarOf<V>;
  const T tol = epsilon_of<V>() * T(p);
  if (Accumulate) {
    for (int a = 0; a < p; ++a)
      for (int i = 0; i < p; ++i) Zt[a * ld + i] = V(T(a == i ? 1 : 0));
  }
  auto rotate_rows = [p](auto x, auto y, V c, V s) {
    for (int i = 0; i < p; ++i) {
      const V xi = x[i], yi = y[i];
      x[i] = c * xi - s * yi;
      y[i] = s * xi + c * yi;
    }
  };
  // Pairs in blocks of rows: all pairs of rows in blocks I and J (J >= I) before the next pair
  // of blocks, so that the 2 kb rows of B and Zt a block pair touches stay in L1 (a row of a
  // 16-lane fp32 pack at p = 32 is 2 KiB); kb = 1 is the row-cyclic order.
  const long row_bytes = static_cast<long>(p) * static_cast<long>(sizeof(V)) * (Accumulate ? 2 : 1);
  const long rows_in_l1 = kJacobiBlockBytes / (2 * row_bytes);
  const int kb = rows_in_l1 < 1 ? 1 : static_cast<int>(rows_in_l1);
  for (int sweep = 0; sweep < max_sweeps; ++sweep) {
    auto rotated = V(T(0)) > V(T(0));
    auto rotate_pair = [&](int a, int b) {
      const auto Ba = B + a * ld, Bb = B + b * ld;
      // Four partial sums each, so the dot products do not wait out the FMA latency at every
      // element. With the block order, 7-11% faster polar factors at p = 32...128 (fp32 and
      // fp64 packs). A round-robin order of disjoint pairs, four at a time, was 40-60% slower:
      // its pairs share no rows, so every rotation streamed four rows from L2.
      V al[4] = {V(0), V(0), V(0), V(0)}, be[4] = {V(0), V(0), V(0), V(0)}, ga[4] = {V(0), V(0), V(0), V(0)};
      int i = 0;
      for (; i + 4 <= p; i += 4) {
        for (int u = 0; u < 4; ++u) {
          const V x = Ba[i + u], y = Bb[i + u];
          al[u] += x * x;
          be[u] += y * y;
          ga[u] += x * y;
        }
      }
      for (int u = 0; i < p; ++i, ++u) {
        const V x = Ba[i], y = Bb[i];
        al[u] += x * x;
        be[u] += y * y;
        ga[u] += x * y;
      }
      const V alpha = (al[0] + al[1]) + (al[2] + al[3]);
      const V beta = (be[0] + be[1]) + (be[2] + be[3]);
      const V gamma = (ga[0] + ga[1]) + (ga[2] + ga[3]);
      const auto rotate = vabs(gamma) > tol * vsqrt(alpha) * vsqrt(beta);
      if (!any(rotate)) return;
      rotated = rotated | rotate;
      const V safe_gamma = select(rotate, gamma, V(T(1)));
      const V zeta = (beta - alpha) / (T(2) * safe_gamma);
      const V t_abs = T(1) / (vabs(zeta) + vsqrt(T(1) + zeta * zeta));
      const V t = select(zeta < V(T(0)), -t_abs, t_abs);
      const V c_rot = T(1) / vsqrt(T(1) + t * t);
      const V c = select(rotate, c_rot, V(T(1)));
      const V s = select(rotate, c_rot * t, V(T(0)));
      rotate_rows(Ba, Bb, c, s);
      if (Accumulate) rotate_rows(Zt + a * ld, Zt + b * ld, c, s);
    };
    for (int I = 0; I < p; I += kb) {
      const int I_end = I + kb < p ? I + kb : p;
      for (int J = I; J < p; J += kb) {
        const int J_end = J + kb < p ? J + kb : p;
        for (int a = I; a < I_end; ++a)
          for (int b = J == I ? a + 1 : J; b < J_end; ++b) rotate_pair(a, b);
      }
    }
    if (!any(rotated)) break;
  }
}

// Splits the rows of B (p x cols, row stride ld) into their norms sigma (p) and unit rows (in
// place). Zero rows give sigma = 0 and stay zero.
template <class PB, class PS>
SPECSWEEP_HD void normalize_rows(int p, int cols, int ld, PB B, PS sigma) {
  using V = LaneOf<PB>;
  using T = ScalarOf<V>;
  for (int j = 0; j < p; ++j) {
    const auto row = B + j * ld;
    V n2 = V(0);
    for (int i = 0; i < cols; ++i) n2 += row[i] * row[i];
    const V n = vsqrt(n2);
    const auto nonzero = n > V(T(0));
    const V inv = select(nonzero, T(1) / select(nonzero, n, V(T(1))), V(T(0)));
    for (int i = 0; i < cols; ++i) row[i] *= inv;
    sigma[j] = n;
  }
}

// Singular values (unsorted) of a square B (p x p, row stride ld), which is destroyed.
template <class PB, class PS>
SPECSWEEP_HD void singular_values(int p, int ld, PB B, PS sigma) {
  jacobi_rows<false>(p, ld, B, B);
  normalize_rows(p, p, ld, B, sigma);
}

// Sorts sigma descending in place (a branch-free exchange network, lane-wise).
template <class P>
SPECSWEEP_HD void sort_descending(int p, P sigma) {
  using V = LaneOf<P>;
  for (int pass = 0; pass < p; ++pass) {
    for (int j = pass & 1; j + 1 < p; j += 2) {
      const V a = sigma[j], b = sigma[j + 1];
      sigma[j] = vmax(a, b);
      sigma[j + 1] = vmin(a, b);
    }
  }
}

// Workspace, in lane values, that thin_svd needs for a rows x cols matrix.
SPECSWEEP_HD constexpr int thin_svd_workspace(int rows, int cols) {
  const int p = rows < cols ? rows : cols;
  const int big = rows > cols ? rows : cols;
  return big * p + 2 * p * jacobi_stride(p) + p;
}

// Thin SVD of any A (rows x cols), p = min(rows, cols): A = U diag(sigma) V^T with U (rows x p),
// V (cols x p), sigma unsorted. The tall one of A and A^T is factored by Householder QR, X = Q R,
// and the rows of R by one-sided Jacobi, R = Z diag(sigma) Uhat (jacobi_rows), so X = (Q Z)
// diag(sigma) Uhat. A is not modified. work: thin_svd_workspace values.
template <class PA, class P>
SPECSWEEP_HD void thin_svd(int rows, int cols, PA A, P U, P sigma, P Vt, P work) {
  const bool tall = rows >= cols;
  const int p = tall ? cols : rows;
  const int big = tall ? rows : cols;
  const int ld = jacobi_stride(p);
  P Acopy = work;            // big x p
  P R = Acopy + big * p;     // p x p, row stride ld
  P Zt = R + p * ld;         // p x p, row stride ld
  P tau = Zt + p * ld;       // p
  if (tall) copy(rows * cols, A, Acopy);
  else transpose(rows, cols, A, Acopy);
  // Left factor of the tall matrix (A or A^T) goes to Q.
  P Q = tall ? U : Vt;
  P other = tall ? Vt : U;
  householder_qr(big, p, Acopy, Q, Zt, tau);
  for (int j = 0; j < p; ++j)
    for (int c = 0; c < p; ++c) R[j * ld + c] = Zt[j * p + c];
  jacobi_rows<true>(p, ld, R, Zt);
  normalize_rows(p, p, ld, R, sigma);
  // Q Z (big x p) = Q Zt^T; the right factor of X is Uhat^T (p x p).
  gemm_strided(big, p, p, Q, p, 1, Zt, 1, ld, Acopy);
  copy(big * p, Acopy, Q);
  for (int i = 0; i < p; ++i)
    for (int j = 0; j < p; ++j) other[i * p + j] = R[j * ld + i];
}

}  // namespace specsweep
