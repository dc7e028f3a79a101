#!/usr/bin/env python3
"""The spectral entropy of W along SpecGD and GD (docs/REPRODUCTION.md, "Beyond the papers").

Reads the run of examples/spectral_entropy.toml and prints, per optimizer, the traced seeds'
median spectral entropy (-sum q_i log q_i, q_i = sigma_i^2 / sum sigma^2) and effective rank at
a few record steps, their 5-95% range, the largest deviation from log 5 of any traced seed over the
record steps before its first hit (SpecGD's equal-rate phase) and the target's own entropy. With
--figure, plots both quantities against the step (median and 5-95% band).

Usage: spectral_entropy.py RUN.h5 [--figure docs/figures/spectral_entropy.png]
"""
import argparse

import h5py
import numpy as np

from common import text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--figure")
    args = ap.parse_args()
    with h5py.File(args.run, "r") as f:
        kinds = [text(x) for x in f["cells/optimizer.kind"][()]]
        step = f["trace/step"][()]
        entropy = f["trace/spectral_entropy"][()]  # C x K x T
        erank = f["trace/effective_rank"][()]
        hit = f["outcome/hit_step"][()]
        s = np.asarray(f["target/spectrum"][0], dtype=float)
    q = s ** 2 / np.sum(s ** 2)
    target = float(-np.sum(q * np.log(q)))
    print(f"target: spectral entropy {target:.4f}, log r = {np.log(len(s)):.4f}")
    picks = [int(np.argmin(np.abs(step - t))) for t in (8, 58, 107, 199, 369, 1261)]
    print("| optimizer | " + " | ".join(f"step {step[i]}" for i in picks) + " |")
    print("| --- |" + " ---: |" * len(picks))
    for c, kind in enumerate(kinds):
        cells = []
        for i in picks:
            v = entropy[c][:, i]
            lo, med, hi = np.nanpercentile(v, [5, 50, 95])
            cells.append(f"{med:.3f} ({lo:.3f}-{hi:.3f}); erank {np.nanmedian(erank[c][:, i]):.2f}")
        print(f"| {kind} | " + " | ".join(cells) + " |")
        K = entropy.shape[1]
        first = np.array([min([h for h in hit[c, k] if h >= 0], default=step[-1]) for k in range(K)])
        phase = (step[None, :] > 0) & (step[None, :] < first[:, None])
        if phase.any():
            dev = float(np.max(np.abs(entropy[c][phase] - np.log(len(s)))))
            print(f"{kind}: max |entropy - log 5| over record steps 0 < t < first hit "
                  f"({int(phase.sum())} seed-steps of {K} traced seeds): {dev:.2e}")
    if args.figure:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        x = np.maximum(step, 1)
        for c, kind in enumerate(kinds):
            for ax, data in zip(axes, (entropy[c], erank[c])):
                lo, med, hi = np.nanpercentile(data, [5, 50, 95], axis=0)
                ax.fill_between(x, lo, hi, alpha=0.25, color=f"C{c}")
                ax.plot(x, med, color=f"C{c}", label=kind)
        axes[0].axhline(np.log(len(s)), ls="--", color="k", lw=0.8)
        axes[0].axhline(target, ls=":", color="k", lw=0.8)
        axes[0].set_ylabel("spectral entropy (nats; dashed log 5, dotted target)")
        axes[1].set_ylabel("effective rank (p_i = sigma_i / sum sigma)")
        for ax in axes:
            ax.set_xscale("log")
            ax.set_xlabel("step")
            ax.legend(fontsize=8)
        axes[0].set_title("median and 5-95% of the traced seeds", fontsize=9)
        fig.tight_layout()
        fig.savefig(args.figure, dpi=120)


if __name__ == "__main__":
    main()
