#!/usr/bin/env python3
"""Rhee, Simon, Karkada (arXiv 2606.30509), Fig 3: misalignment decay exponents against d/n.

    make_rhee_misalign.py RUN.h5 ... [--window 10 300] [--floor 1e-12] [--boot 2000]
                          [--out docs/figures/rhee_misalign.png]

Each RUN.h5 is a run of examples/rhee_misalign.toml at one rank d (--set problem.rank=d); its
cells are the init scales alpha. The misalignment of a traced seed at a record step is
1 - /trace/block_alignment (side 0 left: W's left singular vectors against the target's U; 1 right:
W's right ones against V; 2 inner: P's right singular vectors against Q's), and the joint one is
/trace/alignment = ||off(U^T W V)|| / ||diag(U^T W V)||.

For every (d/n, alpha, side) the script fits a power law median(t) ~ t^-p to the median over seeds,
by least squares in log-log over the record steps in --window where the median is at least --floor
(fp64 rounds a score near 1 to ~1e-15, so smaller misalignments are noise), and gives a 95%
bootstrap interval for p (seeds resampled with replacement, the median and the fit redone, 2.5 and
97.5 percentiles). The sides fitted are those a factor can be misaligned on: left and right for
d < n (P's d columns must find the target's top-d subspace), inner for d > n (the n-dimensional row
spaces of P and Q must coincide); for d = n it prints the largest median block misalignment in the
window instead, and fits the joint measure separately for the seeds with det W(0) > 0 and < 0
(/outcome/init_det_sign); for every d/n it also fits the joint measure over all seeds. It also prints the median and
25-75% range of the seeds' own exponents, and the median misalignment at t = 3 x the window start
(how it scales with alpha). Draws one panel per d/n: median
misalignment of the fitted sides (and, thin, the joint measure) against t on log-log axes.
"""
import argparse
import sys

import h5py
import numpy as np
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SIDES = ("left", "right", "inner")
STYLES = ("-", "--", ":")
COLORS = ("#0072B2", "#009E73", "#D55E00", "#CC79A7", "#E69F00")


def load(path):
    with h5py.File(path, "r") as f:
        run = {
            "path": path,
            "n": f["target/M"].shape[2],
            "d": f["trace/init/F1"].shape[3],  # C x K x m x r
            "alpha": np.asarray(f["cells/init.scale"][()], dtype=float),
            "step": np.asarray(f["trace/step"][()], dtype=float),
            "mis": 1.0 - np.asarray(f["trace/block_alignment"][()], dtype=float),  # C x K x T x 3
            "joint": np.asarray(f["trace/alignment"][()], dtype=float),  # C x K x T
            "det": np.asarray(f["outcome/init_det_sign"][()], dtype=float),  # C x S (NaN unless d = n)
        }
    run["ratio"] = run["d"] / run["n"]
    return run


def fit(step, curves, window, floor, boot, rng):
    """Exponent p of median(t) ~ t^-p over the window (curves: seeds x steps), its bootstrap 95%
    interval and the number of points; None when fewer than 5 points qualify."""
    med = np.median(curves, axis=0)
    sel = (step >= window[0]) & (step <= window[1]) & (med >= floor)
    if sel.sum() < 5:
        return None
    x = np.log(step[sel])
    p = -np.polyfit(x, np.log(med[sel]), 1)[0]
    K = curves.shape[0]
    resampled = np.median(curves[rng.integers(0, K, size=(boot, K))][:, :, sel], axis=1)  # boot x pts
    slopes = -np.polyfit(x, np.log(np.maximum(resampled, floor * 1e-3)).T, 1)[0]
    lo, hi = np.percentile(slopes, [2.5, 97.5])
    return p, lo, hi, int(sel.sum()), step[sel][0], step[sel][-1]


def per_seed(step, curves, window, floor):
    """Median and 25-75% range over seeds of each seed's own exponent (its curve fitted over the
    window points where it is at least floor; seeds with fewer than 5 such points left out)."""
    ps = []
    for y in curves:
        sel = (step >= window[0]) & (step <= window[1]) & (y >= floor)
        if sel.sum() >= 5:
            ps.append(-np.polyfit(np.log(step[sel]), np.log(y[sel]), 1)[0])
    if not ps:
        return "per seed: none"
    q = np.percentile(ps, [25, 50, 75])
    return f"per seed: median {q[1]:.2f} (25-75% {q[0]:.2f}-{q[2]:.2f}, {len(ps)} seeds)"


def fitted_sides(run):
    if run["d"] < run["n"]:
        return (0, 1)
    if run["d"] > run["n"]:
        return (2,)
    return ()


def describe(result):
    p, lo, hi, pts, t0, t1 = result
    return f"p = {p:.2f} [bootstrap 95%: {lo:.2f}, {hi:.2f}] ({pts} points, t {t0:.0f}-{t1:.0f})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--window", type=float, nargs=2, default=(10.0, 300.0))
    ap.add_argument("--floor", type=float, default=1e-12)
    ap.add_argument("--boot", type=int, default=2000)
    ap.add_argument("--out", default="docs/figures/rhee_misalign.png")
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    runs = sorted((load(p) for p in a.runs), key=lambda r: r["ratio"])

    fig, axes = plt.subplots(1, len(runs), figsize=(4.0 * len(runs), 3.9), sharey=True, layout="constrained",
                             squeeze=False)
    for ax, run in zip(axes[0], runs):
        step, K = run["step"], run["mis"].shape[1]
        t = np.maximum(step, 0.5)  # step 0 on a log axis
        print(f"{run['path']}: d/n = {run['ratio']:g} (n = {run['n']}, d = {run['d']}), {K} seeds, "
              f"window t in [{a.window[0]:g}, {a.window[1]:g}], floor {a.floor:g}")
        for c, alpha in enumerate(run["alpha"]):
            color = COLORS[c % len(COLORS)]
            for s in fitted_sides(run):
                r = fit(step, run["mis"][c, :, :, s], a.window, a.floor, a.boot, rng)
                med = np.median(run["mis"][c, :, :, s], axis=0)
                at = int(np.argmin(np.abs(step - a.window[0] * 3)))
                print(f"  alpha {alpha:g} {SIDES[s]:5s}: " + (describe(r) if r else "too few points above the floor")
                      + f"; {per_seed(step, run['mis'][c, :, :, s], a.window, a.floor)}; "
                      f"median at t = {step[at]:.0f}: {med[at]:.2e}")
                ax.plot(t, np.maximum(med, 1e-16), STYLES[s], color=color, lw=1.6,
                        label=f"α = {alpha:g}, {SIDES[s]}" + (f": p = {r[0]:.2f}" if r else ""))
            if not fitted_sides(run):
                inside = (step >= a.window[0]) & (step <= a.window[1])
                worst = np.median(run["mis"][c], axis=0)[inside].max(axis=0)
                print(f"  alpha {alpha:g} blocks: largest median misalignment in the window: "
                      + ", ".join(f"{SIDES[s]} {worst[s]:.1e}" for s in range(3)))
                med = np.median(run["mis"][c, :, :, 2], axis=0)
                ax.plot(t, np.maximum(med, 1e-16), STYLES[2], color=color, lw=1.0,
                        label=f"α = {alpha:g}, inner (left, right ≤ {max(worst[0], worst[1], 1e-16):.0e})")
                # Square factors: the seeds split by the sign of det W(0) (the spike schedule's
                # failure mode: det < 0 leaves one direction near zero after step 1).
                det = run["det"][c, :K]
                for sign, style in ((1, "-"), (-1, "--")):
                    mine = det == sign
                    if mine.sum() < 2:
                        continue
                    rs = fit(step, run["joint"][c, mine], a.window, a.floor, a.boot, rng)
                    med = np.median(run["joint"][c, mine], axis=0)
                    print(f"  alpha {alpha:g} joint, det W(0) {sign:+d} ({int(mine.sum())} seeds): "
                          + (describe(rs) if rs else "too few points")
                          + f"; median at t = {step[-1]:.0f}: {med[-1]:.2e}")
                    ax.plot(t, med, style, color=color, lw=1.6,
                            label=f"α = {alpha:g}, joint, det W(0) {'>' if sign > 0 else '<'} 0"
                            + (f": p = {rs[0]:.2f}" if rs else ""))
            rj = fit(step, run["joint"][c], a.window, a.floor, a.boot, rng)
            print(f"  alpha {alpha:g} joint ||off(UᵀWV)||/||diag||: " + (describe(rj) if rj else "too few points")
                  + f"; {per_seed(step, run['joint'][c], a.window, a.floor)}")
            if fitted_sides(run):
                ax.plot(t, np.median(run["joint"][c], axis=0), "-.", color=color, lw=0.8, alpha=0.7,
                        label=f"α = {alpha:g}, joint" + (f": p = {rj[0]:.2f}" if rj else ""))
        ax.axvspan(*a.window, color="0.92", zorder=0)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(1e-16, 3)
        ax.set_xlabel("step t (lr 0.002)")
        ax.set_title(f"d/n = {run['ratio']:g}  (n = {run['n']}, d = {run['d']}, {K} seeds)", fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=6, loc="lower left", ncol=1)
    axes[0][0].set_ylabel("median: 1 − block score; joint ‖off‖/‖diag‖", fontsize=9)
    fig.suptitle("Rhee et al. Fig 3: Muon (exact polar, no momentum), M* = diag(10/k); shaded: fit window",
                 fontsize=10)
    fig.savefig(a.out, dpi=80)
    print(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
