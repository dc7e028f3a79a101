#!/usr/bin/env python3
"""Matrix sensing: recovery against the number of measurements (docs/REPRODUCTION.md, "Beyond the
papers").

Reads the run of examples/matrix_sensing.toml and prints, per optimizer and measurement count p:
the seeds whose final recovery error ||W - M||_F / ||M||_F is at most 1e-3 (Wilson 95%), the
median recovery error (25-75%), the median hitting step of each mode (seeds that hit) and the
median order_kendall. With --figure, plots the recovered fraction and the median recovery error
against p, with the degrees of freedom r (m + n - r) marked.

Usage: matrix_sensing.py RUN.h5 [--figure docs/figures/matrix_sensing.png]
"""
import argparse

import h5py
import numpy as np

from common import text, wilson


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--figure")
    args = ap.parse_args()
    rows = []
    with h5py.File(args.run, "r") as f:
        kinds = [text(x) for x in f["cells/optimizer.kind"][()]]
        ps = f["cells/problem.sensing.measurements"][()]
        rec = f["outcome/recovery_error"][()]
        hit = f["outcome/hit_step"][()].astype(float)
        kendall = f["outcome/order_kendall"][()]
        m, n = f["target/M"].shape[1:]
        rank = hit.shape[2]
    dof = rank * (m + n - rank)
    for c, (kind, p) in enumerate(zip(kinds, ps)):
        seeds = rec.shape[1]
        ok = int(np.sum(rec[c] <= 1e-3))
        h = np.where(hit[c] >= 0, hit[c], np.nan)
        rows.append({"kind": kind, "p": int(p), "ok": ok, "seeds": seeds, "ci": wilson(ok, seeds),
                     "rec": np.nanpercentile(rec[c], [25, 50, 75]),
                     "hit": np.nanmedian(h, axis=0) if np.isfinite(h).any() else [np.nan] * rank,
                     "kendall": float(np.nanmedian(kendall[c])) if np.isfinite(kendall[c]).any() else float("nan")})
    print(f"degrees of freedom r (m + n - r) = {dof}")
    print("| optimizer | p | recovered (error <= 1e-3) [Wilson 95%] | median recovery error (25-75%) | "
          "median hitting steps | median order_kendall |")
    print("| --- | ---: | --- | --- | --- | ---: |")
    for r in rows:
        hits = ", ".join("-" if not np.isfinite(v) else f"{v:.0f}" for v in r["hit"])
        print(f"| {r['kind']} | {r['p']} | {r['ok']}/{r['seeds']} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}] | "
              f"{r['rec'][1]:.2e} ({r['rec'][0]:.2e}-{r['rec'][2]:.2e}) | {hits} | {r['kendall']:.2f} |")
    if args.figure:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for kind, marker in (("specgd", "o-"), ("gd", "s--")):
            mine = [r for r in rows if r["kind"] == kind]
            axes[0].plot([r["p"] for r in mine], [r["ok"] / r["seeds"] for r in mine], marker, label=kind)
            axes[1].plot([r["p"] for r in mine], [r["rec"][1] for r in mine], marker, label=kind)
        for ax in axes:
            ax.axvline(dof, color="k", ls=":", lw=0.8)
            ax.set_xlabel("measurements p (dotted: r (m + n - r))")
            ax.legend(fontsize=8)
        axes[0].set_ylabel("fraction of seeds with ||W - M|| / ||M|| <= 1e-3")
        axes[1].set_ylabel("median final ||W - M||_F / ||M||_F")
        axes[1].set_yscale("log")
        fig.tight_layout()
        fig.savefig(args.figure, dpi=120)


if __name__ == "__main__":
    main()
