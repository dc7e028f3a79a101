#pragma once
// The FLOP model of one optimizer step (documented in bench/FLOP_MODEL.md): the useful
// floating-point operations a straightforward dense implementation performs, counting a
// multiply-add as 2. It does not depend on how a backend schedules them.
#include "core/factorization.hpp"
#include "core/optimizer.hpp"

namespace specsweep {

// orth(G) for a rows x cols G, p = min, q = max.
inline double orth_flops(const OptimizerParams& op, int rows, int cols) {
  const double p = rows < cols ? rows : cols, q = rows < cols ? cols : rows;
  switch (op.orth.kind) {
    case OrthKind::newton_schulz:
      // per iteration: Gram 2qp^2, A^2 2p^3, X (bA + cA^2) 2qp^2, axpy 2qp.
      return op.orth.ns.iterations * (4 * q * p * p + 2 * p * p * p + 2 * q * p);
    case OrthKind::exact:
    case OrthKind::smooth:
      // Householder QR 2qp^2 - 2p^3/3, forming Q the same, U = Q Ur and U V^T 2qp^2 each.
      return 2 * (2 * q * p * p - 2 * p * p * p / 3) + 4 * q * p * p;
  }
  return 0;
}

// One step at depth L: the gradient and loss by the Gram form (DESIGN section 2), the core
// diagonal for the hitting times (modes q), and the optimizer's own work.
inline double step_flops(const Shape& sh, const OptimizerParams& op, int modes) {
  const double m = sh.m, n = sh.n, r = sh.r, L = sh.depth, q = modes;
  double f = 0;
  if (sh.symmetric) {
    f += 2 * 2 * n * n * r;  // X X^T and D X (the residual form, always)
  } else {
    f += L * 2 * m * n * r;                                // one product with M per factor
    f += 2 * r * r * (m + n) * 2 + 2 * m * r * 2;          // Grams, F1 S0, S0 FL, loss dots
    f += (L - 2) * (2 * r * r * (n + m) + 6 * r * r * r);  // partial products and middle gradients
  }
  if (sh.weighted) f += 2 * m * n * (m + n);  // A (W - M) B: icl's weighted residual
  f += 2 * q * r * (m + n);                   // U^T F1 and R2 V for d_i
  for (int k = 0; k < sh.depth; ++k) {
    const double size = sh.size(k);
    switch (op.kind) {
      case OptimizerKind::gd:
        f += 2 * size;
        break;
      case OptimizerKind::specgd:
        f += orth_flops(op, sh.rows(k), sh.cols(k)) + 2 * size;
        break;
      case OptimizerKind::muon:
        f += orth_flops(op, sh.rows(k), sh.cols(k)) + 6 * size;
        break;
      case OptimizerKind::adam:
        f += 12 * size;
        break;
    }
  }
  return op.integrator == Integrator::rk4 ? 4 * f : f;
}

// One Hessian-vector product (kernels/core/sharpness.hpp): W and dW, then per factor the products
// with E and dE on both sides; the prefix and suffix products and their derivatives at depth > 2.
inline double hessian_vector_flops(const Shape& sh) {
  const double m = sh.m, n = sh.n, r = sh.r, L = sh.depth;
  double f = sh.symmetric ? 2 * n * n * r * 4
                          : 2 * m * n * r * (3 * L + 1) + (L - 2) * 2 * r * r * (m + n) * 3;
  if (sh.weighted) f += 2 * 2 * m * n * (m + n);
  return f;
}

}  // namespace specsweep
