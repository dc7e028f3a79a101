#pragma once
// One trajectory per lane: the step loop of DESIGN sections 2–3 with everything measured along the
// way (loss every step, divergence, steps to tolerance, mode hitting times every step, record-step
// metrics through a callback). Backends own the memory and the parallelism; this file owns the
// mathematics of a run.
#include "metrics.hpp"
#include "optimizer.hpp"
#include "random.hpp"
#include "sharpness.hpp"

namespace specsweep {

// Largest step count for which step indices are exact in fp32 lanes (2^24).
inline constexpr int kMaxSteps = 1 << 24;

struct RunParams {
  int steps = 0;
  double l2 = 0;
  double optimum = 0;  // loss at a global minimum
  double hit_tolerance = 0.05;
  double loss_tolerance = 1e-6;
  double blowup = 1e6;                // diverged once ||W||_F > blowup * max(1, ||M||_F)
  const int* record_steps = nullptr;  // ascending, within [0, steps]
  int record_count = 0;
  BlockTolerance blocks;        // of the block alignment score at record steps
  bool delta_matrices = false;  // records carry the r x r Delta1, Delta2 (record.delta_matrices)
  int loss_window = 1;  // steps averaged into TrajectoryOutcome::window_loss (record.loss_window)
  // Lanczos steps for the sharpness at record steps (record.sharpness_iterations); 0: none.
  int sharpness_iterations = 0;
  // At record steps, how far each factor's orthogonalizer output is from the exact polar factor
  // of its input (record.orth_error; specgd and muon).
  bool orth_error = false;
  // One schedule per lane, for a pack that holds seeds of cells differing only in their learning
  // rate (the CPU backend packs a learning-rate sweep's cells together); null: every lane follows
  // the optimizer's schedule.
  const Schedule* lane_schedules = nullptr;
  // With op.gradient_noise > 0: one Purpose::gradient_noise stream per lane, its seed's.
  const RandomStream* lane_noise = nullptr;
};

// The learning rate of step t in each lane.
template <class V>
SPECSWEEP_HD V step_rate(const OptimizerParams& op, const RunParams& rp, int t) {
  using T = ScalarOf<V>;
  if (rp.lane_schedules == nullptr) return V(T(op.schedule.rate(t)));
  V eta = V(T(0));
  for (int i = 0; i < LaneTraits<V>::width; ++i) set_lane(eta, i, T(rp.lane_schedules[i].rate(t)));
  return eta;
}

// G += noise for step t and gradient evaluation `stage` (RK4 evaluates 4 per step), from lane i's
// stream streams[i] (its seed's Purpose::gradient_noise stream) at substream t: entry e of the
// concatenated factors is normal number stage * params + e, so the noise of a seed depends on
// nothing but its seed, step, stage and entry (not on batch sizes, threads, ranks or resume).
template <class P>
SPECSWEEP_HD void add_gradient_noise(const Shape& sh, const OptimizerParams& op,
                                     const RandomStream* streams, int t, int stage, P G) {
  using V = LaneOf<P>;
  using T = ScalarOf<V>;
  using Double = typename LaneTraits<V>::Double;
  using Words = typename LaneTraits<V>::Words;
  constexpr int W = LaneTraits<V>::width;
  constexpr int DW = LaneTraits<Double>::width, parts = W / DW;
  const int params = sh.total();
  const std::uint64_t first = std::uint64_t(stage) * std::uint64_t(params);
  // Each lane's stream at substream t: its counter words 1-3 and key (word 0, the block, is 0),
  // in parts of DW lanes.
  Words stream_words[parts][4]{}, key0[parts]{}, key1[parts]{};
  for (int i = 0; i < W; ++i) {
    const auto& ctr = streams[i].counter();
    const auto& key = streams[i].key();
    const int part = i / DW, at = i % DW;
    set_word(stream_words[part][1], at, (ctr[1] & 0xff000000u) | (std::uint32_t(t) & 0x00ffffffu));
    set_word(stream_words[part][2], at, ctr[2]);
    set_word(stream_words[part][3], at, ctr[3]);
    set_word(key0[part], at, key[0]);
    set_word(key1[part], at, key[1]);
  }
  for (int k = 0; k < sh.depth; ++k) {
    const int off = sh.offset(k), count = sh.size(k);
    V scale = V(T(op.gradient_noise));
    if (op.noise_relative) scale = scale * vsqrt(frob2(count, G + off) / T(count));
    // Normals in whole Philox blocks of 4, the first and last ones shared with neighbours; every
    // lane's Philox and Box–Muller side by side (the same bits as each stream's normals4).
    for (std::uint64_t n = first + std::uint64_t(off); n < first + std::uint64_t(off + count);) {
      const std::uint64_t block = n >> 2, end = (block + 1) << 2;
      Double z[4][parts];
      for (int part = 0; part < parts; ++part) {
        const Words* base = stream_words[part];
        Words words[4] = {base[0] + std::uint32_t(block), base[1], base[2], base[3]};
        philox4x32_10(words, key0[part], key1[part]);
        box_muller(words[0], words[1], z[0][part], z[1][part]);
        box_muller(words[2], words[3], z[2][part], z[3][part]);
      }
      for (; n < end && n < first + std::uint64_t(off + count); ++n)
        G[int(n - first)] += scale * to_lanes<V>(z[n & 3]);
    }
  }
}

// Per-lane results of a trajectory. Step indices are stored as lane values (exact below
// kMaxSteps); -1 means "never".
template <class V, class P = V*>
struct TrajectoryOutcome {
  V final_loss;       // from the explicit residual at the last iterate
  V final_grad_norm;  // ||grad f||_F over all factors at the last iterate
  V steps_to_tol;
  V diverged;       // 1 if the run diverged (non-finite or blow-up), else 0
  V init_det_sign;  // sign det(W) at the start (product_det_sign): +1, -1, 0; NaN unless m = n = r
  // Mean of loss / (1/2 ||M||^2) over the last rp.loss_window steps (t = steps - k + 1 ... steps),
  // summed as the steps are observed; NaN for a diverged lane. Rhee et al.'s Fig 1c plots it with
  // k = 2, since Muon above lr ~1.2 settles into a period-2 oscillation of the loss.
  V window_loss;
  // lambda_max of the Hessian at the last iterate (rp.sharpness_iterations Lanczos steps); NaN
  // without them and for a diverged lane.
  V final_sharpness;
  V recovery_error;  // ||W - M||_F / ||M||_F at the last iterate
  P hit_step;        // [modes]
  P hit_value;       // [modes] d_i at the hitting step
};

// A finished run counts as converged (DESIGN section 3) when it did not diverge and its relative
// excess loss (loss - optimum) / (1/2 ||M||^2) is within rp's loss tolerance.
SPECSWEEP_HD inline bool reached_tolerance(bool diverged, double loss, const RunParams& rp,
                                           double norm2_half) {
  return !diverged && (loss - rp.optimum) / norm2_half <= rp.loss_tolerance;
}

// Lane values behind the arrays of RecordMetrics (metrics_view): sv[r], core_diag[modes],
// factor_norm, orth_error, orth_band_min, orth_band_max[depth], block_alignment[3],
// delta1/2[r * r].
SPECSWEEP_HD inline int metrics_values(const Shape& sh, int modes) {
  return sh.r + modes + 4 * sh.depth + 3 + 2 * sh.r * sh.r;
}

// Offsets (in lane values) of everything one lane-trajectory needs.
struct EngineLayout {
  int params = 0;  // size of one concatenated set of factors
  int F = 0, G = 0, D = 0, state1 = 0, state2 = 0, stage = 0, stage_acc = 0;
  int eval = 0, diag = 0, diag_work = 0, update = 0, record = 0, metrics = 0;
  int sharpness = 0;  // the Lanczos start vector (params), then lanczos_workspace
  int total = 0;

  EngineLayout() = default;
  SPECSWEEP_HD EngineLayout(const Shape& sh, const OptimizerParams& op, int modes,
                            int sharpness_iterations = 0) {
    params = sh.total();
    int at = 0;
    auto take = [&at](int count) {
      const int here = at;
      at += count;
      return here;
    };
    F = take(params);
    G = take(params);
    D = take(params);
    state1 = take(op.state_buffers() >= 1 ? params : 0);
    state2 = take(op.state_buffers() >= 2 ? params : 0);
    const bool rk4 = op.integrator == Integrator::rk4;
    stage = take(rk4 ? params : 0);
    stage_acc = take(rk4 ? params : 0);
    eval = take(EvalLayout(sh).total);
    diag = take(modes);
    diag_work = take(2 * modes * sh.r);
    int upd = 0;
    for (int k = 0; k < sh.depth; ++k) {
      const int w = update_direction_workspace(sh.rows(k), sh.cols(k));
      upd = w > upd ? w : upd;
    }
    update = take(upd);
    // Also the scratch of orth_deviation, which runs at record steps after record_metrics.
    int rec = record_metrics_workspace(sh);
    for (int k = 0; k < sh.depth; ++k) {
      const int w = orth_deviation_workspace(sh.rows(k), sh.cols(k));
      rec = w > rec ? w : rec;
    }
    record = take(rec);
    metrics = take(metrics_values(sh, modes));
    sharpness =
        take(sharpness_iterations > 0 ? params + lanczos_workspace(sh, sharpness_iterations) : 0);
    total = at;
  }
};

template <class P>
SPECSWEEP_HD RecordMetrics<LaneOf<P>, P> metrics_view(const Shape& sh, int modes, P base) {
  RecordMetrics<LaneOf<P>, P> m{};
  m.sv = base;
  m.core_diag = m.sv + sh.r;
  m.factor_norm = m.core_diag + modes;
  m.orth_error = m.factor_norm + sh.depth;
  m.orth_band_min = m.orth_error + sh.depth;
  m.orth_band_max = m.orth_band_min + sh.depth;
  m.block_alignment = m.orth_band_max + sh.depth;
  m.delta1 = m.block_alignment + 3;
  m.delta2 = m.delta1 + sh.r * sh.r;
  return m;
}

// Outcome fields before the first step: nothing has happened yet.
template <class V, class PO>
SPECSWEEP_HD void begin_outcome(int modes, TrajectoryOutcome<V, PO>& out) {
  using T = ScalarOf<V>;
  out.diverged = V(T(0));
  out.steps_to_tol = V(T(-1));
  out.window_loss = V(T(0));
  out.final_sharpness = V(std::numeric_limits<T>::quiet_NaN());
  for (int i = 0; i < modes; ++i) {
    out.hit_step[i] = V(T(-1));
    out.hit_value[i] = V(T(0));
  }
}

// Bound on the rounding error of evaluate()'s loss, the Gram form 1/2||M||^2 - <F_1, M R^T> +
// 1/2<F_1^T F_1, R R^T> + penalty (R = F_2 ... F_L): its terms are accurate to a few eps of
// ||F_1|| ||M|| ||R|| and ||F_1||^2 ||R||^2, both at most ||M||^2 + ||F_1||^2 ||R||^2. In the Kang
// setting the error is ~1e-7 ||M||^2 in fp32 (README) and the bound ~2.4e-6 ||M||^2. With large or
// unbalanced factors it exceeds any small tolerance: an fp32 Adam run (||M|| = 1e4, lr 1e3) once
// reported the tolerance reached at a true relative excess of 0.13. The residual form's loss
// (residual_form) has no such cancellation, so the bound holds for it too, with room.
template <class T, class V>
SPECSWEEP_HD V gram_loss_error(const TargetView<T>& tg, const EvalResult<V>& ev) {
  return T(4) * epsilon_of<V>() * (T(2) * tg.norm2_half + ev.factor_scale2);
}

// What evaluated step t says about each lane (DESIGN section 3): a non-finite loss or ||W||_F
// beyond the blow-up bound freezes the lane as diverged (alive 1 -> 0) and clears its hitting times
// (a blowing-up d_i passes every threshold, so a diverged seed has none); the first step within the
// loss tolerance and the first step at which mode i reaches (1 - hit_tolerance) s_i are kept.
// diag holds the core diagonal d_i at step t. Where the Gram-form loss is within its rounding error
// of the tolerance, the decision is made on accurate_loss() (the explicit residual, called only
// then), so a step counted as reaching the tolerance has reached it.
template <class T, class V, class PD, class PO, class AccurateLoss>
SPECSWEEP_HD void observe_step(int t, const EvalResult<V>& ev, PD diag, const TargetView<T>& tg,
                               const RunParams& rp, V& alive, TrajectoryOutcome<V, PO>& out,
                               AccurateLoss&& accurate_loss) {
  const T zero = T(0), one = T(1);
  const T bound = T(rp.blowup) * vmax(one, T(sqrt(2.0 * double(tg.norm2_half))));
  const T bound2 = bound * bound;
  const V tv = V(T(t));
  const auto bad = (!is_finite(ev.loss)) | (!is_finite(ev.w_norm2)) | (ev.w_norm2 > V(bound2));
  const auto live_before = alive > V(T(0.5));
  const auto diverging = bad & live_before;
  out.diverged = select(diverging, V(one), out.diverged);
  alive = select(bad, V(zero), alive);
  const auto live = alive > V(T(0.5));
  for (int i = 0; i < tg.modes; ++i) {
    out.hit_step[i] = select(diverging, V(T(-1)), out.hit_step[i]);
    out.hit_value[i] = select(diverging, V(zero), out.hit_value[i]);
  }

  const auto pending = live & (out.steps_to_tol < V(zero));
  const V slack = ev.loss - T(rp.optimum) - T(rp.loss_tolerance) * tg.norm2_half;
  const auto uncertain = pending & (vabs(slack) <= gram_loss_error(tg, ev));
  V loss = ev.loss;
  if (any(uncertain)) loss = select(uncertain, accurate_loss(), loss);
  const V excess = (loss - T(rp.optimum)) / tg.norm2_half;
  const auto reached = pending & (excess <= V(T(rp.loss_tolerance)));
  out.steps_to_tol = select(reached, tv, out.steps_to_tol);
  if (t > rp.steps - rp.loss_window) {
    const T weight = T(1) / (T(rp.loss_window) * tg.norm2_half);
    out.window_loss = select(live, out.window_loss + loss * weight, out.window_loss);
  }
  out.window_loss = select(diverging, V(std::numeric_limits<T>::quiet_NaN()), out.window_loss);
  for (int i = 0; i < tg.modes; ++i) {
    const T threshold = (one - T(rp.hit_tolerance)) * tg.s[i];
    const auto hit = live & (out.hit_step[i] < V(zero)) & (diag[i] >= V(threshold));
    out.hit_step[i] = select(hit, tv, out.hit_step[i]);
    out.hit_value[i] = select(hit, diag[i], out.hit_value[i]);
  }
}

// A trajectory that runs to its end (the GPU's, and the reference tests').
struct NeverInterrupted {
  SPECSWEEP_HD bool operator()() const { return false; }
};

// Runs one trajectory per lane from the factors already in arena[layout.F] (arena: a handle, see
// LaneOf). The optimizer state must be zero. on_record(index, metrics) is called at each record
// step with lane-valued metrics. interrupted() is asked before every step: when it says true the
// run returns at once and its outcome is meaningless (the CPU backend then throws Cancelled), so a
// large cell's pack does not keep a SIGINT waiting for the rest of its trajectory.
template <class T, class P, class PO, class OnRecord, class Interrupted = NeverInterrupted>
SPECSWEEP_HD void run_trajectory(const Shape& sh, const TargetView<T>& tg,
                                 const OptimizerParams& op, const RunParams& rp,
                                 const EngineLayout& lay, P arena,
                                 TrajectoryOutcome<LaneOf<P>, PO>& out, OnRecord&& on_record,
                                 Interrupted&& interrupted = {}) {
  using V = LaneOf<P>;
  const int L = sh.depth, modes = tg.modes;
  P F = arena + lay.F;
  P G = arena + lay.G;
  P D = arena + lay.D;
  P eval_work = arena + lay.eval;
  P diag = arena + lay.diag;
  const P right1 = eval_work + EvalLayout(sh).right;  // F_2 ... F_L after evaluate()
  RecordMetrics<V, P> metrics = metrics_view(sh, modes, arena + lay.metrics);

  const T l2 = T(rp.l2);
  const bool sharp = rp.sharpness_iterations > 0;
  const bool noisy = op.gradient_noise > 0;
  const RandomStream start_stream(0, 0, 0, Purpose::sharpness);

  V alive = V(T(1));
  out.init_det_sign = product_det_sign(sh, F, arena + lay.record);
  begin_outcome(modes, out);

  // F <- F - eta D for live lanes; diverged lanes stay frozen at the step that diverged.
  auto apply = [&](P target, P from, P dir, V eta) {
    const auto live = alive > V(T(0.5));
    for (int i = 0; i < lay.params; ++i) target[i] = select(live, from[i] - eta * dir[i], from[i]);
  };
  auto directions = [&](int t, P grad, P dir, bool probe_orth = false) {
    for (int k = 0; k < L; ++k) {
      const int off = sh.offset(k), rows = sh.rows(k), cols = sh.cols(k);
      auto probe = [&](auto X, auto O) {
        if (!probe_orth) return;
        const OrthDeviation<V> dev = orth_deviation(rows, cols, X, O, arena + lay.record);
        metrics.orth_error[k] = dev.error;
        metrics.orth_band_min[k] = dev.band_min;
        metrics.orth_band_max[k] = dev.band_max;
      };
      update_direction(op, t, rows, cols, grad + off, arena + lay.state1 + off,
                       arena + lay.state2 + off, dir + off, arena + lay.update, probe);
    }
  };

  // Lanczos's start vector, the same at every record step (and in every lane): drawn once, only
  // read (its work space and curvature_along's come after it).
  P lanczos_start = arena + lay.sharpness;
  if (sharp)
    for (int i = 0; i < lay.params; ++i)
      lanczos_start[i] = V(T(start_stream.normal(std::uint64_t(i))));
  auto lambda_max = [&] {  // at F
    return top_hessian_eigenvalue(sh, tg, l2, F, rp.sharpness_iterations, lanczos_start,
                                  lanczos_start + lay.params);
  };

  int next_record = 0;
  for (int t = 0;; ++t) {
    if (interrupted()) return;
    const EvalResult<V> ev = evaluate(sh, tg, l2, F, G, eval_work);
    core_diagonal(sh, tg, F, right1, diag, arena + lay.diag_work);
    observe_step(t, ev, diag, tg, rp, alive, out,
                 [&] { return residual_loss(sh, tg, l2, F, right1, arena + lay.record); });

    // A record step's metrics are passed on once the step taken from it is known (its curvature).
    const bool record = next_record < rp.record_count && rp.record_steps[next_record] == t;
    if (record) {
      record_metrics(sh, tg, l2, rp.blocks, F, right1, metrics, arena + lay.record);
      if (sharp) metrics.sharpness = lambda_max();
    }
    auto pass_record = [&](const P* step) {  // null at the last step: none is taken
      if (!record) return;
      if (sharp && step != nullptr)
        metrics.step_sharpness = curvature_along(sh, tg, l2, F, *step, lanczos_start + lay.params);
      on_record(next_record, static_cast<const RecordMetrics<V, P>&>(metrics));
      ++next_record;
    };

    if (t == rp.steps) {
      if (sharp)
        out.final_sharpness = select(alive > V(T(0.5)), record ? metrics.sharpness : lambda_max(),
                                     V(std::numeric_limits<T>::quiet_NaN()));
      pass_record(nullptr);
      const ResidualMeasures<V> residual =
          record ? ResidualMeasures<V>{metrics.loss, metrics.recovery_error}
                 : residual_measures(sh, tg, l2, F, right1, arena + lay.record);
      out.recovery_error = residual.recovery_error;
      out.final_grad_norm = vsqrt(frob2(lay.params, G));
      out.final_loss = residual.loss;
      return;
    }

    const V eta = step_rate<V>(op, rp, t);
    const bool probe_orth = record && rp.orth_error;
    if (noisy) add_gradient_noise(sh, op, rp.lane_noise, t, 0, G);
    if (op.integrator == Integrator::step) {
      directions(t, G, D, probe_orth);
      pass_record(&D);
      apply(F, F, D, eta);
      continue;
    }
    // Classical RK4 on dF/dt = -direction(grad f(F)); stage 1 reuses the gradient above.
    P Fs = arena + lay.stage;
    P acc = arena + lay.stage_acc;
    directions(t, G, D, probe_orth);
    copy(lay.params, D, acc);
    const V half = eta * T(0.5);
    const V stage_step[3] = {half, half, eta};
    const T weight[3] = {T(2), T(2), T(1)};
    for (int s = 0; s < 3; ++s) {
      for (int i = 0; i < lay.params; ++i) Fs[i] = F[i] - stage_step[s] * D[i];
      evaluate(sh, tg, l2, Fs, G, eval_work);
      if (noisy) add_gradient_noise(sh, op, rp.lane_noise, t, s + 1, G);
      directions(t, G, D);
      for (int i = 0; i < lay.params; ++i) acc[i] += weight[s] * D[i];
    }
    pass_record(&acc);
    apply(F, F, acc, eta / T(6));
  }
}

}  // namespace specsweep
