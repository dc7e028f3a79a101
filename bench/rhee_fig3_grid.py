#!/usr/bin/env python3
"""Times Rhee et al.'s Fig 3 grid at the paper's sizes (examples/rhee_fig3.toml): nine
`specsweep run`s, d in {32, 128, 512} x alpha in {1e-5, 1e-4, 1e-3}, lr = 0.2 alpha, the paper's
step counts, 64 seeds each, all traced. Prints each cell's wall time and the total; the outputs
(rhee_fig3_d{d}_a{alpha}.h5) go to --outdir.

  bench/rhee_fig3_grid.py build/host/specsweep --outdir /tmp/fig3 [--threads 2] [--cells 512:1e-3,...]
"""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = os.path.join(HERE, "..", "examples", "rhee_fig3.toml")
ALPHAS = ("1e-5", "1e-4", "1e-3")
D_VALUES = (32, 128, 512)


def steps(d, alpha):
    """The paper's step counts: longer runs only at d = N/4 for the two smaller alphas."""
    if d == 32 and alpha == "1e-4":
        return 1000
    if d == 32 and alpha == "1e-5":
        return 10000
    return 100


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("exe")
    ap.add_argument("--outdir", default=".")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cells", help="comma-separated d:alpha (default: all nine)")
    args = ap.parse_args()
    cells = [(d, a) for d in D_VALUES for a in ALPHAS]
    if args.cells:
        cells = [(int(c.split(":")[0]), c.split(":")[1]) for c in args.cells.split(",")]
    os.makedirs(args.outdir, exist_ok=True)
    total = 0.0
    for d, alpha in cells:
        out = os.path.join(args.outdir, f"rhee_fig3_d{d}_a{alpha}.h5")
        cmd = [args.exe, "run", CONFIG, "--out", out, "--threads", str(args.threads), "--quiet", "--force",
               "--set", f"problem.rank={d}", "--set", f"init.scale={alpha}",
               "--set", f"optimizer.lr={0.2 * float(alpha):g}", "--set", f"run.steps={steps(d, alpha)}"]
        t0 = time.time()
        r = subprocess.run(cmd)
        dt = time.time() - t0
        if r.returncode != 0:
            print(f"d = {d}, alpha = {alpha}: exit {r.returncode}", file=sys.stderr)
            return 1
        total += dt
        print(f"d = {d:3d}, alpha = {alpha}, {steps(d, alpha):5d} steps: {dt:7.1f} s", flush=True)
    print(f"total: {total:.1f} s ({total / 60:.1f} min) with {args.threads} threads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
