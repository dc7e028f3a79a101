#pragma once
// Optimizers and learning-rate schedules (DESIGN section 2). Each optimizer is expressed as an
// update direction D, applied by the caller as F <- F - eta_t D, so that the step (and freezing a
// diverged seed) is written once.
#include "orthogonalize.hpp"

namespace specsweep {

enum class OptimizerKind { gd, specgd, muon, adam };
enum class ShapeScale { none, sqrt_ratio, rms };
// Muon's order of momentum and orthogonalization: pre_polar accumulates gradients and steps along
// the polar factor of the buffer (Jordan et al.'s Muon); post_polar accumulates the gradients'
// polar factors and steps along the buffer, so momentum averages directions of equal weight
// instead of filtering the gradient's spectrum.
enum class MomentumOrder { pre_polar, post_polar };
enum class Integrator { step, rk4 };
enum class ScheduleKind { constant, exponential, spike_geometric, cosine, piecewise };

inline constexpr int kMaxPieces = 32;

struct Schedule {
  ScheduleKind kind = ScheduleKind::constant;
  double lr = 0.01;
  double decay = 1.0;  // exponential: lr * decay^t
  double eta1 = 0.0;   // spike_geometric: lr at t = 0, eta1 at t = 1, then x factor per step
  double factor = 0.5;
  int warmup = 0;  // cosine: linear warmup steps, then cosine from lr down to min_lr
  double min_lr = 0.0;
  int total_steps = 1;
  int pieces = 0;  // piecewise: value[i] from step start[i] (start[0] = 0)
  int start[kMaxPieces] = {};
  double value[kMaxPieces] = {};

  SPECSWEEP_HD double rate(int t) const {
    switch (kind) {
      case ScheduleKind::constant:
        return lr;
      case ScheduleKind::exponential:
        return lr * pow(decay, double(t));
      case ScheduleKind::spike_geometric:
        return t == 0 ? lr : eta1 * pow(factor, double(t - 1));
      case ScheduleKind::cosine: {
        if (t < warmup) return lr * double(t + 1) / double(warmup);
        const int span = total_steps - warmup > 1 ? total_steps - warmup : 1;
        const double progress = double(t - warmup) / double(span);
        return min_lr + (lr - min_lr) * 0.5 * (1.0 + cos(3.14159265358979323846 * progress));
      }
      case ScheduleKind::piecewise: {
        int i = 0;
        while (i + 1 < pieces && start[i + 1] <= t) ++i;
        return value[i];
      }
    }
    return lr;
  }
};

struct OptimizerParams {
  OptimizerKind kind = OptimizerKind::specgd;
  OrthParams orth;
  double momentum = 0.95;
  bool nesterov = true;
  MomentumOrder momentum_order = MomentumOrder::pre_polar;
  ShapeScale shape_scale = ShapeScale::none;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  Integrator integrator = Integrator::step;
  Schedule schedule;
  // Gaussian noise added to every gradient before the update direction (add_gradient_noise):
  // entries N(0, gradient_noise^2), or with noise_relative N(0, (gradient_noise ||G_k||_F)^2 /
  // (rows cols)) per factor k, so that E ||noise||_F = gradient_noise ||G_k||_F.
  double gradient_noise = 0;
  bool noise_relative = false;

  // Optimizer state buffers per parameter (momentum: 1, adam: 2).
  SPECSWEEP_HD int state_buffers() const {
    return kind == OptimizerKind::muon ? 1 : kind == OptimizerKind::adam ? 2 : 0;
  }
};

SPECSWEEP_HD inline double shape_scale_factor(ShapeScale s, int rows, int cols) {
  switch (s) {
    case ShapeScale::none:
      return 1.0;
    case ShapeScale::sqrt_ratio:
      return sqrt(rows > cols ? double(rows) / double(cols) : 1.0);
    case ShapeScale::rms:
      return 0.2 * sqrt(double(rows > cols ? rows : cols));
  }
  return 1.0;
}

// An update_direction observer that looks at nothing.
struct NoOrthProbe {
  template <class PX, class PO>
  SPECSWEEP_HD void operator()(PX, PO) const {}
};

// Update direction D for one factor (rows x cols) at step t (0-based) from its gradient G.
// state1/state2 are that factor's optimizer buffers (zero at t = 0); work holds
// orthogonalize_workspace(rows, cols) + rows * cols values. probe(X, orth(X)) sees the input and
// output of the orthogonalizer (specgd, muon), before Muon's shape scale and post-polar momentum.
template <class PG, class P, class OrthProbe = NoOrthProbe>
SPECSWEEP_HD void update_direction(const OptimizerParams& op, int t, int rows, int cols, PG G,
                                   P state1, P state2, P D, P work, OrthProbe&& probe = {}) {
  using T = ScalarOf<LaneOf<P>>;
  const int count = rows * cols;
  switch (op.kind) {
    case OptimizerKind::gd:
      copy(count, G, D);
      return;
    case OptimizerKind::specgd:
      orthogonalize(op.orth, rows, cols, G, D, work);
      probe(G, D);
      return;
    case OptimizerKind::muon: {
      const T beta = T(op.momentum);
      if (op.momentum_order == MomentumOrder::post_polar) {
        P polar = work;
        orthogonalize(op.orth, rows, cols, G, polar, work + count);
        probe(G, polar);
        for (int i = 0; i < count; ++i) {
          state1[i] = beta * state1[i] + polar[i];
          D[i] = op.nesterov ? polar[i] + beta * state1[i] : state1[i];
        }
      } else {
        P lookahead = work;
        for (int i = 0; i < count; ++i) {
          state1[i] = beta * state1[i] + G[i];
          lookahead[i] = op.nesterov ? G[i] + beta * state1[i] : state1[i];
        }
        orthogonalize(op.orth, rows, cols, lookahead, D, work + count);
        probe(lookahead, D);
      }
      const T s = T(shape_scale_factor(op.shape_scale, rows, cols));
      if (s != T(1))
        for (int i = 0; i < count; ++i) D[i] *= s;
      return;
    }
    case OptimizerKind::adam: {
      const T b1 = T(op.beta1), b2 = T(op.beta2), eps = T(op.eps);
      const T c1 = T(1.0 / (1.0 - pow(op.beta1, double(t + 1))));
      const T c2 = T(1.0 / (1.0 - pow(op.beta2, double(t + 1))));
      for (int i = 0; i < count; ++i) {
        state1[i] = b1 * state1[i] + (T(1) - b1) * G[i];
        state2[i] = b2 * state2[i] + (T(1) - b2) * G[i] * G[i];
        D[i] = state1[i] * c1 / (vsqrt(state2[i] * c2) + eps);
      }
      return;
    }
  }
}

// Workspace for update_direction on a rows x cols factor.
SPECSWEEP_HD constexpr int update_direction_workspace(int rows, int cols) {
  return rows * cols + orthogonalize_workspace(rows, cols);
}

}  // namespace specsweep
