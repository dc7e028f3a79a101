#!/usr/bin/env python3
"""Figure for examples/kang_gd_order.toml: GD's largest-first hitting times against s_i, and
tau_i s_i eta against ln(1/gamma) (theory: slope 1, the same line for every mode).

    python3 docs/figures/make_kang_gd_order.py kang_gd_order.h5 OUT.png
"""
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kang_numbers import Run, save_figure  # noqa: E402

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import NullLocator  # noqa: E402

PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7"]
MARKERS = ["o", "s", "^", "D", "v"]


def main(path, out):
    run = Run(path)
    gammas = np.array(run.axes["init.scale"], dtype=float)
    fig, (a, b) = plt.subplots(1, 2, figsize=(8.6, 3.6), layout="constrained")
    meds = []
    for j, c in enumerate(np.argsort(-gammas)):
        h, s = run.hits(c)
        eta = run.lr(c)
        q = np.quantile(h, [0.25, 0.5, 0.75], axis=0)
        meds.append((gammas[c], np.median(h * s[None, :] * eta, axis=0), s, eta))
        a.errorbar(s, q[1], yerr=[q[1] - q[0], q[2] - q[1]], fmt=MARKERS[j], color=PALETTE[j],
                   capsize=3, ms=5, label=rf"$\gamma$ = {gammas[c]:g}")
        k = np.median(h * s[None, :] * eta)  # one constant per cell: tau = k / (eta s)
        grid = np.geomspace(s.min(), s.max(), 30)
        a.plot(grid, k / (eta * grid), "--", color=PALETTE[j], lw=1)
    a.set_xscale("log")
    a.set_yscale("log")
    a.set_xticks(s, [f"{v:g}" for v in s])
    a.xaxis.set_minor_locator(NullLocator())
    a.set_yticks([100, 150, 200, 300, 500, 700, 1000, 1500], ["100", "150", "200", "300", "500", "700",
                                                               "1000", "1500"])
    a.yaxis.set_minor_locator(NullLocator())
    a.set_xlabel(r"target singular value $s_i$")
    a.set_ylabel(r"hitting step $\tau_i$ (median, 25–75%)")
    a.set_title(r"GD: largest first; dashed $\tau_i = C_\gamma/(\eta s_i)$", fontsize=9)
    a.legend(fontsize=8)
    a.grid(alpha=0.3, which="both")

    x = np.array([math.log(1 / g) for g, *_ in meds])
    m = np.array([v for _, v, *_ in meds])  # cells x modes
    s = meds[0][2]
    for i in range(m.shape[1]):
        b.plot(x, m[:, i], MARKERS[i], color=PALETTE[i], ms=6, label=rf"mode {i + 1} ($s$ = {s[i]:g})")
    slope, icpt = np.polyfit(np.repeat(x, m.shape[1]), m.ravel(), 1)
    xx = np.linspace(x.min() - 0.3, x.max() + 0.3, 10)
    b.plot(xx, xx + np.mean(m - x[:, None]), "k--", lw=1, label=r"slope 1: $\ln(1/\gamma)$ + const")
    b.set_xlabel(r"$\ln(1/\gamma)$")
    b.set_ylabel(r"median $\tau_i\, s_i\, \eta$")
    b.set_title(f"all modes on one line; fitted slope {slope:.3f}", fontsize=9)
    b.legend(fontsize=7)
    b.grid(alpha=0.3)
    fig.suptitle(f"GD, LoRA init of scale γ, Fig. 2 problem, η = {meds[0][3]:g}, "
                 f"{run.seeds} seeds per γ", fontsize=10)
    save_figure(fig, out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
