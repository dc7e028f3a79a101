#!/usr/bin/env python3
"""The edge of stability, measured (docs/REPRODUCTION.md, "Beyond the papers").

Reads the runs of examples/edge_of_stability_gd.toml and edge_of_stability_muon.toml and prints,
per learning rate: the seeds converged and diverged, the median final relative loss, and the traced
seeds' median eta * lambda_max at the end and its largest value along the trajectory; with
--figure, plots eta * lambda_max against the step for every rate of both optimizers.

Usage: edge_of_stability.py GD.h5 MUON.h5 [--figure docs/figures/edge_of_stability.png]
"""
import argparse

import h5py
import numpy as np

STATUS = {0: "converged", 1: "stalled", 2: "diverged", 3: "unconverged"}


def summarize(path):
    rows = []
    with h5py.File(path, "r") as f:
        lrs = f["cells/optimizer.lr"][()]
        status = f["outcome/status"][()]
        loss = f["outcome/final_loss"][()]
        half = 0.5 * np.sum(f["target/M"][()] ** 2, axis=(1, 2))
        step = f["trace/step"][()]
        sharp = f["trace/sharpness"][()]  # C x K x T
        for c, lr in enumerate(lrs):
            eta_lambda = lr * sharp[c]  # K x T
            finite = np.isfinite(eta_lambda)
            rows.append({
                "lr": float(lr),
                "converged": int(np.sum(status[c] == 0)),
                "diverged": int(np.sum(status[c] == 2)),
                "seeds": status.shape[1],
                "loss": float(np.median(loss[c] / half[c])),
                "end": float(np.median(eta_lambda[:, -1])) if finite[:, -1].all() else float("nan"),
                "peak": float(np.nanmax(np.where(finite, eta_lambda, np.nan))) if finite.any() else float("nan"),
                "step": step,
                "curve": np.nanmedian(np.where(finite, eta_lambda, np.nan), axis=0),
            })
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gd")
    ap.add_argument("muon")
    ap.add_argument("--figure")
    args = ap.parse_args()
    runs = {"GD": summarize(args.gd), "Muon": summarize(args.muon)}
    print("| optimizer | lr | converged / diverged of seeds | median final loss / f(0) | "
          "median eta lambda_max at the end | largest along the trajectory |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, rows in runs.items():
        for r in rows:
            print(f"| {name} | {r['lr']:g} | {r['converged']} / {r['diverged']} of {r['seeds']} | "
                  f"{r['loss']:.2e} | {r['end']:.3g} | {r['peak']:.3g} |")
    if args.figure:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
        for ax, (name, rows) in zip(axes, runs.items()):
            for r in rows:
                ax.plot(r["step"], r["curve"], label=f"lr {r['lr']:g}")
            ax.axhline(2.0, color="k", ls="--", lw=1)
            ax.set_yscale("log")
            ax.set_xlabel("step")
            ax.set_title(f"{name}: eta * lambda_max (median of traced seeds)")
            ax.legend(fontsize=8)
        axes[0].set_ylabel("eta * lambda_max (dashed: 2)")
        fig.tight_layout()
        fig.savefig(args.figure, dpi=120)


if __name__ == "__main__":
    main()
