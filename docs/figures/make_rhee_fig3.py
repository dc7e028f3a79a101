#!/usr/bin/env python3
"""Rhee, Simon, Karkada (arXiv 2606.30509), Fig 3 at the authors' protocol: misalignment exponents.

    make_rhee_fig3.py DIR [--out docs/figures/rhee_fig3.png]

DIR holds the nine runs of bench/rhee_fig3_grid.py (rhee_fig3_d{d}_a{alpha}.h5: N = 128, d in
{32, 128, 512}, alpha in {1e-5, 1e-4, 1e-3}, the authors' target draw, lr, step counts and
block-alignment tolerances; examples/rhee_fig3.toml). As in the authors' fig3 notebook
(github dkarkada/muon-mfac), a seed's misalignment on a side is 1 - a^2 with a its block alignment
score (/trace/block_alignment: 0 left, 1 right, 2 inner), and time is t / t_final with
t_final = steps + (sqrt(max s) - sqrt(sigma_min(W(end)))) / lr, per seed (sigma_min of the N x N
product: 0 when d < N).

Prediction (the paper): at d/N = 1/4 the outer misalignment decays as t^-p with p = 2 (1 - 1/g),
g the mean over i < 32 of s_i / s_33 of the target, computed here from the run's own spectrum; at
d/N = 4 the inner misalignment decays as t^-4. The paper draws no line at d/N = 1.

Exponents: for every seed, a least-squares line through log(misalignment) against log(t) over the
record steps where the misalignment lies in one band (BANDS: the upper decades of the paper's
plotted range, its lowest decade, and below it down to fp64's floor near 1e-15): the local
exponent, which steepens as the misalignment falls. Printed per cell and band as the median over
seeds with a 95% interval for it (order statistics, exact binomial) and the 25-75% range over seeds;
seeds with fewer than 4 points in a band are counted and left out. Draws the paper's three panels:
the median over seeds with its 25-75% band against the median t / t_final of the cell, and the predicted slopes.
"""
import argparse
import os
import sys
import tomllib

import h5py
import numpy as np
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

D_VALUES = (32, 128, 512)
ALPHAS = ("1e-5", "1e-4", "1e-3")
COLORS = {"1e-5": "purple", "1e-4": "royalblue", "1e-3": "mediumseagreen"}
SIDE = {"left": 0, "right": 1, "inner": 2}
# Misalignment bands for the local exponents: the paper's plotted range is [1e-3, 1].
BANDS = ((1e-2, 0.5), (1e-3, 1e-2), (1e-9, 1e-3))
# The paper's panels: (d, sides shown, predicted exponent or None).
PANELS = ((32, ("left", "right")), (128, ("inner",)), (512, ("inner",)))


def load(path):
    with h5py.File(path, "r") as f:
        text = f["cells/config"][0]
        config = tomllib.loads(text.decode() if isinstance(text, bytes) else str(text))
        score = np.asarray(f["trace/block_alignment"][0], dtype=float)  # K x T x 3
        sv = np.asarray(f["trace/sv"][0], dtype=float)  # K x T x r
        step = np.asarray(f["trace/step"][()], dtype=float)
    n = config["problem"]["m"]
    lr = config["optimizer"]["lr"]
    steps = config["run"]["steps"]
    s = np.asarray(config["problem"]["target"]["spectrum"], dtype=float)
    sigma_min = sv[:, -1, n - 1] if sv.shape[2] >= n else np.zeros(sv.shape[0])
    t_final = steps + (np.sqrt(s.max()) - np.sqrt(np.maximum(sigma_min, 0.0))) / lr
    return {"step": step, "mis": 1.0 - score**2, "t_final": t_final, "spectrum": s, "n": n,
            "steps": steps, "lr": lr}


def predicted_outer_exponent(s, planted=32):
    g = np.mean(s[:planted] / s[planted])
    return 2.0 * (1.0 - 1.0 / g)


def slope(logt, logm):
    a = np.vstack([logt, np.ones_like(logt)]).T
    return -np.linalg.lstsq(a, logm, rcond=None)[0][0]


def seed_exponents(step, mis, band):
    """Per seed (rows of mis): the exponent over the points in band, NaN with fewer than 4."""
    out = np.full(mis.shape[0], np.nan)
    ok = step > 0
    for k, row in enumerate(mis):
        sel = ok & (row >= band[0]) & (row <= band[1])
        if np.count_nonzero(sel) >= 4:
            out[k] = slope(np.log(step[sel]), np.log(row[sel]))
    return out


def median_interval(x):
    """Median of x and its 95% interval from order statistics (exact binomial)."""
    from math import comb
    x = np.sort(x[np.isfinite(x)])
    n = len(x)
    if n == 0:
        return np.nan, np.nan, np.nan
    cdf = np.cumsum([comb(n, k) / 2.0**n for k in range(n + 1)])
    lo = int(np.searchsorted(cdf, 0.025))  # P(B < lo + 1) >= 0.025
    hi = int(np.searchsorted(cdf, 0.975))
    return float(np.median(x)), float(x[max(lo - 1, 0)]), float(x[min(hi, n - 1)])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--out", default="docs/figures/rhee_fig3.png")
    a = ap.parse_args()
    runs = {}
    for d in D_VALUES:
        for alpha in ALPHAS:
            path = os.path.join(a.dir, f"rhee_fig3_d{d}_a{alpha}.h5")
            if os.path.exists(path):
                runs[d, alpha] = load(path)
    if not runs:
        print(f"no rhee_fig3_d*_a*.h5 in {a.dir}", file=sys.stderr)
        return 2
    first = next(iter(runs.values()))
    p_outer = predicted_outer_exponent(first["spectrum"])
    print(f"target: g = mean s_i / s_33 over i < 32 -> predicted outer exponent p = 2 (1 - 1/g) = {p_outer:.4f}")
    predicted = {32: p_outer, 512: 4.0}

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), layout="constrained")
    for ax, (d, sides) in zip(axes, PANELS):
        for alpha in ALPHAS:
            run = runs.get((d, alpha))
            if run is None:
                continue
            t_rel = run["step"] / np.median(run["t_final"])
            for side in sides:
                mis = run["mis"][:, :, SIDE[side]]
                print(f"d/N = {d / run['n']:g}, alpha = {alpha}, {side}: final median misalignment "
                      f"{np.median(mis[:, -1]):.2e} at step {run['steps']}, t_final median {np.median(run['t_final']):.4g}")
                for band in BANDS:
                    per_seed = seed_exponents(run["step"], mis, band)
                    med, lo, hi = median_interval(per_seed)
                    used = int(np.count_nonzero(np.isfinite(per_seed)))
                    if used == 0:
                        print(f"    band [{band[0]:g}, {band[1]:g}]: no seed has 4 record steps in it")
                        continue
                    q25, q75 = np.nanpercentile(per_seed, [25, 75])
                    print(f"    band [{band[0]:g}, {band[1]:g}]: local exponent median {med:.3f} [95% {lo:.3f}, {hi:.3f}], "
                          f"25-75% {q25:.3f}-{q75:.3f}, {used} of {mis.shape[0]} seeds")
                med_curve = np.median(mis, axis=0)
                q = np.percentile(mis, [25, 75], axis=0)
                keep = run["step"] > 0
                ls = ":" if side == "left" else "--" if side == "right" else "-"
                ax.plot(t_rel[keep], med_curve[keep], color=COLORS[alpha], ls=ls, lw=1.6,
                        label=f"α = {alpha}" + (f", {side}" if len(sides) > 1 else ""))
                ax.fill_between(t_rel[keep], q[0][keep], q[1][keep], color=COLORS[alpha], alpha=0.15, lw=0)
        if d in predicted:
            x = np.geomspace(1e-6, 3e-3, 50)
            p = predicted[d]
            ax.plot(x, 0.3 * (x / 1e-4) ** (-p), color="black", lw=1.2, label=f"t^-{p:.2f} (prediction)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(5e-7, 3e-3)
        ax.set_ylim(1e-3, 1.1)
        ax.grid(True, which="both", alpha=0.25)
        ax.set_xlabel("t / t_final")
        which = "outer (left ··, right --)" if len(sides) > 1 else "inner"
        ax.set_ylabel(f"1 − a² ({which})")
        ax.set_title(f"d/N = {d / first['n']:g} (N = {first['n']}, d = {d})", fontsize=10)
        ax.legend(fontsize=7, loc="lower left")
    fig.suptitle("Rhee et al. Fig 3 at the authors' protocol: median over 64 seeds, 25–75% band", fontsize=10)
    fig.savefig(a.out, dpi=110)
    print(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
