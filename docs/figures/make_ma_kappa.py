#!/usr/bin/env python3
"""Ma, Huang, Chi, Chen (arXiv 2601.13474): iterations to a relative loss of 1e-6 against kappa.

    make_ma_kappa.py GD.h5 ADAM.h5 MUON.h5 [--problem asymmetric|symmetric|icl]
                     [--adam-axis-aligned H5] [--out PNG]

Reads the runs of examples/ma_kappa_{gd,adam,muon}.toml (asymmetric W = F1 F2, the default), of
examples/ma_symmetric_{gd,adam,muon}.toml (--problem symmetric, W = X X^T) or of
examples/ma_icl_{gd,adam,muon}.toml (--problem icl, in-context regression). Prints, per optimizer and kappa, the median
/outcome/steps_to_tol over the seeds that reached the tolerance with its 25-75% range, the reached
fraction (status converged) with its Wilson 95% interval, and the log-log slope of the median
against kappa; draws steps vs kappa (log-log), one series per optimizer.
"""
import argparse
import sys

import h5py
import numpy as np
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def wilson(k, n, z=1.959963984540054):
    if n == 0:
        return (np.nan, np.nan)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def load(path):
    with h5py.File(path, "r") as f:
        kappa = np.asarray(f["cells/problem.target.spectrum.condition"][()], dtype=float)
        steps = np.asarray(f["outcome/steps_to_tol"][()], dtype=float)
        status = np.asarray(f["outcome/status"][()])
        run_steps = float(np.max(f["trace/step"][()]))
    rows = []
    for c in np.argsort(kappa):
        s = steps[c][steps[c] >= 0]
        n = status.shape[1]
        k = int(np.count_nonzero(status[c] == 0))
        q = np.percentile(s, [25, 50, 75]) if len(s) else np.full(3, np.nan)
        rows.append((kappa[c], q, k, n))
    return rows, run_steps


# The problems of the paper, as examples/ma_kappa_*.toml, ma_symmetric_*.toml and ma_icl_*.toml set them.
TARGET_KAPPA = "condition number κ of the target (s_1 = 1, s_8 = 1/κ)"
PROBLEMS = {
    "asymmetric": {"title": "W = F1 F2, 32×32 rank 8", "gd_lr": 0.9, "muon_lr": "0.2·0.95^t",
                   "adam_lr": "0.01·0.999^t", "kappa": TARGET_KAPPA, "out": "docs/figures/ma_kappa.png"},
    "symmetric": {"title": "W = X Xᵀ, 32×32 rank 8", "gd_lr": 0.45, "muon_lr": "0.2·0.95^t",
                  "adam_lr": "0.01·0.999^t", "kappa": TARGET_KAPPA, "out": "docs/figures/ma_symmetric_kappa.png"},
    "icl": {"title": "in-context regression, d = 16, N = 32", "gd_lr": 0.9, "muon_lr": "0.5·0.98^t",
            "adam_lr": "0.01·0.9999^t, Λ rotated",
            "kappa": "condition number κ of the token covariance Λ (λ_1 = 1, λ_16 = 1/κ)",
            "out": "docs/figures/ma_icl_kappa.png"},
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gd")
    ap.add_argument("adam")
    ap.add_argument("muon")
    ap.add_argument("--problem", choices=sorted(PROBLEMS), default="asymmetric")
    ap.add_argument("--adam-axis-aligned", metavar="H5",
                    help="icl: also Adam's run with problem.target.basis = identity (Lambda diagonal)")
    ap.add_argument("--out", help="default docs/figures/ma_kappa.png, ma_symmetric_kappa.png or ma_icl_kappa.png")
    a = ap.parse_args()
    problem = PROBLEMS[a.problem]
    out = a.out or problem["out"]
    series = [(f"GD (lr {problem['gd_lr']})", a.gd, "#0072B2", "o"), (f"Adam ({problem['adam_lr']})", a.adam, "#E69F00", "s"),
              (f"Muon, exact polar, no momentum ({problem['muon_lr']})", a.muon, "#009E73", "^")]
    if a.adam_axis_aligned:
        series.append(("Adam, Λ axis-aligned", a.adam_axis_aligned, "#CC79A7", "D"))
    bound = 0.0  # the largest run length drawn as a lower bound: the legend goes above it
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    for name, path, col, mk in series:
        rows, run_steps = load(path)
        print(name)
        for kap, q, k, n in rows:
            lo, hi = wilson(k, n)
            median = f"{q[1]:7.1f}  [25-75%: {q[0]:.0f}-{q[2]:.0f}]" if k else f"> {run_steps:.0f} (none reached)"
            print(f"  kappa {kap:8.0f}: median steps {median}  "
                  f"reached {k}/{n} = {k / n:.3f} [Wilson 95%: {lo:.3f}, {hi:.3f}]")
        kap = np.array([r[0] for r in rows])
        q = np.array([r[1] for r in rows])
        # Cells where no seed reached the tolerance have no median: drawn as open markers at the run's
        # length (a lower bound), left out of the slope.
        finite = np.isfinite(q[:, 1])
        label = name
        sel = finite & (kap <= 1000)
        if np.count_nonzero(sel) >= 2:
            slope = np.polyfit(np.log10(kap[sel]), np.log10(q[sel, 1]), 1)[0]
            label += f"; slope {slope:.2f} (κ ≤ 1e3, cells reached)"
            print(f"  log-log slope of the median: {slope:.3f} (kappa 10..1e3)")
        if np.count_nonzero(finite) >= 2:
            slope_all = np.polyfit(np.log10(kap[finite]), np.log10(q[finite, 1]), 1)[0]
            print(f"  log-log slope of the median over the reached cells: {slope_all:.3f}")
        ax.errorbar(kap[finite], q[finite, 1], yerr=[q[finite, 1] - q[finite, 0], q[finite, 2] - q[finite, 1]],
                    color=col, marker=mk, ms=5, capsize=3, lw=1.5, label=label)
        if not finite.all():
            bound = max(bound, run_steps)
            ax.plot(kap[~finite], np.full(np.count_nonzero(~finite), run_steps), ls="none", marker=mk, ms=7,
                    mfc="none", color=col, label=f"{name}: none reached within {run_steps:.0f} steps")
    ax.set_xscale("log")
    ax.set_yscale("log")
    if bound:
        ax.set_ylim(top=bound * 300)
    ax.set_xlabel(problem["kappa"])
    ax.set_ylabel("steps to relative loss 1e-6 (median, 25–75%)")
    ax.set_title(f"Ma et al. (2601.13474): iterations vs κ, {problem['title']}, fp64", fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8, loc="upper left")
    fig.savefig(out, dpi=110)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
