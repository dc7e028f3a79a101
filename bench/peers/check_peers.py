#!/usr/bin/env python3
"""Check that the PyTorch (eager and torch.compile) and JAX peers compute what the NumPy peer
computes: same seeds, same initial arrays (workloads.problem), fp64, and for each optimizer the
per-step mean loss curve within a relative 1e-6 of NumPy's and every seed's hitting steps equal.

Exit status: 0 all agree; 1 a peer disagrees or fails; 77 (skip) torch or jax is not importable
(the other is still checked). Not part of ctest: CI has neither.

Usage: python3 bench/peers/check_peers.py [--workload kang] [--seeds 64] [--steps 200]
                                          [--device cpu|cuda]
"""

import argparse
import importlib
import sys

import numpy as np

import numpy_peer

RTOL = 1e-6


def compare(name, got, want):
    """Failures of one peer's run against the NumPy run, as strings."""
    got_loss, want_loss = np.array(got["mean_loss"]), np.array(want["mean_loss"])
    rel = np.max(np.abs(got_loss - want_loss) / np.abs(want_loss))
    hits_equal = np.mean(np.array(got["hit_steps"]) == np.array(want["hit_steps"]))
    print(f"  {name:14s} max relative mean-loss difference {rel:.1e}, "
          f"hitting steps equal for {100 * hits_equal:.1f}% of seed-modes")
    problems = []
    if not rel <= RTOL:
        problems.append(f"{name}: mean loss differs by {rel:.1e} > {RTOL:.0e}")
    if hits_equal < 1:
        problems.append(f"{name}: hitting steps differ")
    return problems


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workload", default="kang")
    p.add_argument("--seeds", type=int, default=64)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    a = p.parse_args()

    peers, missing = {}, []
    for module in ("torch_peer", "jax_peer"):
        try:
            peers[module] = importlib.import_module(module)
        except ImportError as e:
            missing.append(f"{module} ({e})")

    common = dict(seeds=a.seeds, steps=a.steps, dtype="float64", seed=0, workload=a.workload,
                  curves=True)
    runs = {}
    if "torch_peer" in peers:
        torch_run = peers["torch_peer"].run
        runs["torch"] = lambda o: torch_run(o, device=a.device, **common)
        runs["torch-compile"] = lambda o: torch_run(o, device=a.device, compile=True, **common)
    if "jax_peer" in peers:
        runs["jax"] = lambda o: peers["jax_peer"].run(o, device=a.device, **common)

    problems = []
    for optimizer in ("specgd", "muon"):
        want = numpy_peer.run(optimizer, **common)
        print(f"{a.workload} {optimizer}, {a.seeds} seeds x {a.steps} steps, fp64: NumPy median "
              f"hitting steps {want['median_hit']}")
        for name, fn in runs.items():
            try:
                problems += compare(name, fn(optimizer), want)
            except Exception as e:  # a crashing peer is a failed check, and the others still run
                problems.append(f"{name} {optimizer}: {type(e).__name__}: {e}")
                print(f"  {name:14s} failed: {problems[-1]}")

    for line in problems:
        print("FAIL", line)
    for line in missing:
        print("SKIP", line)
    if problems:
        return 1
    print("all peers agree" if not missing else "the importable peers agree")
    return 77 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
