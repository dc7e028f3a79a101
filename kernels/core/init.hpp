#pragma once
// Initial factors (DESIGN section 2), computed per seed in double from the seed's Philox stream,
// so every backend starts from the same point up to the final rounding to its precision.
#include "linalg.hpp"
#include "random.hpp"

namespace specsweep {

enum class InitKind { zero, gaussian, orthogonal, spectral };

struct FactorInit {
  InitKind kind = InitKind::gaussian;
  double scale = 0;  // alpha, already divided by sqrt(max(rows, cols)) in fan mode
};

// Basis for spectral initialization: the target's leading singular vectors, at least r of them
// (U: m x r, Vb: n x r, row-major).
struct SpectralBasis {
  const double* U = nullptr;
  const double* Vb = nullptr;
};

// Scratch (doubles) for init_factor on a rows x cols factor.
SPECSWEEP_HD constexpr int init_factor_workspace(int rows, int cols) {
  return 3 * rows * cols + (rows < cols ? rows : cols) * (rows < cols ? rows : cols) + rows + cols;
}

// Writes factor k (rows x cols, row-major, double) for one seed. stream is the seed's init stream
// for this factor; out and work are handles to doubles (see LaneOf).
template <class P>
SPECSWEEP_HD void init_factor(const FactorInit& fi, int k, int depth, int rows, int cols, const RandomStream& stream,
                              const SpectralBasis& basis, P out, P work) {
  const int count = rows * cols;
  const double a = fi.scale;
  switch (fi.kind) {
    case InitKind::zero:
      for (int i = 0; i < count; ++i) out[i] = 0.0;
      return;
    case InitKind::gaussian:
      for (int i = 0; i < count; ++i) out[i] = a * stream.normal(static_cast<std::uint64_t>(i));
      return;
    case InitKind::orthogonal: {
      // Q of the QR of a Gaussian, columns signed so that diag(R) > 0 (Haar distributed).
      const bool tall = rows >= cols;
      const int big = tall ? rows : cols, p = tall ? cols : rows;
      P g = work;
      P q = g + count;
      P rr = q + count;
      P tau = rr + p * p;
      for (int i = 0; i < count; ++i) g[i] = stream.normal(static_cast<std::uint64_t>(i));
      householder_qr(big, p, g, q, rr, tau);
      for (int j = 0; j < p; ++j) {
        const double sgn = rr[j * p + j] < 0.0 ? -a : a;
        for (int i = 0; i < big; ++i) {
          if (tall) out[i * cols + j] = sgn * q[i * p + j];
          else out[j * cols + i] = sgn * q[i * p + j];
        }
      }
      return;
    }
    case InitKind::spectral: {
      // F_1 = a U_r, middle factors a I, F_L = a V_r^T: W = a^L U_r V_r^T, aligned with M.
      for (int i = 0; i < rows; ++i) {
        for (int j = 0; j < cols; ++j) {
          double v;
          if (k == 0) v = basis.U[i * cols + j];
          else if (k == depth - 1) v = basis.Vb[j * rows + i];
          else v = i == j ? 1.0 : 0.0;
          out[i * cols + j] = a * v;
        }
      }
      return;
    }
  }
}

}  // namespace specsweep
