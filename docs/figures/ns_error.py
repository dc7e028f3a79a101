#!/usr/bin/env python3
"""Newton-Schulz's distance from the polar factor against Kang et al.'s mode order (docs/REPRODUCTION.md,
"Beyond the papers").

Reads the run of examples/ns_error.toml (record.orth_error) and prints, per preset and iteration
count: the traced seeds' median orth_error and the band [min, max] of the values NS gave the
gradient's singular values over the growth phase (both factors, the record steps after step 0,
where F1 = 0 makes F2's gradient zero, and before the seed's first mode hits: once a mode is
learned its share of the gradient vanishes and any polynomial maps it towards 0), the seeds whose
hitting order is exactly smallest-first (order_kendall = 1) with a Wilson 95% interval, and the
median uniformity_cv with its quartiles. With --figure, plots the smallest-first fraction and the
CV against the median orth_error.

Usage: ns_error.py RUN.h5 [--figure docs/figures/ns_error.png]
"""
import argparse

import h5py
import numpy as np

from common import text, wilson


def summarize(path):
    rows = []
    with h5py.File(path, "r") as f:
        presets = [text(x) for x in f["cells/optimizer.ns_coefficients"][()]]
        steps = f["cells/optimizer.ns_steps"][()]
        kendall = f["outcome/order_kendall"][()]
        cv = f["outcome/uniformity_cv"][()]
        record_step = f["trace/step"][()]
        hit = f["outcome/hit_step"][()]  # C x S x r, -1: never
        err = f["trace/orth_error"][()]  # C x K x T x L
        lo = f["trace/orth_band_min"][()]
        hi = f["trace/orth_band_max"][()]
        for c, (preset, n) in enumerate(zip(presets, steps)):
            K = err.shape[1]
            first_hit = np.array([min([h for h in hit[c, k] if h >= 0], default=record_step[-1])
                                  for k in range(K)])
            growth = (record_step[None, :] > 0) & (record_step[None, :] < first_hit[:, None])
            e, a, b = (x[c][growth] for x in (err, lo, hi))  # (seed, step) pairs x L
            seeds = kendall.shape[1]
            exact_order = int(np.sum(kendall[c] == 1.0))
            q = np.nanpercentile(cv[c], [25, 50, 75])
            rows.append({
                "preset": preset, "steps": int(n),
                "error": float(np.nanmedian(e)),
                "band": (float(np.nanmin(a)), float(np.nanmax(b))),
                "ordered": exact_order, "seeds": seeds, "wilson": wilson(exact_order, seeds),
                "kendall": float(np.nanmedian(kendall[c])), "cv": q,
            })
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--figure")
    args = ap.parse_args()
    rows = summarize(args.run)
    print("| preset | iterations | median orth_error | band [min, max] | smallest-first exactly "
          "(Wilson 95%) | median order_kendall | uniformity_cv median (IQR) |")
    print("| --- | ---: | ---: | --- | --- | ---: | --- |")
    for r in rows:
        lo, hi = r["wilson"]
        print(f"| {r['preset']} | {r['steps']} | {r['error']:.2e} | [{r['band'][0]:.3f}, "
              f"{r['band'][1]:.3f}] | {r['ordered']}/{r['seeds']} [{lo:.3f}, {hi:.3f}] | "
              f"{r['kendall']:.2f} | {r['cv'][1]:.3g} ({r['cv'][0]:.3g}-{r['cv'][2]:.3g}) |")
    if args.figure:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharex=True)
        for preset in dict.fromkeys(r["preset"] for r in rows):
            mine = [r for r in rows if r["preset"] == preset]
            x = [max(r["error"], 1e-8) for r in mine]
            axes[0].plot(x, [r["ordered"] / r["seeds"] for r in mine], "o-", label=preset)
            axes[1].plot(x, [r["cv"][1] for r in mine], "o-", label=preset)
            for r, xi in zip(mine, x):
                axes[0].annotate(str(r["steps"]), (xi, r["ordered"] / r["seeds"]), fontsize=7)
        for ax in axes:
            ax.set_xscale("log")
            ax.set_xlabel("median ||NS(G) - polar(G)||_F / sqrt(rank) (labels: iterations)")
        axes[1].set_yscale("log")
        axes[0].set_ylabel("seeds with the exact smallest-first order")
        axes[1].set_ylabel("median uniformity_cv")
        axes[0].legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(args.figure, dpi=120)


if __name__ == "__main__":
    main()
