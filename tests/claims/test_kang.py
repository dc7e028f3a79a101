#!/usr/bin/env python3
"""Fast regression checks of the Kang et al. (arXiv 2602.06385) claims reproduced in
docs/REPRODUCTION.md.

    test_kang.py SPECSWEEP_EXE WORKDIR

Runs the short configs tests/claims/kang_*.toml (seconds each; different master seed than the
examples, so the thresholds are not tuned to particular seeds), reads the run files with h5py and
checks each claim against a threshold. Every check prints one line, PASS or FAIL, with the measured
value and the threshold. Exit status: 0 all pass, 1 any check failed, 2 a run failed or bad usage.

Where a threshold comes from: the theory's prediction with a margin that still separates the
claim from its alternative (e.g. SpecGD's order_kendall = +1 against GD's -1), or the full-size
measurement of docs/REPRODUCTION.md with a margin of several times its seed-to-seed spread. Each
check says which.
"""
import math
import os
import subprocess
import sys
import time

import numpy as np

try:
    import h5py
except ImportError:
    print("test_kang.py: needs h5py (Debian: python3-h5py)", file=sys.stderr)
    sys.exit(2)

HERE = os.path.dirname(os.path.abspath(__file__))
failures = []


def check(name, value, ok, threshold):
    status = "PASS" if ok else "FAIL"
    print(f"{status}  {name}: {value}  (want {threshold})", flush=True)
    if not ok:
        failures.append(name)


def run(exe, workdir, name):
    out = os.path.join(workdir, name + ".h5")
    t0 = time.time()
    cmd = [exe, "run", os.path.join(HERE, name + ".toml"), "--out", out, "--quiet", "--force"]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        print(proc.stdout)
        print(f"ERROR {' '.join(cmd)} exited {proc.returncode}", file=sys.stderr)
        sys.exit(2)
    print(f"-- {name}: ran in {time.time() - t0:.1f} s", flush=True)
    return h5py.File(out, "r")


def hits(f, c):
    """Hitting steps (S x modes) of cell c, never = +inf, and the target spectrum."""
    s = np.asarray(f["target/spectrum"][c], dtype=float)
    h = np.asarray(f["outcome/hit_step"][c], dtype=float)[:, : len(s)]
    h[h < 0] = np.inf
    return h, s


def cell_index(f, axis, value):
    vals = [v.decode() if isinstance(v, bytes) else v for v in f["cells/" + axis][()]]
    for i, v in enumerate(vals):
        if (isinstance(v, str) and v == value) or (not isinstance(v, str) and math.isclose(v, value)):
            return i
    raise KeyError(f"{axis} = {value} not among the cells {vals}")


def uniform_checks(f, c, label, eta=0.01, delta=0.05, L=2, rel=0.03):
    """SpecGD-like uniform growth: tau_i = ((1-delta) s_i)^(1/L) / eta within `rel` (the
    full-size medians are within 0.9% of it at L = 2 and 1.5% at L = 3, 4; 3% is a margin, and far
    from GD, whose hitting times differ by a factor ~5 between modes), smallest-first."""
    h, s = hits(f, c)
    theory = ((1 - delta) * s) ** (1.0 / L) / eta
    dev = np.max(np.abs(np.median(h, axis=0) / theory - 1))
    check(f"{label}: max_i |median tau_i / (((1-delta) s_i)^(1/{L}) / eta) - 1|", f"{dev:.4f}",
          dev <= rel, f"<= {rel}")
    k = np.asarray(f["outcome/order_kendall"][c])
    fr = float(np.mean(k > 0.999))
    # Theory: +1 for every seed; the full-size runs measured 100% of 16k-65k seeds.
    check(f"{label}: fraction of seeds with order_kendall = +1 (smallest first)", f"{fr:.3f}",
          fr >= 0.95, ">= 0.95")


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[3].strip(), file=sys.stderr)
        return 2
    exe, workdir = argv[1], argv[2]
    os.makedirs(workdir, exist_ok=True)
    t_start = time.time()

    # (1) SpecGD exact, Fig. 2 setting.
    f = run(exe, workdir, "kang_uniform_growth")
    uniform_checks(f, 0, "(1) specgd exact")
    cv = float(np.median(f["outcome/uniformity_cv"][0]))
    # Full size: median 9.3e-4 (IQR 8e-4..1.0e-3); GD's is ~0.65. 0.01 is 10x the measurement.
    check("(1) specgd exact: median uniformity_cv", f"{cv:.2e}", cv <= 0.01, "<= 0.01")

    # (1b) smooth(eps): eps = 1e-6 behaves like the polar factor, eps = 1 like GD.
    f = run(exe, workdir, "kang_smooth")
    c = cell_index(f, "optimizer.smooth_eps", 1e-6)
    uniform_checks(f, c, "(1b) smooth eps=1e-6")
    cv = float(np.median(f["outcome/uniformity_cv"][c]))
    # Full size: median 3e-3 at eps = 1e-6 (1e-3 exact, 0.05 at eps = 1e-3 where it starts to break).
    check("(1b) smooth eps=1e-6: median uniformity_cv", f"{cv:.2e}", cv <= 0.015, "<= 0.015")
    c = cell_index(f, "optimizer.smooth_eps", 1.0)
    k = float(np.median(f["outcome/order_kendall"][c]))
    # Full size: median -1 (largest-first) at eps = 1: O_eps(G) ~ G / sqrt(eps) is a GD step.
    check("(1b) smooth eps=1: median order_kendall (largest first, GD-like)", f"{k:.3f}", k <= -0.8,
          "<= -0.8")

    # (2) GD: largest-first, tau_i s_i eta = ln(1/gamma) + const.
    f = run(exe, workdir, "kang_gd_order")
    med = {}
    for gamma in (1e-2, 1e-4):
        c = cell_index(f, "init.scale", gamma)
        h, s = hits(f, c)
        k = np.asarray(f["outcome/order_kendall"][c])
        fr = float(np.mean(k < -0.999))
        # Theory -1; full size 98-100% of seeds (a rare seed swaps the two largest modes at gamma=1e-2).
        check(f"(2) gd gamma={gamma:g}: fraction with order_kendall = -1 (largest first)", f"{fr:.3f}",
              fr >= 0.85, ">= 0.85")
        ts = h * s[None, :] * 0.01
        cv = float(np.median(np.std(ts, axis=1) / np.mean(ts, axis=1)))
        # Theory: tau_i s_i the same for every mode; full size median per-seed CV 0.04-0.07.
        check(f"(2) gd gamma={gamma:g}: median per-seed CV over modes of tau_i s_i", f"{cv:.3f}",
              cv <= 0.15, "<= 0.15")
        med[gamma] = np.median(ts, axis=0)
    slope = (med[1e-4] - med[1e-2]) / (math.log(1e4) - math.log(1e2))
    # Theory: d(tau_i s_i eta)/d ln(1/gamma) = 1 (linearized growth gamma^2 exp(2 eta s_i t));
    # full size 1.01-1.05 per mode (3 gammas, 8192 seeds); with 32 seeds and 2 gammas the per-mode
    # medians scatter by ~0.1, hence [0.8, 1.25]. No log dependence would give 0.
    check("(2) gd: slope of median tau_i s_i eta against ln(1/gamma), every mode",
          np.round(slope, 3).tolist(), bool(np.all((slope >= 0.8) & (slope <= 1.25))), "in [0.8, 1.25]")

    # (3) Muon with momentum: exact polar (Fig. 7) and jordan5 Newton-Schulz (Fig. 8).
    f = run(exe, workdir, "kang_muon")
    c = cell_index(f, "optimizer.orthogonalizer", "exact")
    uniform_checks(f, c, "(3) muon exact beta=0.95")
    cv = float(np.median(f["outcome/uniformity_cv"][c]))
    check("(3) muon exact: median uniformity_cv", f"{cv:.2e}", cv <= 0.01, "<= 0.01")
    c = cell_index(f, "optimizer.orthogonalizer", "newton_schulz")
    h, s = hits(f, c)
    k = float(np.median(f["outcome/order_kendall"][c]))
    cv = float(np.median(f["outcome/uniformity_cv"][c]))
    first = float(np.mean(np.argmin(h, axis=1) == len(s) - 1))
    # Full size (8192 seeds): median order_kendall 0.6 (IQR 0.6-0.8), uniformity_cv ~0.12, smallest
    # mode first in ~100%. jordan5 maps singular values into [0.68, 1.13], so adjacent modes can swap;
    # the thresholds keep "mostly smallest-first, near-uniform" and exclude GD (-1, CV ~0.65).
    check("(3) muon jordan5: median order_kendall", f"{k:.3f}", k >= 0.4, ">= 0.4")
    check("(3) muon jordan5: median uniformity_cv", f"{cv:.3f}", cv <= 0.25, "<= 0.25")
    check("(3) muon jordan5: fraction with the smallest mode first", f"{first:.3f}", first >= 0.9,
          ">= 0.9")

    # (4) rank 3 < 5: plateau at the best rank-3 approximation.
    f = run(exe, workdir, "kang_rank3")
    e = np.asarray(f["outcome/excess"][0])
    q50, q95 = np.quantile(e, [0.5, 0.95])
    # Excess is relative to the rank-3 optimum 1/2 (2^2 + 1^2). Full size (cosine, fp64): median
    # 6e-15, 95% 2e-14. 1e-8 is the fp64 floor with a wide margin; a plateau at a worse point
    # (a missed top-3 mode) would be >= 1/2 * 1^2 / 27.5 ~ 0.02.
    check("(4) rank 3: median relative excess over the best rank-3 loss", f"{q50:.2e}", q50 <= 1e-8, "<= 1e-8")
    check("(4) rank 3: 95% quantile of the relative excess", f"{q95:.2e}", q95 <= 1e-6, "<= 1e-6")
    sv = np.asarray(f["trace/sv"][0])[:, -1, :]
    dev = float(np.max(np.abs(sv / np.array([5.0, 4.0, 3.0]) - 1)))
    check("(4) rank 3: max_i |sigma_i(W) / s_i - 1| at the end (traced seeds)", f"{dev:.2e}",
          dev <= 1e-4, "<= 1e-4")

    # Beyond the papers (docs/REPRODUCTION.md): Muon's momentum before or after the polar factor.
    # pre_polar keeps SpecGD's step of eta per singular value (the buffer's polar factor has unit
    # singular values): tau_i = sqrt(0.95 s_i) / eta within 3% (full size 219, 196, 170, 139, 98
    # against 218, 195, 169, 138, 98). post_polar sums unit steps with Nesterov momentum weights,
    # d_t = 1 + beta (1 - beta^(t+1)) / (1 - beta): tau_i is the first T with eta sum_{t<T} d_t >=
    # sqrt(0.95 s_i) (24, 22, 21, 18, 15; measured 25, 23, 21, 19, 15, the first step spent on F1 = 0).
    # Accept the median within 2 steps of it.
    f = run(exe, workdir, "momentum_order_fast")
    pre, post = cell_index(f, "optimizer.momentum_order", "pre_polar"), cell_index(f, "optimizer.momentum_order", "post_polar")
    uniform_checks(f, pre, "momentum pre_polar")
    h, s = hits(f, post)
    beta, eta = 0.95, 0.01
    travel = np.cumsum([1 + beta * (1 - beta ** (t + 1)) / (1 - beta) for t in range(1000)]) * eta
    predicted = np.array([np.argmax(travel >= np.sqrt(0.95 * si)) + 1 for si in s])
    dev = np.max(np.abs(np.median(h, axis=0) - predicted))
    check("momentum post_polar: max_i |median tau_i - momentum-sum prediction| (steps)", f"{dev:.1f}", dev <= 2,
          "<= 2")

    # (5) depth 3 and 4: tau_i ∝ s_i^(1/L).
    for L in (3, 4):
        f = run(exe, workdir, f"kang_depth{L}")
        uniform_checks(f, 0, f"(5) depth {L}", L=L)
        h, s = hits(f, 0)
        x = np.log(s) - np.log(s).mean()
        y = np.log(h) - np.log(h).mean(axis=1, keepdims=True)
        p = float(np.median((y @ x) / (x @ x)))
        # Theory 1/L; full size per-seed slopes 0.326 (L=3) and 0.243 (L=4): a step or two of
        # start-up lag lowers them slightly. 0.03 is a margin; 1/2 (the L=2 law) is far outside.
        check(f"(5) depth {L}: median per-seed log-log slope p of tau_i against s_i", f"{p:.4f}",
              abs(p - 1 / L) <= 0.03, f"1/L = {1 / L:.4f} +- 0.03")

    # (6) basin probe.
    f = run(exe, workdir, "kang_basin")
    st = np.asarray(f["outcome/status"][0])
    conv = st == 0
    fr = float(np.mean(conv))
    check("(6) basin: fraction of seeds converged (cosine lr)", f"{fr:.3f}", fr >= 0.95, ">= 0.95")
    bc = np.asarray(f["outcome/basin_converged"][0])[conv]
    bcl = np.asarray(f["outcome/basin_closer"][0])[conv]
    # Full size: 100% of 32768 probes converge and end closer. Theory (Figs. 5-6): all.
    check("(6) basin: fraction of probes that converge", f"{np.mean(bc):.3f}", np.mean(bc) >= 0.95, ">= 0.95")
    check("(6) basin: fraction of probes that end closer to F*", f"{np.mean(bcl):.3f}", np.mean(bcl) >= 0.95,
          ">= 0.95")

    # (7) l2 regularization: global convergence to the soft-thresholded target.
    f = run(exe, workdir, "kang_l2")
    kinds = [v.decode() if isinstance(v, bytes) else v for v in f["cells/optimizer.kind"][()]]
    lams = np.asarray(f["cells/problem.l2"][()], dtype=float)
    for c in range(len(kinds)):
        st = np.asarray(f["outcome/status"][c])
        fr = float(np.mean(st == 0))
        # Theory: every seed reaches a global minimum; full size 100% of 2048 per cell.
        check(f"(7) l2 {kinds[c]} lambda={lams[c]:g}: fraction converged", f"{fr:.3f}", fr >= 0.9, ">= 0.9")
        F1 = np.asarray(f["trace/final/F1"][c])
        F2 = np.asarray(f["trace/final/F2"][c])
        s = np.asarray(f["target/spectrum"][c], dtype=float)
        target = np.maximum(s - lams[c], 0)
        ok = st[: F1.shape[0]] == 0
        errs = [np.max(np.abs(np.linalg.svd(F1[t] @ F2[t], compute_uv=False)[: len(target)] - target))
                for t in range(F1.shape[0]) if ok[t]]
        err = float(max(errs)) if errs else math.inf
        # A relative excess <= 1e-6 of 1/2|M|^2 = 27.5 bounds |dW| by ~7e-3; measured ~1e-6.
        check(f"(7) l2 {kinds[c]} lambda={lams[c]:g}: max |sigma_i(AB) - (s_i - lambda)_+| (converged traced)",
              f"{err:.2e}", err <= 1e-2, "<= 1e-2")

    # (8) Beyond the papers: Newton-Schulz against the polar factor of its own input
    # (record.orth_error), over the growth phase (record steps after 0 and before the seed's first
    # hit). Full size (examples/ns_error.toml, 1024 seeds): jordan5 x5 band [0.682, 1.134], median
    # error 0.19, exact smallest-first order in 0/1024; polar_express x8 error 9.6e-7, 1024/1024.
    f = run(exe, workdir, "ns_error_fast")
    step = np.asarray(f["trace/step"][()])
    for preset in ("jordan5", "polar_express"):
        c = cell_index(f, "optimizer.ns_coefficients", preset)
        hit = np.asarray(f["outcome/hit_step"][c])
        err = np.asarray(f["trace/orth_error"][c])
        lo, hi = np.asarray(f["trace/orth_band_min"][c]), np.asarray(f["trace/orth_band_max"][c])
        first = np.array([min([h for h in hit[k] if h >= 0], default=step[-1]) for k in range(err.shape[0])])
        growth = (step[None, :] > 0) & (step[None, :] < first[:, None])
        e, a, b = float(np.median(err[growth])), float(np.min(lo[growth])), float(np.max(hi[growth]))
        ordered = float(np.mean(np.asarray(f["outcome/order_kendall"][c]) == 1.0))
        if preset == "jordan5":
            # The scalar quintic x5 maps [0.01, 1] into [0.682, 1.135] (kernels/core/orthogonalize.hpp).
            check("(8) jordan5 x5: orth band during growth", f"[{a:.3f}, {b:.3f}]",
                  0.675 <= a <= 0.70 and 1.10 <= b <= 1.136, "within [0.675, 1.136], reaching 0.70 and 1.10")
            check("(8) jordan5 x5: median orth_error during growth", f"{e:.3f}", 0.1 <= e <= 0.3, "in [0.1, 0.3]")
            check("(8) jordan5 x5: fraction of seeds in the exact smallest-first order", f"{ordered:.3f}",
                  ordered <= 0.1, "<= 0.1 (the swap)")
        else:
            check("(8) polar_express x8: median orth_error during growth", f"{e:.2e}", e <= 1e-5, "<= 1e-5")
            check("(8) polar_express x8: fraction in the exact smallest-first order", f"{ordered:.3f}",
                  ordered == 1.0, "= 1")

    # (9) Beyond the papers: relative gradient noise. Full size (examples/gradient_noise.toml, 256
    # seeds per cell): SpecGD smallest-first in 256/256 at sigma 0.1, largest-first in 255/256 at
    # sigma 3; GD largest-first in 256/256 at every level.
    f = run(exe, workdir, "gradient_noise_fast")
    kinds = [v.decode() if isinstance(v, bytes) else v for v in f["cells/optimizer.kind"][()]]
    sigmas = np.asarray(f["cells/optimizer.gradient_noise"][()], dtype=float)
    for c, (kind, sigma) in enumerate(zip(kinds, sigmas)):
        tau = np.asarray(f["outcome/order_kendall"][c])
        want = 1.0 if (kind == "specgd" and sigma < 1) else -1.0
        frac = float(np.mean(tau == want))
        order = "smallest-first" if want > 0 else "largest-first"
        check(f"(9) {kind} relative noise {sigma:g}: fraction of seeds exactly {order}", f"{frac:.3f}",
              frac >= 0.9, ">= 0.9")

    # (10) Beyond the papers: the spectral entropy of W. Full size (examples/spectral_entropy.toml):
    # SpecGD 1.609 (= log 5) at step 58 in every traced seed, GD median 0.074 at step 107, both at the
    # target's 1.277 by step 1261.
    f = run(exe, workdir, "spectral_entropy_fast")
    step = np.asarray(f["trace/step"][()])
    s = np.asarray(f["target/spectrum"][0], dtype=float)
    q = s ** 2 / np.sum(s ** 2)
    target = float(-np.sum(q * np.log(q)))
    at = lambda t: int(np.argmin(np.abs(step - t)))  # noqa: E731
    for kind in ("specgd", "gd"):
        e = np.asarray(f["trace/spectral_entropy"][cell_index(f, "optimizer.kind", kind)])
        if kind == "specgd":
            dev = float(np.max(np.abs(e[:, at(58)] - np.log(5))))
            check("(10) specgd: max |entropy - log 5| at step ~58 over traced seeds", f"{dev:.2e}", dev <= 5e-3,
                  "<= 5e-3 (equal-rate growth)")
        else:
            med = float(np.median(e[:, at(107)]))
            check("(10) gd: median entropy at step ~107", f"{med:.3f}", med <= 0.3, "<= 0.3 (largest mode first)")
        end = float(np.max(np.abs(e[:, -1] - target)))
        check(f"(10) {kind}: max |entropy - target's {target:.3f}| at the end", f"{end:.2e}", end <= 0.02, "<= 0.02")

    # (11) Beyond the papers: matrix sensing with p = 200 Gaussian measurements of a rank-2 20 x 20
    # M. Full size (examples/matrix_sensing.toml, 128 seeds): both recover every seed (median
    # ||W - M|| / ||M|| 2.1e-6 SpecGD, 1.2e-5 GD), SpecGD largest-first in 121/128 seeds (hits 32, 36),
    # GD in 128/128; at 64 seeds 0.92 and 1.
    f = run(exe, workdir, "matrix_sensing_fast")
    for kind in ("specgd", "gd"):
        c = cell_index(f, "optimizer.kind", kind)
        rec = np.asarray(f["outcome/recovery_error"][c])
        frac = float(np.mean(rec <= 1e-3))
        check(f"(11) sensing p = 200, {kind}: fraction of seeds with recovery error <= 1e-3", f"{frac:.3f}",
              frac >= 0.9, ">= 0.9")
        tau = np.asarray(f["outcome/order_kendall"][c])
        down = float(np.mean(tau == -1.0))
        check(f"(11) sensing p = 200, {kind}: fraction of seeds largest-first", f"{down:.3f}", down >= 0.8,
              ">= 0.8 (factorization: SpecGD smallest-first in every seed)")

    print(f"{'FAILED' if failures else 'OK'}: {len(failures)} failed check(s); "
          f"total {time.time() - t_start:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
