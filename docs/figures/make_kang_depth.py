#!/usr/bin/env python3
"""Figure for examples/kang_depth{2,3,4}.toml: SpecGD hitting times against s_i at depths
L = 2, 3, 4, with the law tau_i = ((1 - delta) s_i)^(1/L) / eta and the fitted log-log slope p.

    python3 docs/figures/make_kang_depth.py kang_depth2.h5 kang_depth3.h5 kang_depth4.h5 OUT.png
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kang_numbers import Run, depth_speed_cv, save_figure  # noqa: E402

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import NullLocator  # noqa: E402

PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00"]
MARKERS = ["o", "s", "^", "D"]


def main(paths, out):
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    seeds = set()
    for j, path in enumerate(paths):
        run = Run(path)
        L = run.depth()
        h, s = run.hits(0)
        eta, d = run.lr(0), run.delta(0)
        seeds.add(run.seeds)
        q = np.quantile(h, [0.25, 0.5, 0.75], axis=0)
        p = np.polyfit(np.log(s), np.log(q[1]), 1)[0]
        cv = np.median(depth_speed_cv(h, s, L, d))
        ax.errorbar(s, q[1], yerr=[q[1] - q[0], q[2] - q[1]], fmt=MARKERS[j % 4], color=PALETTE[j % 4],
                    ms=6, capsize=3, label=f"L = {L}: fitted p = {p:.3f} (1/L = {1 / L:.3f}), "
                                           f"speed CV {cv:.1e}")
        grid = np.geomspace(s.min(), s.max(), 40)
        ax.plot(grid, ((1 - d) * grid) ** (1 / L) / eta, "--", color=PALETTE[j % 4], lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(s, [f"{v:g}" for v in s])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_yticks([100, 125, 150, 175, 200, 250], ["100", "125", "150", "175", "200", "250"])
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_xlabel(r"target singular value $s_i$")
    ax.set_ylabel(r"hitting step $\tau_i$ (median, 25–75%)")
    ax.set_title(r"SpecGD on $W = F_1\cdots F_L$ (Fig. 2 problem, η = 0.01): "
                 r"$\tau_i \propto s_i^{p}$;  dashed $((1-\delta)s_i)^{1/L}/\eta$"
                 f"\n{'/'.join(map(str, sorted(seeds)))} seeds per depth; speed CV: median over seeds of "
                 r"CV$_i$ of $((1-\delta)s_i)^{1/L}/\tau_i$", fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3, which="both")
    save_figure(fig, out)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1:-1], sys.argv[-1])
