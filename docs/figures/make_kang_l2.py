#!/usr/bin/env python3
"""Figure for examples/kang_l2.toml: final singular values of the product AB (traced seeds)
against the soft-thresholded target (s_i - lambda)_+, per optimizer and lambda, and the converged
fraction per cell (Wilson 95%).

    python3 docs/figures/make_kang_l2.py kang_l2.h5 OUT.png
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kang_numbers import Run, final_product_sv, save_figure, wilson  # noqa: E402

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PALETTE = {"gd": "#D55E00", "specgd": "#0072B2"}
MARKERS = ["o", "s", "^", "D"]


def main(path, out):
    run = Run(path)
    kinds = run.axes["optimizer.kind"]
    lams = [float(x) for x in run.axes["problem.l2"]]
    ulam = sorted(set(lams))
    fig, (a, b) = plt.subplots(1, 2, figsize=(9.0, 3.8), layout="constrained",
                               gridspec_kw={"width_ratios": [1.2, 1]})
    a.plot([0, 5.2], [0, 5.2], color="0.6", lw=0.8)
    rows = []
    for c in range(run.cells):
        lam, kind = lams[c], kinds[c]
        s = run.spectrum[c]
        sv = final_product_sv(run, c)
        target = np.maximum(s - lam, 0)[: sv.shape[1]]
        off = 0.06 if kind == "specgd" else -0.06  # side by side
        a.plot(np.tile(target, (sv.shape[0], 1)).ravel() + off, sv.ravel(), MARKERS[ulam.index(lam)],
               ls="", ms=4, mfc="none", color=PALETTE.get(kind, "k"),
               label=f"{kind}, λ = {lam:g}")
        st = run.get("outcome/status", c)
        k, n = int((st == 0).sum()), st.size
        rows.append((kind, lam, k, n, *wilson(k, n), np.max(np.abs(sv - target))))
    a.set_xlabel(r"soft-thresholded target $(s_i - \lambda)_+$")
    a.set_ylabel(r"final $\sigma_i(AB)$ of the traced seeds")
    a.set_title("product = soft-thresholded target (grey: identity)", fontsize=9)
    a.legend(fontsize=7, ncols=2, loc="upper left")
    a.grid(alpha=0.3)

    for j, (kind, lam, k, n, lo, hi, err) in enumerate(rows):
        p = k / n
        b.bar(j, p, color=PALETTE.get(kind, "k"), alpha=0.35 + 0.2 * ulam.index(lam), width=0.7)
        b.errorbar(j, p, yerr=[[max(p - lo, 0)], [max(hi - p, 0)]], color="k", capsize=3)
        b.text(j, 0.04, f"{k}/{n}\nmax|Δσ|\n{err:.0e}", ha="center", fontsize=6.5, color="black")
    b.set_xticks(range(len(rows)), [f"{r[0]}\nλ={r[1]:g}" for r in rows], fontsize=7)
    b.set_ylim(0, 1.08)
    b.set_ylabel("fraction converged (Wilson 95%)")
    b.set_title("converged = global minimum of the regularized loss", fontsize=9)
    fig.suptitle(f"l2-regularized factorization from random Gaussian inits (std 1/sqrt(max dim)), "
                 f"cosine lr 0.02, {run.seeds} seeds per cell", fontsize=10)
    save_figure(fig, out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
