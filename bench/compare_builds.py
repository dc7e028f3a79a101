#!/usr/bin/env python3
"""Two builds of specsweep side by side on the same cells: does a change slow a run that does not
ask for what it adds?

Runs `specsweep bench CONFIG --format json` with each binary in turn (A, B, A, B, ...; the order
alternates every round, so drift on a shared machine falls on both), for every config and --set
variant given, and prints a markdown table of the median seed-steps per second of each build,
their ratio B / A and the range of each.

Usage: compare_builds.py OLD_SPECSWEEP NEW_SPECSWEEP [--rounds 7] [--threads 2]
           --case NAME CONFIG [KEY=VALUE ...] [--case ...]
Example (the Kang quickstart, Muon jordan5 and GD at 2048 seeds):
  compare_builds.py /tmp/old/build/host/specsweep build/host/specsweep \\
      --case specgd examples/quickstart.toml run.seeds=2048 \\
      --case muon examples/quickstart.toml run.seeds=2048 optimizer.kind='"muon"' \\
          optimizer.orthogonalizer='"newton_schulz"'
"""
import argparse
import json
import statistics
import subprocess
import sys


def bench(exe, config, sets, threads):
    cmd = [exe, "bench", config, "--threads", str(threads), "--repeat", "1", "--format", "json"]
    for s in sets:
        cmd += ["--set", s]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return sum(json.loads(line)["seed_steps_per_s"] for line in out.splitlines() if line.strip())


def main(argv):
    cases, rest, current = [], [], None
    for a in argv:
        if a == "--case":
            current = []
            cases.append(current)
        elif current is not None and not a.startswith("--"):
            current.append(a)
        else:
            current = None
            rest.append(a)
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(rest)
    if not cases or any(len(c) < 2 for c in cases):
        ap.error("give at least one --case NAME CONFIG [KEY=VALUE ...]")
    print("| case | A: seed-steps/s (median) | B: seed-steps/s (median) | B / A | range A | range B |")
    print("| --- | ---: | ---: | ---: | --- | --- |")
    for name, config, *sets in cases:
        runs = {args.old: [], args.new: []}
        for i in range(args.rounds):
            order = (args.old, args.new) if i % 2 == 0 else (args.new, args.old)
            for exe in order:
                runs[exe].append(bench(exe, config, sets, args.threads))
        a, b = runs[args.old], runs[args.new]
        ma, mb = statistics.median(a), statistics.median(b)
        print(f"| {name} | {ma:,.0f} | {mb:,.0f} | {mb / ma:.3f} | {min(a):,.0f}–{max(a):,.0f} | "
              f"{min(b):,.0f}–{max(b):,.0f} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
