#!/usr/bin/env python3
"""Check that the PyTorch (eager, and torch.compile where PyTorch has it) and JAX peers compute what
the NumPy peer computes: same seeds, same initial arrays (workloads.problem), fp64, and for each
case and optimizer the per-step mean loss curve within a relative tolerance of NumPy's and every
seed's hitting steps equal.

Cases (--case, default all):
- kang: the Kang workload (LoRA init), specgd and muon, relative 1e-6 (as before);
- gaussian8: m = n = r = 8, Gaussian init of both factors (scale 0.3), power-law target 10/i, lr
  0.01, specgd (exact polar factor), muon (jordan5) and gd, relative 1e-10.

Each peer runs as its own process through its command line (--curves), under the interpreter
that has its library: Debian's PyTorch needs Debian's NumPy 1.x (/usr/bin/python3), JAX from PyPI
needs NumPy 2 (scripts/setup-peers.sh puts it in .venv-peers). The NumPy reference runs here.

Exit status: 0 all agree; 1 a peer disagrees or fails; 77 (skip) torch or jax is not importable
under its interpreter (the other is still checked). Not part of ctest: CI has neither.

Usage: /usr/bin/python3 bench/peers/check_peers.py [--case all|kang|gaussian8] [--seeds 64]
           [--steps 200] [--device cpu|cuda] [--torch-python PY] [--jax-python PY]
"""

import argparse
import json
import os
import subprocess
import sys

import numpy as np

import numpy_peer
from workloads import custom

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
VENV_PYTHON = os.path.join(ROOT, ".venv-peers", "bin", "python")

# name: (peer command-line arguments, the same problem for the NumPy peer, optimizers, tolerance)
GAUSSIAN8 = dict(m=8, n=8, r=8, spectrum="power:10:1", init="gaussian", scale=0.3, lr=0.01)
CASES = {
    "kang": (["--workload", "kang"], "kang", ("specgd", "muon"), 1e-6),
    "gaussian8": (["--shape", "8,8,8", "--spectrum", "power:10:1", "--init", "gaussian",
                   "--scale", "0.3", "--lr", "0.01"], custom(**GAUSSIAN8), ("specgd", "muon", "gd"),
                  1e-10),
}


def compare(name, got, want, rtol):
    """Failures of one peer's run against the NumPy run, as strings."""
    got_loss, want_loss = np.array(got["mean_loss"]), np.array(want["mean_loss"])
    rel = np.max(np.abs(got_loss - want_loss) / np.abs(want_loss))
    hits_equal = np.mean(np.array(got["hit_steps"]) == np.array(want["hit_steps"]))
    print(f"  {name:14s} max relative mean-loss difference {rel:.1e}, "
          f"hitting steps equal for {100 * hits_equal:.1f}% of seed-modes")
    problems = []
    if not rel <= rtol:
        problems.append(f"{name}: mean loss differs by {rel:.1e} > {rtol:.0e}")
    if hits_equal < 1:
        problems.append(f"{name}: hitting steps differ")
    return problems


def peer_run(python, script, args):
    """One peer run through its command line; its JSON line, or an exception with its stderr."""
    out = subprocess.run([python, os.path.join(HERE, script)] + args, capture_output=True,
                         text=True, cwd=HERE)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip()
                           else f"exit status {out.returncode}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def importable(python, module):
    """None if `module` imports under `python`, else why not."""
    try:
        out = subprocess.run([python, "-c", f"import {module}"], capture_output=True, text=True)
    except OSError as e:
        return str(e)
    return None if out.returncode == 0 else (out.stderr.strip().splitlines() or ["?"])[-1]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", choices=("all",) + tuple(CASES), default="all")
    p.add_argument("--seeds", type=int, default=64)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--torch-python", default="/usr/bin/python3")
    p.add_argument("--jax-python", default=VENV_PYTHON if os.path.exists(VENV_PYTHON) else sys.executable)
    a = p.parse_args()

    runs, missing = {}, []
    common = ["--seeds", str(a.seeds), "--steps", str(a.steps), "--dtype", "float64", "--seed", "0",
              "--device", a.device, "--curves"]
    why = importable(a.torch_python, "torch")
    if why is None:
        runs["torch"] = lambda args: peer_run(a.torch_python, "torch_peer.py", args + common)
        has_compile = subprocess.run([a.torch_python, "-c", "import torch; assert hasattr(torch, 'compile')"],
                                     capture_output=True).returncode == 0
        if has_compile:
            runs["torch-compile"] = lambda args: peer_run(a.torch_python, "torch_peer.py",
                                                          args + common + ["--compile"])
        else:
            print("(torch-compile not checked: this PyTorch has no torch.compile)")
    else:
        missing.append(f"torch_peer under {a.torch_python} ({why})")
    why = importable(a.jax_python, "jax")
    if why is None:
        runs["jax"] = lambda args: peer_run(a.jax_python, "jax_peer.py", args + common)
    else:
        missing.append(f"jax_peer under {a.jax_python} ({why})")

    problems = []
    for case in CASES if a.case == "all" else (a.case,):
        args, workload, optimizers, rtol = CASES[case]
        for optimizer in optimizers:
            want = numpy_peer.run(optimizer, a.seeds, a.steps, "float64", 0, workload, curves=True)
            print(f"{case} {optimizer}, {a.seeds} seeds x {a.steps} steps, fp64, tolerance {rtol:.0e}: "
                  f"NumPy median hitting steps {want['median_hit']}")
            for name, fn in runs.items():
                try:
                    problems += compare(name, fn(args + ["--optimizer", optimizer]), want, rtol)
                except Exception as e:  # a crashing peer is a failed check, and the others still run
                    problems.append(f"{name} {case} {optimizer}: {type(e).__name__}: {e}")
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
