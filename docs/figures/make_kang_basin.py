#!/usr/bin/env python3
"""Figure for examples/kang_basin.toml: (left) relative loss of the traced seeds under the cosine
schedule, (right) the basin probe: fractions of seeds converged, of probes converged and of probes
that end closer to the found minimum, with Wilson 95% intervals.

    python3 docs/figures/make_kang_basin.py kang_basin.h5 OUT.png
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kang_numbers import Run, save_figure, wilson  # noqa: E402

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(path, out):
    run = Run(path)
    probes = int(run.config["basin"]["probes"])
    st = run.get("outcome/status", 0)
    conv = st == 0
    kc = int(np.rint(run.get("outcome/basin_converged", 0)[conv] * probes).sum())
    kcl = int(np.rint(run.get("outcome/basin_closer", 0)[conv] * probes).sum())
    n = int(conv.sum()) * probes
    bars = [("seeds\nconverged", int(conv.sum()), st.size),
            ("probes\nconverged", kc, n), ("probes ended\ncloser to F*", kcl, n)]

    fig, (a, b) = plt.subplots(1, 2, figsize=(9.0, 3.6), layout="constrained",
                               gridspec_kw={"width_ratios": [1.4, 1]})
    step = np.asarray(run.f["trace/step"][()], dtype=float)
    M = run.get("target/M", 0)
    half = 0.5 * float(np.sum(M * M))
    loss = run.get("trace/loss", 0) / half  # traced x T
    for k in range(loss.shape[0]):
        a.plot(step, loss[k], color="#0072B2", lw=0.8, alpha=0.6)
    tol = float(run.config["record"]["loss_tolerance"])
    a.axhline(tol, color="#D55E00", ls="--", lw=1, label=f"loss_tolerance {tol:g}")
    steps = int(run.config["run"]["steps"])
    lr = float(run.config["optimizer"]["lr"])
    a2 = a.twinx()
    t = np.arange(steps)
    a2.plot(t, 0.5 * lr * (1 + np.cos(np.pi * t / steps)), color="0.5", lw=1, ls=":")
    a2.set_ylabel("lr (cosine, dotted)", color="0.4")
    a.set_yscale("log")
    a.set_xlabel("step")
    a.set_ylabel(r"relative loss $\ell / (\frac{1}{2}\|M\|^2)$")
    a.set_title(f"SpecGD, cosine lr, {loss.shape[0]} traced seeds", fontsize=9)
    a.legend(fontsize=8, loc="lower left")
    a.grid(alpha=0.3)

    for i, (name, k, m) in enumerate(bars):
        lo, hi = wilson(k, m)
        p = k / m
        b.bar(i, p, color=["#009E73", "#0072B2", "#E69F00"][i], width=0.6)
        b.errorbar(i, p, yerr=[[max(p - lo, 0)], [max(hi - p, 0)]], color="k", capsize=4)
        b.text(i, 0.05, f"{k}/\n{m}\n[{lo:.4f},\n {hi:.4f}]", ha="center", fontsize=6.5, color="white")
    b.set_xticks(range(len(bars)), [x[0] for x in bars], fontsize=8)
    b.set_ylim(0, 1.05)
    b.set_ylabel("fraction (Wilson 95%)")
    b.set_title(f"{probes} restarts per converged seed, on the\nsphere of radius "
                r"$|F_0 - F^*|$ around $F^*$", fontsize=9)
    fig.suptitle(f"Basin check (Figs. 5–6), Fig. 2 setting, {run.seeds} seeds", fontsize=10)
    save_figure(fig, out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
