#!/usr/bin/env python3
"""Fast regression checks of the Ma et al. and Rhee, Simon, Karkada claims (docs/REPRODUCTION.md).

    test_ma_rhee.py SPECSWEEP_EXE WORKDIR

Runs the short configs next to this file (tests/claims/*_fast.toml) with SPECSWEEP_EXE on the CPU
backend, writes the run files into WORKDIR, and checks numeric thresholds. Each threshold comes
from theory or from the full-size measurements in docs/REPRODUCTION.md, with a margin; the reasoning
is in the comments. Prints one line per check and exits 1 if any fails (2 on bad usage, 3 when a run
itself fails). Needs numpy and h5py.
"""
import os
import subprocess
import sys
import time

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
failures = []


def check(name, ok, detail):
    print(f"[{'PASS' if ok else 'FAIL'}] {name}: {detail}", flush=True)
    if not ok:
        failures.append(name)


def run(exe, workdir, stem, *settings, config=None):
    """Runs tests/claims/STEM.toml (or CONFIG) with --set SETTINGS; the run file is named after both."""
    name = "_".join([stem] + [x.split("=")[-1] for x in settings])
    out = os.path.join(workdir, name + ".h5")
    cmd = [exe, "run", config or os.path.join(HERE, stem + ".toml"), "--out", out, "--backend", "cpu", "--quiet",
           "--force"]
    for x in settings:
        cmd += ["--set", x]
    t0 = time.time()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        print(f"run failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}")
        sys.exit(3)
    print(f"ran {name} in {time.time() - t0:.1f} s", flush=True)
    return h5py.File(out, "r")


def median_steps(steps_row):
    reached = steps_row[steps_row >= 0]
    return float(np.median(reached)) if len(reached) else float("inf")


def ma(exe, workdir, problem):
    # Ma, Huang, Chi, Chen (arXiv 2601.13474): steps to relative loss 1e-6 against kappa, for the
    # asymmetric W = F1 F2 (ma_*_fast.toml) and the symmetric W = X X^T (ma_symmetric_*_fast.toml,
    # GD at lr 0.45: the same 0.9 of its stability edge, whose sharpness 4 s_max is twice the
    # asymmetric one). Full size, both problems: Muon medians 102-110 over kappa 10..1e4, GD 93 -> ~1950
    # from kappa 10 to 1e3 (docs/REPRODUCTION.md); the same thresholds serve both.
    prefix = "ma_symmetric_" if problem == "symmetric" else "ma_"
    with run(exe, workdir, prefix + "muon_fast") as f:
        kappa = f["cells/problem.target.spectrum.condition"][()]
        st, steps = f["outcome/status"][()], f["outcome/steps_to_tol"][()]
        # Simplified Muon with lr 0.2 * 0.95^t: every seed reaches 1e-6 (full size: 1024/1024 over
        # four kappas). Allow one miss in 32 per cell.
        for c, k in enumerate(kappa):
            frac = float(np.mean(st[c] == 0))
            check(f"ma {problem} muon reaches 1e-6 at kappa {k:g}", frac >= 31 / 32, f"reached fraction {frac:.3f}")
        # kappa-independence: the count is set by the schedule (the step must decay to ~1e-3), not by
        # kappa. Full size: medians 109, 105, 102, 102.5 for kappa 10..1e4 (ratio 0.94); this
        # rank-4 version gives ~0.8 (fewer modes above the tolerance at kappa 1e4; symmetric ~1.07). A GD-like
        # scaling would give a ratio of ~10 or more; accept [0.5, 1.5].
        m10, m4 = median_steps(steps[0]), median_steps(steps[1])
        ratio = m4 / m10
        check(f"ma {problem} muon steps flat in kappa", 0.5 <= ratio <= 1.5,
              f"median steps {m10:.0f} (kappa {kappa[0]:g}) -> {m4:.0f} (kappa {kappa[1]:g}), ratio {ratio:.2f}")
    with run(exe, workdir, prefix + "gd_fast") as f:
        kappa = f["cells/problem.target.spectrum.condition"][()]
        st, steps = f["outcome/status"][()], f["outcome/steps_to_tol"][()]
        check(f"ma {problem} gd reaches 1e-6 at every kappa", bool(np.all(st == 0)),
              f"converged fractions {np.mean(st == 0, axis=1)}")
        # GD learns mode i on a time scale 1/(lr s_i): steps grow with kappa (full size: 99 -> 2092
        # from kappa 10 to 1e3, x21; here ~x8). Require at least x4.
        g10, g3 = median_steps(steps[0]), median_steps(steps[1])
        check(f"ma {problem} gd steps grow with kappa", g3 / g10 >= 4.0,
              f"median steps {g10:.0f} (kappa {kappa[0]:g}) -> {g3:.0f} (kappa {kappa[1]:g}), ratio {g3 / g10:.1f}")
        # and Muon beats GD by a wide margin at large kappa (here ~80 vs ~800 steps).
        check(f"ma {problem} muon faster than gd at large kappa", m4 * 4 <= g3,
              f"muon {m4:.0f} steps at kappa 1e4 vs gd {g3:.0f} at kappa 1e3")


def ma_icl(exe, workdir):
    # In-context regression (ma_icl_*_fast.toml: d = 8, N = 16; full size d = 16, N = 32 in
    # docs/REPRODUCTION.md). Full size, Haar-rotated covariance: Muon medians 310, 303, 293, 310 for
    # kappa 10..1e4; GD and Adam reach 1e-6 at kappa = 10 only (1176, 614 steps).
    with run(exe, workdir, "ma_icl_muon_fast") as f:
        kappa = f["cells/problem.target.spectrum.condition"][()]
        st, steps = f["outcome/status"][()], f["outcome/steps_to_tol"][()]
        # lr 0.5 * 0.98^t: every seed reaches 1e-6 (full size 256/256 up to kappa 1e3). One miss in 32
        # allowed per cell.
        for c, k in enumerate(kappa):
            frac = float(np.mean(st[c] == 0))
            check(f"ma icl muon reaches 1e-6 at kappa {k:g}", frac >= 31 / 32, f"reached fraction {frac:.3f}")
        # kappa-independence: here 302 -> 286 (ratio 0.95); full size 310 -> 293 over kappa 10..1e3. A
        # GD-like growth would be a ratio of 4 or more (and is 'never' here); accept [0.7, 1.3].
        m10, m3 = median_steps(steps[0]), median_steps(steps[1])
        check("ma icl muon steps flat in kappa", 0.7 <= m3 / m10 <= 1.3,
              f"median steps {m10:.0f} (kappa {kappa[0]:g}) -> {m3:.0f} (kappa {kappa[1]:g}), ratio {m3 / m10:.2f}")
    with run(exe, workdir, "ma_icl_gd_fast") as f:
        kappa = f["cells/problem.target.spectrum.condition"][()]
        st, steps = f["outcome/status"][()], f["outcome/steps_to_tol"][()]
        check("ma icl gd reaches 1e-6 at kappa 10", bool(np.all(st[0] == 0)), f"converged fraction {np.mean(st[0] == 0):.3f}")
        # GD's slowest direction has curvature ~ gamma_min lambda_min, which falls like kappa^-2: at
        # kappa = 100 it does not reach 1e-6 in 5000 steps (here ~1200 at kappa 10). Require the median
        # (infinite when no seed reached) to be at least 4x kappa 10's, and Muon at kappa 1e3 at least
        # 2x faster than GD at kappa 10 (here 286 vs ~1200).
        g10, g2 = median_steps(steps[0]), median_steps(steps[1])
        check("ma icl gd steps grow with kappa", g2 >= 4 * g10,
              f"median steps {g10:.0f} (kappa {kappa[0]:g}) -> {g2:.0f} (kappa {kappa[1]:g}; inf: none within 5000)")
        check("ma icl muon faster than gd", 2 * m3 <= g10, f"muon {m3:.0f} steps at kappa 1e3 vs gd {g10:.0f} at kappa 10")
    with run(exe, workdir, "ma_icl_adam_fast") as f:
        basis = [b.decode() if isinstance(b, bytes) else str(b) for b in f["cells/problem.target.basis"][()]]
        st, steps = f["outcome/status"][()], f["outcome/steps_to_tol"][()]
        rot, ident = basis.index("random"), basis.index("identity")
        # Adam is not rotation-equivariant: with Lambda's eigenvectors on the coordinate axes its
        # per-coordinate scaling preconditions the problem (here every seed in ~190 steps; full size
        # ~165 steps at every kappa), with Haar-rotated ones it stalls like GD (none within 3000 here).
        check("ma icl adam reaches 1e-6 with an axis-aligned covariance", bool(np.all(st[ident] == 0)),
              f"converged fraction {np.mean(st[ident] == 0):.3f}")
        a_rot, a_id = median_steps(steps[rot]), median_steps(steps[ident])
        check("ma icl adam slower with a rotated covariance", a_rot >= 4 * a_id,
              f"median steps {a_id:.0f} (axis-aligned) vs {a_rot:.0f} (rotated; inf: none within 3000)")


def rhee_saddle(exe, workdir):
    # Rhee, Simon, Karkada (arXiv 2606.30509) Fig 1a-b: GD stepwise, largest first; Muon simultaneous.
    with run(exe, workdir, "rhee_saddle_fast") as f:
        kinds = [k.decode() if isinstance(k, bytes) else str(k) for k in f["cells/optimizer.kind"][()]]
        step = f["trace/step"][()].astype(float)
        for c, kind in enumerate(kinds):
            tau = float(np.median(f["outcome/order_kendall"][c]))
            core = f["trace/core_diag"][c].astype(float)  # K x T x r
            hit = core >= 0.1  # escape: d_i = W_ii reaches 0.1 (init ~1e-3, targets >= 0.625)
            esc = np.where(hit.any(axis=1), step[np.argmax(hit, axis=1)], np.inf)
            ratio = float(np.median(esc[:, -1] / esc[:, 0]))
            if kind == "gd":
                # Largest first: Kendall tau between hitting times and s_i near -1 (full size -0.96).
                check("rhee gd largest-first", tau <= -0.8, f"median order_kendall {tau:+.3f}")
                # Escape time ~ log(1/alpha^2)/(2 lr s_i): the smallest mode escapes ~s_1/s_16 = 16x
                # later than the largest (measured ~18x here, 43x for N = 32). Require >= 8x.
                check("rhee gd escapes one after another", ratio >= 8.0,
                      f"median escape-time ratio mode 16 / mode 1 = {ratio:.1f}")
            else:
                # Constant-lr Muon: sqrt(d_i) ~ lr t for every mode, so the smallest target is hit
                # first (full size +0.87 median) ...
                check("rhee muon smallest-first", tau >= 0.6, f"median order_kendall {tau:+.3f}")
                # ... and every mode escapes at the same step, ~sqrt(0.1)/lr = 16 (ratio ~1.06).
                check("rhee muon escapes simultaneously", ratio <= 1.5,
                      f"median escape-time ratio mode 16 / mode 1 = {ratio:.2f}")


def rhee_lr(exe, workdir):
    # Rhee et al. Fig 1c. GD: lambda_max at the balanced minima is 2 s_max = 20, so 2/lambda_max = 0.1.
    # The sharpness is measured too (record.sharpness_iterations; docs/REPRODUCTION.md, "Beyond the
    # papers"): eta lambda_max at the end is 20 eta (< 2) where GD converges and above 2 where it
    # does not; Muon stays bounded with eta lambda_max far above 2.
    sharpness = ("record.traced_seeds=2", "record.sharpness_iterations=20")
    with run(exe, workdir, "rhee_lr_gd_fast", *sharpness) as f:
        lr = f["cells/optimizer.lr"][()]
        st = f["outcome/status"][()]
        end = f["trace/sharpness"][()][:, :, -1]  # C x K
        for c, x in enumerate(lr):
            conv, div = float(np.mean(st[c] == 0)), float(np.mean(st[c] == 2))
            eta_lambda = x * end[c]
            if x < 0.1:
                check(f"rhee gd converges below 2/lambda_max (lr {x:g})", conv == 1.0, f"converged {conv:.2f}")
                check(f"rhee gd ends at eta lambda_max = 20 eta < 2 (lr {x:g})",
                      np.all(np.abs(eta_lambda - 20 * x) <= 0.02 * 20 * x), f"eta lambda_max {eta_lambda}")
            elif x < 0.13:
                check(f"rhee gd stays above the edge, eta lambda_max > 2 (lr {x:g})", np.all(eta_lambda > 2),
                      f"eta lambda_max {eta_lambda}")
                # Above 0.1 no minimum is stable: no convergence (full size: none from 0.102 on);
                # GD oscillates with loss O(1) before it blows up (full size: blow-up from 0.134).
                check(f"rhee gd does not converge above 2/lambda_max (lr {x:g})", conv == 0.0,
                      f"converged {conv:.2f}, diverged {div:.2f}")
            else:
                # Full size: every seed diverged for lr >= 0.138.
                check(f"rhee gd diverges well above 2/lambda_max (lr {x:g})", div == 1.0, f"diverged {div:.2f}")
    with run(exe, workdir, "rhee_lr_muon_fast", *sharpness) as f:
        lr = f["cells/optimizer.lr"][()]
        st = f["outcome/status"][()]
        fl = f["outcome/final_loss"][()]
        ndiv = int(np.sum(st == 2))
        # Muon moves each factor by exactly lr per step in spectral norm: no divergence, even at
        # lr = 2.8 = 28x GD's critical rate (full size: 0 of 1600 seeds).
        check("rhee muon never diverges", ndiv == 0, f"{ndiv} diverged of {st.size}, lr up to {lr.max():g}")
        top = lr.max() * f["trace/sharpness"][()][np.argmax(lr), :, -1]
        check("rhee muon bounded with eta lambda_max > 10 (5x GD's limit)", np.all(top > 10),
              f"eta lambda_max {top} at lr {lr.max():g}")
        sel = lr <= 0.2
        slope = float(np.polyfit(np.log(lr[sel]), np.log(np.median(fl[sel], axis=1)), 1)[0])
        # Final loss ~ lr^2 (paper: "roughly eta^2"; full size 2.003 [1.997, 2.010] on 0.007-0.14).
        # 4 seeds x 4 rates scatter by ~30% per rate -> slope error ~0.15; accept [1.7, 2.3].
        check("rhee muon final loss ~ lr^2", 1.7 <= slope <= 2.3, f"log-log slope {slope:.3f} on lr <= 0.2")


def rhee_spike(exe, workdir):
    # Rhee et al. Fig 4: spike-then-halve. Success iff det(O1^T O2) = +1 (see examples/rhee_spike.toml).
    with run(exe, workdir, "rhee_spike_fast") as f:
        st = f["outcome/status"][0]
        ex = f["outcome/excess"][0].astype(float)
        sign = f["outcome/init_det_sign"][0].astype(float)
        F1 = f["trace/init/F1"][0].astype(float)
        F2 = f["trace/init/F2"][0].astype(float)
        count = f["summary/det_sign_count"][0]
    # The engine's sign of det W(0) (Householder QR in the core) against NumPy's LU on the recorded
    # initial factors (every seed is traced here).
    reference = np.linalg.slogdet(F1)[0] * np.linalg.slogdet(F2)[0]
    check("rhee spike engine det sign = numpy's", bool(np.array_equal(sign, reference)),
          f"{int(np.sum(sign != reference))} of {len(sign)} differ")
    pos, neg = sign > 0, sign < 0
    want = [[int(pos.sum()), int(np.sum(pos & (st == 0)))], [int(neg.sum()), int(np.sum(neg & (st == 0)))]]
    check("rhee spike summary splits the converged count by sign", count.tolist() == want,
          f"/summary/det_sign_count {count.tolist()}, outcomes give {want}")
    # Haar-random factors: det +1 with probability 1/2 (128 seeds: sd 0.044; accept 0.3-0.7).
    check("rhee spike det sign ~ fair coin", 0.3 <= pos.mean() <= 0.7, f"fraction det +1 = {pos.mean():.3f}")
    # det -1: O1 + O2 is singular after step 0, one direction is never learned, so the excess is at
    # least 1/2 s_25^2 / (1/2 ||M||^2) ~ 0.011 (measured >= 0.007 at full size); none converges.
    check("rhee spike det -1 never converges", bool(np.all(st[neg] != 0)) and float(ex[neg].min()) >= 1e-3,
          f"{int(np.sum(st[neg] == 0))} of {int(neg.sum())} converged, min excess {ex[neg].min():.2e}")
    # det +1: geometric convergence, excess ~1e-8 after 16 steps (full size: max 1.53e-8 over 264
    # seeds). Accept <= 3e-8; the converged flag itself (<= 1e-8) is borderline at 16 steps.
    check("rhee spike det +1 converges geometrically", float(ex[pos].max()) <= 3e-8,
          f"max excess {ex[pos].max():.2e} over {int(pos.sum())} seeds, "
          f"{int(np.sum(st[pos] == 0))} below the 1e-8 tolerance")


def delta_overlaps(f, cell, name, ref_index):
    """Per traced seed <Delta(t), Delta(t_ref)> / ||Delta(t_ref)||^2 (K x T) for /trace/<name>."""
    D = f["trace/" + name][cell].astype(float)
    D = D.reshape(D.shape[0], D.shape[1], -1)
    ref = D[:, ref_index]
    return np.einsum("ktq,kq->kt", D, ref) / np.einsum("kq,kq->k", ref, ref)[:, None]


def rhee_delta(exe, workdir):
    # Rhee et al. Fig 1e-f: after alignment Muon conserves Delta1 = sqrt(P^T P) - sqrt(Q^T Q), GD
    # conserves Delta2 = P^T P - Q^T Q. Overlaps O(t) = <Delta(t), Delta(t*)> / ||Delta(t*)||^2 for
    # t* = 40 <= t <= 180 at lr 0.004 (tau = 0.16..0.72: after Muon's transient, before its first
    # mode converges at tau ~ 0.77; see rhee_delta_fast.toml).
    with run(exe, workdir, "rhee_delta_fast") as f:
        kinds = [k.decode() if isinstance(k, bytes) else str(k) for k in f["cells/optimizer.kind"][()]]
        step = f["trace/step"][()]
        i0 = int(np.flatnonzero(step == 40)[0])
        after = step >= 40
        for c, kind in enumerate(kinds):
            o1 = delta_overlaps(f, c, "delta1", i0)[:, after]
            o2 = delta_overlaps(f, c, "delta2", i0)[:, after]
            if kind == "gd":
                # Gradient flow conserves Delta2 exactly (d/dt P^T P = d/dt Q^T Q); a GD step adds
                # lr^2 (Q^T R^T R Q - P^T R R^T P), which in aligned modes shrinks each component by
                # (1 - lr^2 r_i^2): ~2-3% here at lr 0.004 (measured max 0.023 over seeds and steps;
                # full size at lr 0.002: 95% of seeds within 4e-3). Accept 0.06 for every seed.
                dev = float(np.abs(o2 - 1).max())
                check("rhee delta gd conserves Delta2 after t*", dev <= 0.06,
                      f"max |O2 - 1| over seeds and steps 40..180: {dev:.4f}")
                # ... and from t = 0, whatever t* (measured max 0.036; same lr^2 budget).
                dev0 = float(np.abs(delta_overlaps(f, c, "delta2", 0)[:, -1] - 1).max())
                check("rhee delta gd conserves Delta2 from t = 0", dev0 <= 0.08,
                      f"max |O2 - 1| at step {step[-1]} against step 0: {dev0:.4f}")
                # Delta1 is not conserved by GD: in a growing mode p_i^2 - q_i^2 is fixed, so
                # p_i - q_i = const / (p_i + q_i) shrinks (measured median 0.51 at step 180, full
                # size 0.80 at tau 0.52 and 0.12 at tau 4). Require the median below 0.75.
                m1 = float(np.median(o1[:, -1]))
                check("rhee delta gd Delta1 drifts", m1 <= 0.75, f"median O1 at step {step[-1]}: {m1:.3f}")
            else:
                # Aligned Muon moves p_i and q_i by the same +-lr per step, so p_i - q_i is fixed:
                # measured max |O1 - 1| 0.005 over seeds and steps (full size: 95% within 4.3e-3 up to
                # tau 0.52). Accept 0.02 for every seed.
                dev = float(np.abs(o1 - 1).max())
                check("rhee delta muon conserves Delta1 after t*", dev <= 0.02,
                      f"max |O1 - 1| over seeds and steps 40..180: {dev:.4f}")
                # Delta2 = (p_i - q_i)(p_i + q_i) per mode grows with p_i + q_i ~ 2 (tau + tau_0),
                # tau_0 ~ alpha sqrt(d) = 0.02: predicted O2(180) ~ 0.74 / 0.18 ~ 4 (measured median
                # 4.32, full size 3.07 at tau 0.52). Require at least 2.5.
                m2 = float(np.median(o2[:, -1]))
                check("rhee delta muon Delta2 drifts", m2 >= 2.5, f"median O2 at step {step[-1]}: {m2:.3f}")
                # The conservation holds only after alignment: against t = 0 Delta1 has lost ~25%
                # in the first steps (measured median 0.72, seeds 0.65-0.80; full size 0.84 at t* =
                # 80). Require the median below 0.9, so a t* inside the transient would fail.
                m0 = float(np.median(delta_overlaps(f, c, "delta1", 0)[:, -1]))
                check("rhee delta muon Delta1 not conserved through the transient", m0 <= 0.9,
                      f"median O1 at step {step[-1]} against step 0: {m0:.3f}")


def median_slope(step, curves, lo=10, hi=300, floor=1e-12):
    """p of median(t) ~ t^-p over record steps in [lo, hi] where the median is >= floor."""
    med = np.median(curves, axis=0)
    sel = (step >= lo) & (step <= hi) & (med >= floor)
    return float(-np.polyfit(np.log(step[sel]), np.log(med[sel]), 1)[0]), int(sel.sum())


def rhee_misalign(exe, workdir):
    # Rhee et al. Fig 3: misalignment 1 - block alignment score decays as a power law in t whose
    # exponent depends on d/n (rhee_misalign_fast.toml: n = 8, alpha 1e-5 and 1e-4, 8 seeds).
    runs = {}
    for d in (2, 8, 32):
        with run(exe, workdir, "rhee_misalign_fast", f"problem.rank={d}") as f:
            runs[d] = {k: f[k][()].astype(float) for k in
                       ("trace/step", "trace/block_alignment", "trace/alignment", "outcome/init_det_sign")}
    step = runs[2]["trace/step"]
    at30, at300 = int(np.argmin(np.abs(step - 30))), int(np.argmin(np.abs(step - 300)))
    # d/n = 4: the n-dimensional row spaces of P and Q in R^d align, 1 - inner score ~ t^-p with
    # p = 4.17, 4.07 here (alpha 1e-5, 1e-4); full size 4.13, 4.06 (n = 16) and 4.12, 4.04 (n = 32).
    # Accept [3.6, 4.6].
    mis = 1 - runs[32]["trace/block_alignment"]  # C x K x T x 3
    for c, alpha in enumerate((1e-5, 1e-4)):
        p, pts = median_slope(step, mis[c, :, :, 2])
        check(f"rhee misalign d/n=4 inner ~ t^-4 (alpha {alpha:g})", 3.6 <= p <= 4.6 and pts >= 5,
              f"p = {p:.2f} over {pts} record steps")
    # ... with a prefactor ~ alpha^2: the medians at t ~ 30 differ by 140x per decade of alpha (full
    # size 135 and 91). Accept 30-600x (alpha^1.5 .. alpha^2.8).
    ratio = float(np.median(mis[1, :, at30, 2]) / np.median(mis[0, :, at30, 2]))
    check("rhee misalign d/n=4 inner ~ alpha^2", 30 <= ratio <= 600, f"ratio alpha 1e-4 / 1e-5 at t = {step[at30]:g}: {ratio:.0f}")
    # A wide P (n x d) spans all of R^n with equal singular values: the outer scores are 1 to rounding
    # (measured 2e-15).
    outer = float(np.median(mis[:, :, step >= 10, :2], axis=1).max())
    check("rhee misalign d/n=4 outer aligned", outer <= 1e-12, f"largest median outer misalignment {outer:.1e}")
    # d/n = 1/4: P's d columns find the target's top-d subspace slowly (p ~ 0.9 at n = 8, 0.55 at
    # n = 16, 0.3 at n = 32: no universal exponent): require the median to fall at least 2x from
    # t = 30 to 300 (measured 5.6x, 7.1x), and the inner score (two complete bases of R^d, with
    # distinct values only in the first ~20 steps) to be 1 from t = 30 (measured 2e-16).
    mis = 1 - runs[2]["trace/block_alignment"]
    for c, alpha in enumerate((1e-5, 1e-4)):
        fall = float(np.median(mis[c, :, at30, 0]) / np.median(mis[c, :, at300, 0]))
        check(f"rhee misalign d/n=1/4 outer decays (alpha {alpha:g})", fall >= 2.0,
              f"median left misalignment falls {fall:.1f}x from t = {step[at30]:g} to {step[at300]:g}")
    inner = float(np.abs(np.median(mis[:, :, step >= 30, 2], axis=1)).max())
    check("rhee misalign d/n=1/4 inner aligned", inner <= 1e-12, f"largest |median inner misalignment| {inner:.1e}")
    # d/n = 1: what decides is det W(0): with alpha << lr, P = Q = lr (A + B) after step 1 with A, B
    # orthogonal and det(A^T B) = sign det W(0), singular when it is -1 (as in Fig 4). det > 0: the
    # outer scores (W's singular vectors against the target's, the authors' definition) are 1 to
    # rounding from t ~ 90 (measured <= 7e-16; up to 0.33 at t = 27) and the joint
    # ||off(U^T W V)|| / ||diag|| falls like 1/t (measured <= 6.4e-3 at t = 300); det < 0: one
    # direction stays near 0, the outer misalignment stays (median 0.066 and 0.165 at t = 300) and
    # the joint measure stalls (median 0.25). Accept 1e-12, 0.03, 0.02 and 0.1.
    mis = 1 - runs[8]["trace/block_alignment"]
    joint, det = runs[8]["trace/alignment"], runs[8]["outcome/init_det_sign"]
    pos, neg = det > 0, det < 0
    late = step >= 90
    outer = float(mis[:, :, late, :2][pos].max())
    check("rhee misalign d/n=1 det>0 outer aligned", outer <= 1e-12 and pos.sum() >= 2,
          f"{int(pos.sum())} seeds, largest outer misalignment from t = 90: {outer:.1e}")
    for c, alpha in enumerate((1e-5, 1e-4)):
        held = float(np.median(mis[c, neg[c], at300, :2]))
        check(f"rhee misalign d/n=1 det<0 outer misaligned (alpha {alpha:g})", held >= 0.03,
              f"{int(neg[c].sum())} seeds, median outer misalignment at t = {step[at300]:g}: {held:.3f}")
    worst = float(joint[:, :, at300][pos].max())
    check("rhee misalign d/n=1 det>0 joint decays", worst <= 0.02, f"largest joint measure at t = {step[at300]:g}: {worst:.2e}")
    stalled = float(np.median(joint[:, :, at300][neg]))
    check("rhee misalign d/n=1 det<0 joint stalls", stalled >= 0.1 and neg.sum() >= 2,
          f"{int(neg.sum())} seeds, median joint measure at t = {step[at300]:g}: {stalled:.2f}")


def rhee_fig3(exe, workdir):
    # Rhee et al. Fig 3 at the authors' protocol (examples/rhee_fig3.toml), its d/N = 1/4, alpha = 1e-4
    # cell (1,000 steps) with 8 seeds instead of 64 (3 s): the outer misalignment 1 - a^2 decays with
    # a local exponent near the prediction 2 (1 - 1/g) = 1.21 of the target draw while it falls
    # through [1e-2, 0.5]. Full size: median 1.218 [1.179, 1.248] over 64 seeds, per-seed 25-75%
    # 1.14-1.26; these 8 seeds give 1.23 (range 0.74-1.30). Accept a median in [1.0, 1.45].
    config = os.path.join(HERE, "..", "..", "examples", "rhee_fig3.toml")
    with run(exe, workdir, "rhee_fig3", "problem.rank=32", "init.scale=1e-4", "optimizer.lr=2e-5",
             "run.steps=1000", "run.seeds=8", "record.traced_seeds=8", config=config) as f:
        step = f["trace/step"][()].astype(float)
        mis = 1 - f["trace/block_alignment"][0].astype(float) ** 2  # K x T x 3
        for side, name in ((0, "left"), (1, "right")):
            exps = []
            for row in mis[:, :, side]:
                sel = (step > 0) & (row >= 1e-2) & (row <= 0.5)
                if np.count_nonzero(sel) >= 4:
                    exps.append(-np.polyfit(np.log(step[sel]), np.log(row[sel]), 1)[0])
            p = float(np.median(exps)) if exps else float("nan")
            check(f"rhee fig3 d/N=1/4 {name} exponent near 2(1 - 1/g) = 1.21", 1.0 <= p <= 1.45 and len(exps) >= 6,
                  f"median local exponent {p:.3f} over {len(exps)} seeds")
    # The d/N = 4 panel (d = 512, alpha = 1e-4), one seed: the inner misalignment's local exponent
    # while it falls through [1e-2, 0.5], which it does over steps 3-12; the first 13 steps, recorded
    # at every step, are the 100-step run's (9 s; its 100 steps take 45 s). Full size 2.684
    # [2.683, 2.686] over 64 seeds, per-seed spread +-0.003 (it steepens towards 4 below,
    # docs/REPRODUCTION.md); this seed 2.686. Accept [2.5, 2.9]: a t^-2 (outer-like) or t^-4
    # (asymptotic) decay in this band would fail.
    with run(exe, workdir, "rhee_fig3", "problem.rank=512", "init.scale=1e-4", "optimizer.lr=2e-5",
             "run.steps=13", "run.seeds=1", "record.traced_seeds=1", "record.points=14",
             "record.spacing=linear", config=config) as f:
        step = f["trace/step"][()].astype(float)
        row = 1 - f["trace/block_alignment"][0, 0, :, 2].astype(float) ** 2
        sel = (step > 0) & (row >= 1e-2) & (row <= 0.5)
        p = -np.polyfit(np.log(step[sel]), np.log(row[sel]), 1)[0] if np.count_nonzero(sel) >= 4 else float("nan")
        check("rhee fig3 d/N=4 inner exponent in the upper band", 2.5 <= p <= 2.9,
              f"local exponent {p:.3f} over {np.count_nonzero(sel)} record steps")


def main(argv):
    if len(argv) != 3:
        print(__doc__)
        return 2
    exe, workdir = argv[1], argv[2]
    os.makedirs(workdir, exist_ok=True)
    t0 = time.time()
    ma(exe, workdir, "asymmetric")
    ma(exe, workdir, "symmetric")
    ma_icl(exe, workdir)
    rhee_saddle(exe, workdir)
    rhee_fig3(exe, workdir)
    rhee_lr(exe, workdir)
    rhee_spike(exe, workdir)
    rhee_delta(exe, workdir)
    rhee_misalign(exe, workdir)
    print(f"{len(failures)} failed checks; total {time.time() - t0:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
