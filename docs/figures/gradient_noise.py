#!/usr/bin/env python3
"""Gradient noise against Kang et al.'s growth order (docs/REPRODUCTION.md, "Beyond the papers").

Reads the run of examples/gradient_noise.toml and prints, per optimizer and relative noise level
sigma: the seeds whose hitting order is exactly smallest-first (order_kendall = +1) and exactly
largest-first (-1), with Wilson 95% intervals, the median uniformity_cv (25-75%), the median
hitting step of each mode and the median final relative excess loss. With --figure, plots the
ordered fractions and the median hitting steps against sigma.

Usage: gradient_noise.py RUN.h5 [--figure docs/figures/gradient_noise.png]
"""
import argparse

import h5py
import numpy as np

from common import text, wilson


def summarize(path):
    rows = []
    with h5py.File(path, "r") as f:
        kinds = [text(x) for x in f["cells/optimizer.kind"][()]]
        sigmas = f["cells/optimizer.gradient_noise"][()]
        kendall = f["outcome/order_kendall"][()]
        cv = f["outcome/uniformity_cv"][()]
        excess = f["outcome/excess"][()]
        hit = f["outcome/hit_step"][()].astype(float)
        for c, (kind, sigma) in enumerate(zip(kinds, sigmas)):
            n = kendall.shape[1]
            up, down = int(np.sum(kendall[c] == 1.0)), int(np.sum(kendall[c] == -1.0))
            h = np.where(hit[c] >= 0, hit[c], np.nan)
            rows.append({
                "kind": kind, "sigma": float(sigma), "seeds": n,
                "up": up, "up_ci": wilson(up, n), "down": down, "down_ci": wilson(down, n),
                "cv": np.nanpercentile(cv[c], [25, 50, 75]) if np.isfinite(cv[c]).any() else [np.nan] * 3,
                "hit": np.nanmedian(h, axis=0), "hit_all": float(np.mean(np.all(hit[c] >= 0, axis=1))),
                "excess": float(np.nanmedian(excess[c])),
            })
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--figure")
    args = ap.parse_args()
    rows = summarize(args.run)
    print("| optimizer | sigma | smallest-first exactly [Wilson 95%] | largest-first exactly | "
          "uniformity_cv median (25-75%) | median hitting step, modes 1-5 (all modes hit) | "
          "median final excess |")
    print("| --- | ---: | --- | --- | --- | --- | ---: |")
    for r in rows:
        cv = r["cv"]
        hits = ", ".join("-" if not np.isfinite(v) else f"{v:.0f}" for v in r["hit"])
        print(f"| {r['kind']} | {r['sigma']:g} | {r['up']}/{r['seeds']} [{r['up_ci'][0]:.3f}, "
              f"{r['up_ci'][1]:.3f}] | {r['down']}/{r['seeds']} [{r['down_ci'][0]:.3f}, "
              f"{r['down_ci'][1]:.3f}] | {cv[1]:.3g} ({cv[0]:.3g}-{cv[2]:.3g}) | {hits} "
              f"({100 * r['hit_all']:.0f}%) | {r['excess']:.2e} |")
    if args.figure:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for kind, marker in (("specgd", "o"), ("gd", "s")):
            mine = [r for r in rows if r["kind"] == kind]
            x = [max(r["sigma"], 0.03) for r in mine]
            axes[0].plot(x, [r["up"] / r["seeds"] for r in mine], marker + "-",
                         label=f"{kind}: smallest-first")
            axes[0].plot(x, [r["down"] / r["seeds"] for r in mine], marker + "--",
                         label=f"{kind}: largest-first")
            for i in range(len(mine[0]["hit"])):
                axes[1].plot(x, [r["hit"][i] for r in mine], marker + ("-" if kind == "specgd" else "--"),
                             color=f"C{i}", label=f"{kind} mode {i + 1}" if kind == "gd" or i == 0 else None)
        for ax in axes:
            ax.set_xscale("log")
            ax.set_xlabel("relative gradient noise sigma (0 drawn at 0.03)")
        axes[0].set_ylabel("fraction of seeds in the exact order")
        axes[1].set_ylabel("median hitting step (solid: specgd, dashed: gd)")
        axes[1].set_yscale("log")
        axes[0].legend(fontsize=8)
        axes[1].legend(fontsize=7, ncol=2)
        fig.tight_layout()
        fig.savefig(args.figure, dpi=120)


if __name__ == "__main__":
    main()
