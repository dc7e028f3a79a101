#!/usr/bin/env python3
"""Side-by-side CPU comparison for bench/RESULTS.md: specsweep's CPU backend against the NumPy peer
on the Kang setting (m=60, n=70, r=5, LoRA init 1e-3, lr 0.01), specgd-exact and muon-jordan5.

Runs are interleaved (ours, NumPy, ours, NumPy, ...) so both see the same machine load, and each
figure is the median of --repeat runs. Prints a Markdown table and, first, the measured FP32 FMA
peak of this machine (from the same run of the throughput driver).

Usage: /usr/bin/python3 bench/cpu_vs_numpy.py --build build [--seeds 1024] [--steps 400] [--repeat 5]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "peers"))
import numpy_peer  # noqa: E402

WORKLOADS = {"kang-specgd-exact": "specgd", "kang-muon-jordan5": "muon"}


def ours(build, workload, seeds, steps, peak):
    cmd = [os.path.join(build, "bench", "specsweep_throughput"), "--workload", workload, "--seeds", str(seeds),
           "--steps", str(steps), "--repeat", "1"]
    if not peak:
        cmd.append("--no-peak")
    lines = [json.loads(l) for l in subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()]
    return {l.get("measure", "run"): l for l in lines}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build", default="build")
    p.add_argument("--seeds", type=int, default=1024)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--repeat", type=int, default=5)
    a = p.parse_args()

    peak = ours(a.build, "kang-specgd-exact", 16, 2, True)["fp32_fma_peak"]
    print(f"FP32 FMA peak ({peak['threads']} threads, measured): {peak['gflops']:.1f} GFLOP/s\n")
    print("| workload | specsweep cpu seed-steps/s | GFLOP/s | % of peak | NumPy seed-steps/s | ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for workload, optimizer in WORKLOADS.items():
        mine, theirs, gflops = [], [], []
        for _ in range(a.repeat):
            r = ours(a.build, workload, a.seeds, a.steps, False)["run"]
            mine.append(r["seed_steps_per_s"])
            gflops.append(r["gflops"])
            theirs.append(numpy_peer.run(optimizer, a.seeds, a.steps, "float32", 0)["seed_steps_per_s"])
        m, t, g = statistics.median(mine), statistics.median(theirs), statistics.median(gflops)
        print(f"| {workload} | {m:,.0f} | {g:.1f} | {100 * g / peak['gflops']:.0f}% | {t:,.0f} | {m / t:.1f}x |")


if __name__ == "__main__":
    main()
