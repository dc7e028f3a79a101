#!/usr/bin/env python3
"""Rhee, Simon, Karkada (arXiv 2606.30509), Fig 1a-b: numbers for "stepwise" (GD) against
"simultaneous" (Muon). No figure: `specsweep plot RUN.h5 --log-time` draws the trajectories.

    make_rhee_saddle.py RUN.h5

RUN.h5 is a run of examples/rhee_saddle.toml (cells: GD and Muon, each at the authors' two rates).
Prints per cell:
- order_kendall over all seeds (median, 25-75%): -1 largest mode first, +1 smallest first;
- the median hitting step of modes 1 and r (d_i >= 0.95 s_i);
- escape times: the first record step at which the core diagonal d_i (= W_ii, identity basis)
  reaches 0.1, above the init (~1e-3) and below every target (>= 0.31), per traced seed; their
  spread log10(max_i / min_i), median and 25-75% over the traced seeds. Stepwise learning spreads
  them over decades (GD: ~ log(1/alpha^2)/(2 lr s_i)), simultaneous learning does not (Muon:
  sqrt(d_i) ~ lr t for every mode, so every mode reaches 0.1 at ~ sqrt(0.1)/lr).
"""
import sys

import h5py
import numpy as np


def escape_times(core, step, level=0.1):
    """core: K x T x r core diagonals; first step with d_i >= level (inf if never)."""
    hit = core >= level
    first = np.where(hit.any(axis=1), step[np.argmax(hit, axis=1)], np.inf)  # K x r
    return first


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    with h5py.File(argv[1], "r") as f:
        kinds = [k.decode() if isinstance(k, bytes) else str(k) for k in f["cells/optimizer.kind"][()]]
        rates = (np.asarray(f["cells/optimizer.lr"][()], dtype=float) if "optimizer.lr" in f["cells"]
                 else [np.nan] * len(kinds))
        step = np.asarray(f["trace/step"][()], dtype=float)
        for c, kind in enumerate(kinds):
            ok = np.asarray(f["outcome/order_kendall"][c], dtype=float)
            hit = np.asarray(f["outcome/hit_step"][c], dtype=float)
            hit = np.where(hit < 0, np.inf, hit)
            core = np.asarray(f["trace/core_diag"][c], dtype=float)
            esc = escape_times(core, step)
            spread = np.log10(esc.max(axis=1) / esc.min(axis=1))
            q = np.percentile(ok, [25, 50, 75])
            sq = np.percentile(spread, [25, 50, 75])
            print(f"{kind}, lr {rates[c]:g}: order_kendall median {q[1]:+.3f} [25-75%: {q[0]:+.3f}, {q[2]:+.3f}] "
                  f"over {len(ok)} seeds; median hitting step mode 1: {np.median(hit[:, 0]):.0f}, "
                  f"mode {hit.shape[1]}: {np.median(hit[:, -1]):.0f}")
            print(f"  escape step (d_i >= 0.1), median over {esc.shape[0]} traced seeds: mode 1 "
                  f"{np.median(esc[:, 0]):.0f}, mode {esc.shape[1]} {np.median(esc[:, -1]):.0f}; "
                  f"spread log10(max/min) median {sq[1]:.2f} [25-75%: {sq[0]:.2f}, {sq[2]:.2f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
