#!/usr/bin/env python3
"""Rhee, Simon, Karkada (arXiv 2606.30509), Fig 4: the spike-then-halve schedule, split by the sign
of det(O1^T O2) of the orthogonal initialization.

    make_rhee_spike.py RUN.h5 [--out docs/figures/rhee_spike.png]

RUN.h5 is a run of examples/rhee_spike.toml. The sign of det(O1^T O2) = sign(det F1 det F2) of each
seed's initial factors is the engine's /outcome/init_det_sign (every seed, traced or not). Prints
the converged fraction with its Wilson 95% interval overall and per sign (and checks the per-sign
counts against the run's /summary/det_sign_count), the excess-loss quantiles per sign, and draws the
relative loss of the traced seeds against the step, coloured by the sign.
"""
import argparse
import sys

import h5py
import numpy as np
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def wilson(k, n, z=1.959963984540054):
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--out", default="docs/figures/rhee_spike.png")
    a = ap.parse_args()
    with h5py.File(a.run, "r") as f:
        status = np.asarray(f["outcome/status"][0])
        excess = np.asarray(f["outcome/excess"][0], dtype=float)
        sign = np.asarray(f["outcome/init_det_sign"][0], dtype=float)
        summary_count = np.asarray(f["summary/det_sign_count"][0])  # sign (+1, -1) x (seeds, converged)
        loss = np.asarray(f["trace/loss"][0], dtype=float)  # K x T
        K = loss.shape[0]
        step = np.asarray(f["trace/step"][()], dtype=float)
        norm = 0.5 * float(np.sum(np.asarray(f["target/spectrum"][0], dtype=float) ** 2))
    S = len(status)
    conv = status == 0
    k = int(conv.sum())
    lo, hi = wilson(k, S)
    print(f"converged {k}/{S} = {k / S:.3f} [Wilson 95%: {lo:.3f}, {hi:.3f}]")
    for row, sg in enumerate((1, -1)):
        m = sign == sg
        n, kk = int(m.sum()), int(conv[m].sum())
        if (n, kk) != tuple(summary_count[row]):
            print(f"MISMATCH: /summary/det_sign_count for {sg:+d} is {tuple(summary_count[row])}, "
                  f"the outcomes give ({n}, {kk})")
        lo, hi = wilson(kk, n) if n else (np.nan, np.nan)
        q = np.percentile(excess[m], [5, 50, 95]) if n else [np.nan] * 3
        print(f"det(O1^T O2) {sg:+d}: {n} seeds, converged {kk}/{n} = {kk / max(n, 1):.3f} "
              f"[Wilson 95%: {lo:.3f}, {hi:.3f}], excess 5/50/95%: {q[0]:.2e} {q[1]:.2e} {q[2]:.2e}, "
              f"max {excess[m].max() if n else np.nan:.2e}")
    print(f"fraction with det +1: {np.mean(sign > 0):.3f}; converged seeds with det -1: "
          f"{int(np.sum(conv & (sign < 0)))}")

    fig, ax = plt.subplots(figsize=(6.4, 4.0), layout="constrained")
    rel = loss / norm
    traced_sign = sign[:K]  # the traced seeds are seeds 0..K-1
    for sg, col, name in ((1, "#0072B2", "det(O1ᵀO2) = +1"), (-1, "#D55E00", "det(O1ᵀO2) = −1")):
        idx = np.flatnonzero(traced_sign == sg)
        for j in idx[:40]:
            ax.plot(step, rel[j], color=col, lw=0.6, alpha=0.35)
        med = np.median(rel[idx], axis=0)
        ax.plot(step, med, color=col, lw=2.0, label=f"{name}: median of {len(idx)} traced seeds "
                f"({int(conv[:K][idx].sum())} converged)")
    ax.axhline(1e-8, color="0.3", ls="--", lw=1.0, label="loss_tolerance 1e-8")
    ax.set_yscale("log")
    ax.set_xlabel("step (η₀ = α = 1e-4, η₁ = √s_max = 1, then η ← η/2)")
    ax.set_ylabel("relative loss  loss / (½‖M‖²)")
    ax.set_title("Rhee et al. Fig 4: spike-then-halve Muon, n = d = 25, s_i = 5/(4+i)", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.savefig(a.out, dpi=110)
    print(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
