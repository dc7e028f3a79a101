#!/usr/bin/env python3
"""Rhee, Simon, Karkada (arXiv 2606.30509), Fig 1e-f: which Delta each optimizer conserves.

    make_rhee_delta.py RUN.h5 [--tstar 80] [--at STEP ...] [--out docs/figures/rhee_delta.png]

RUN.h5 is a run of examples/rhee_delta.toml (cells: GD and Muon = SpecGD with the exact polar
factor and no momentum; step or RK4 flow). For each traced seed and for
Delta1 = sqrt(P^T P) - sqrt(Q^T Q) and Delta2 = P^T P - Q^T Q (/trace/delta1, /trace/delta2) it
forms the overlap

    O(t) = <Delta(t), Delta(t*)>_F / ||Delta(t*)||_F^2 ,

which is 1 at t = t* and stays 1 for a conserved Delta. Prints per cell and Delta, at the report
steps (default: the last record step before the first mode of any cell converges, and the last
step; --at overrides): the median over seeds with its 95% interval (order statistics: the exact
binomial interval for the median, distribution-free), the 5-95% range over seeds, and the median
relative change ||Delta(t) - Delta(t*)|| / ||Delta(t*)||. Also prints the engine's alignment ratio
||off(U^T W V)|| / ||diag(U^T W V)|| at t*, the overlap before t* (to show that Delta1 had settled
under Muon), and for GD the Delta2 overlap against t = 0 (gradient flow conserves Delta2 from the
start). Draws two panels (one per cell): median and 5-95% band of both overlaps for t >= t*.
"""
import argparse
import math
import sys
import tomllib

import h5py
import numpy as np
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"delta1": "#0072B2", "delta2": "#D55E00"}
NAMES = {"delta1": "Δ1 = √(PᵀP) − √(QᵀQ)", "delta2": "Δ2 = PᵀP − QᵀQ"}


def text(x):
    return x.decode() if isinstance(x, bytes) else str(x)


def median_ci(x, level=0.95):
    """Median and its distribution-free interval [x_(j), x_(n+1-j)] from Binomial(n, 1/2)."""
    x = np.sort(np.asarray(x, dtype=float))
    n = len(x)
    alpha = (1 - level) / 2
    cdf, j = 0.0, 0
    for k in range(n + 1):  # largest j with P(B <= j - 1) <= alpha
        cdf += math.comb(n, k) / 2.0**n
        if cdf > alpha:
            j = k
            break
    j = max(j, 1)
    return float(np.median(x)), float(x[j - 1]), float(x[n - j])


def overlaps(D, i0):
    """D: K x T x r x r; returns K x T overlaps with index i0, and relative change."""
    K, T = D.shape[:2]
    D = D.reshape(K, T, -1)
    ref = D[:, i0]
    nr = np.einsum("kq,kq->k", ref, ref)
    ov = np.einsum("ktq,kq->kt", D, ref) / nr[:, None]
    rel = np.linalg.norm(D - ref[:, None], axis=2) / np.sqrt(nr)[:, None]
    return ov, rel


def cell_labels(f, C):
    cfg = tomllib.loads(text(f.attrs["config"]))
    op = cfg.get("optimizer", {})
    kinds = ([text(k) for k in f["cells/optimizer.kind"][()]] if "cells/optimizer.kind" in f
             else [op.get("kind", "gd")] * C)
    integ = ([text(k) for k in f["cells/optimizer.integrator"][()]]
             if "cells/optimizer.integrator" in f else [op.get("integrator", "step")] * C)
    labels = []
    for k, i in zip(kinds, integ):
        name = "GD" if k == "gd" else "Muon (exact polar, no momentum)" if k in ("specgd", "muon") else k
        labels.append(f"{name}, {'RK4 flow' if i == 'rk4' else 'steps'}")
    return kinds, labels, float(op.get("lr", float("nan")))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--tstar", type=int, default=80)
    ap.add_argument("--at", type=int, action="append", help="report step (repeatable)")
    ap.add_argument("--out", default="docs/figures/rhee_delta.png")
    a = ap.parse_args()

    with h5py.File(a.run, "r") as f:
        step = np.asarray(f["trace/step"][()], dtype=int)
        C = f["trace/delta1"].shape[0]
        kinds, labels, lr = cell_labels(f, C)
        if a.tstar not in step:
            print(f"t* = {a.tstar} is not a record step (record steps {step[:6]}...)", file=sys.stderr)
            return 2
        i0 = int(np.flatnonzero(step == a.tstar)[0])
        hits = np.asarray(f["outcome/hit_step"][()], dtype=float)  # C x S x r
        hits = np.where(hits < 0, np.inf, hits)
        first_hit = np.median(hits.min(axis=2), axis=1)  # per cell: median step of the first mode
        if a.at:
            report = sorted(a.at)
        else:
            t1 = step[step <= first_hit.min()].max() if np.isfinite(first_hit.min()) else step[-1]
            report = sorted({int(t1), int(step[-1])})
        for t in report:
            if t not in step:
                print(f"report step {t} is not a record step", file=sys.stderr)
                return 2
        data = []
        for c in range(C):
            align = np.asarray(f["trace/alignment"][c], dtype=float)
            res = {}
            for d in ("delta1", "delta2"):
                D = np.asarray(f["trace/" + d][c], dtype=float)
                ov, rel = overlaps(D, i0)
                ov0, _ = overlaps(D, 0)
                res[d] = (ov, rel, ov0)
            data.append((align, res))
    K = data[0][1]["delta1"][0].shape[0]
    print(f"t* = {a.tstar} (tau* = lr t* = {lr * a.tstar:g}); {K} traced seeds per cell; "
          f"report steps {report}; medians with their 95% order-statistic interval, then the "
          f"5-95% range over seeds")
    for c in range(C):
        align, res = data[c]
        q = np.percentile(align[:, i0], [5, 50, 95])
        print(f"\n[{c}] {labels[c]}: alignment ratio at t*: median {q[1]:.3f} (5-95%: {q[0]:.3f}-{q[2]:.3f});"
              f" median step of the first converged mode: {first_hit[c]:.0f}")
        for d in ("delta1", "delta2"):
            ov, rel, ov0 = res[d]
            half = int(np.flatnonzero(step == step[step <= a.tstar // 2].max())[0])
            print(f"  {d}: overlap at step {step[half]} (before t*) median {np.median(ov[:, half]):.4f}")
            for t in report:
                j = int(np.flatnonzero(step == t)[0])
                m, lo, hi = median_ci(ov[:, j])
                p5, p95 = np.percentile(ov[:, j], [5, 95])
                print(f"  {d}: step {t} (tau {lr * t:g}): overlap {m:.4f} [{lo:.4f}, {hi:.4f}]"
                      f" (5-95%: {p5:.4f}-{p95:.4f}); relative change median {np.median(rel[:, j]):.4f}")
            sel = (step >= a.tstar) & (step <= report[0])
            dev = np.abs(ov[:, sel] - 1).max(axis=1)
            print(f"  {d}: max |overlap - 1| over steps {a.tstar}..{report[0]} per seed: median "
                  f"{np.median(dev):.2e}, 95% {np.percentile(dev, 95):.2e}")
            if kinds[c] == "gd" and d == "delta2":
                m, lo, hi = median_ci(ov0[:, -1])
                print(f"  delta2 vs t = 0 (GD flow conserves it from the start): overlap at step "
                      f"{step[-1]}: {m:.4f} [{lo:.4f}, {hi:.4f}], max over seeds |O - 1| "
                      f"{np.abs(ov0[:, -1] - 1).max():.2e}")

    fig, axes = plt.subplots(1, C, figsize=(4.2 * C, 3.4), sharey=True, layout="constrained")
    axes = np.atleast_1d(axes)
    sel = step >= a.tstar
    x = step[sel]
    for c, ax in enumerate(axes):
        _, res = data[c]
        for d in ("delta1", "delta2"):
            ov = res[d][0][:, sel]
            lo, med, hi = np.percentile(ov, [5, 50, 95], axis=0)
            ax.fill_between(x, lo, hi, color=COLORS[d], alpha=0.25, lw=0)
            ax.plot(x, med, color=COLORS[d], lw=1.8, label=NAMES[d])
        ax.axhline(1.0, color="0.4", lw=0.8, ls=":")
        if np.isfinite(first_hit[c]) and first_hit[c] <= step[-1]:
            ax.axvline(first_hit[c], color="0.5", lw=0.8, ls="--")
            ax.text(first_hit[c], 5.5, " first mode\n converged", fontsize=7, color="0.35", va="center")
        ax.set_yscale("log")
        ax.set_xscale("log")
        ax.set_ylim(0.08, 8)
        ax.set_yticks([0.1, 0.2, 0.5, 1, 2, 5])
        ax.set_yticklabels(["0.1", "0.2", "0.5", "1", "2", "5"])
        ax.set_xlim(a.tstar, step[-1])
        ax.set_title(labels[c], fontsize=9)
        ax.set_xlabel(f"step t (log scale; lr = {lr:g}, flow time τ = lr·t)")
    axes[0].set_ylabel(f"⟨Δ(t), Δ(t*)⟩ / ‖Δ(t*)‖²,  t* = {a.tstar}")
    axes[0].legend(fontsize=7, loc="lower left")
    fig.suptitle(f"median and 5–95% band over {K} seeds; N = d = 32, M* = diag(10/k), α = 5e-3",
                 fontsize=8)
    fig.savefig(a.out, dpi=100)
    print(f"\nwrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
