#!/usr/bin/env python3
"""Side-by-side GPU comparison for bench/RESULTS.md: specsweep's CUDA backend against the PyTorch
(eager and torch.compile) and JAX peers on the issue's workloads (bench/peers/workloads.py):
kang (60x70, r=5, 16,384 seeds x 2,000 steps), medium (256x256, r=16, 4,096 x 500) and large
(1024x1024, r=64, 512 x 100), each with specgd-exact and muon-jordan5, fp32.

Runs are interleaved (specsweep, torch, torch.compile, JAX, specsweep, ...) so all see the same
machine state, and each figure is the median of --repeat runs. The FP32 SGEMM ceiling (torch
matmul, TF32 off) is measured in the same run. FLOP/s use the FLOP model of the throughput
driver (bench/FLOP_MODEL.md) for every implementation: they do the same mathematics.

Budget: specsweep always runs the full workload; a peer's timed run is cut to the steps that fit
--budget seconds (estimated from its warm-up), which keeps the whole comparison near 5 minutes on
an H100/H200 while seed-steps/s stay comparable; the table shows every cut. The peers run in this
process (their compiled programs are reused across repeats), specsweep as a subprocess; a run
that fails is reported in its row and the rest go on.

Usage: python3 bench/gpu_vs_peers.py --build build [--repeat 3] [--budget 2] [--scale 1]
                                     [--workload kang medium large] [--impl specsweep jax ...]
       python3 bench/gpu_vs_peers.py --build build --backend cpu --device cpu --scale 0.01
Prints one JSON line per run, then the ceiling and a Markdown table.
"""

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
import traceback

# Before JAX is imported: it would otherwise take 75% of the GPU's memory that torch and the
# specsweep subprocess need.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers"))
from workloads import WORKLOADS  # noqa: E402

OPTIMIZERS = {"specgd-exact": "specgd", "muon-jordan5": "muon"}
IMPLS = ("specsweep", "torch", "torch-compile", "jax")


def import_peer(module):
    """The peer module, or the reason it cannot be imported."""
    try:
        return importlib.import_module(module), None
    except Exception as e:  # ImportError, or a CUDA library that fails to load
        return None, f"{module}: {type(e).__name__}: {e}"


def throughput(a, workload, seeds, steps, backend, threads=None):
    cmd = [os.path.join(a.build, "bench", "specsweep_throughput"), "--backend", backend,
           "--no-peak", "--repeat", "1", "--seeds", str(seeds), "--steps", str(steps)]
    cmd += [x for w in workload for x in ("--workload", w)]
    if threads:
        cmd += ["--threads", str(threads)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=a.timeout)
    if p.returncode != 0:
        raise RuntimeError(f"exit {p.returncode}: {p.stderr[-300:]}")
    return [json.loads(line) for line in p.stdout.splitlines()]


def flop_model(a, names):
    """FLOPs per seed-step of every workload: the model is the driver's, and a one-seed, one-step
    CPU run prints it whether or not the GPU backend works."""
    try:
        runs = throughput(a, names, 1, 1, "cpu", threads=1)
        return {r["workload"]: r["flops_per_seed_step"] for r in runs}
    except Exception as e:  # the table still shows seed-steps/s
        print(f"# no FLOP model ({e}); FLOP/s columns left empty", file=sys.stderr)
        return {}


def sgemm_gflops(device, size):
    """FP32 SGEMM ceiling: best of several size x size torch matmuls, TF32 off."""
    import torch
    torch.backends.cuda.matmul.allow_tf32 = False
    x, y = (torch.randn(size, size, device=device) for _ in range(2))
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    best = float("inf")
    for _ in range(6):
        sync()
        start = time.perf_counter()
        x @ y
        sync()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def run_impl(impl, a, peers, name, seeds, steps):
    """One timed run: a result dict (seed_steps_per_s, steps, ...) or one with an "error"."""
    problem, optimizer = name.split("-", 1)
    try:
        if impl == "specsweep":
            return throughput(a, [name], seeds, steps, a.backend)[0]
        common = dict(optimizer=OPTIMIZERS[optimizer], seeds=seeds, steps=steps, dtype="float32",
                      workload=problem, device=a.device, budget=a.budget)
        if impl == "jax":
            return peers["jax"].run(**common)
        try:
            return peers["torch"].run(compile=impl == "torch-compile", **common)
        finally:
            if a.device == "cuda":
                import torch
                torch.cuda.empty_cache()  # give cached blocks back to JAX and to specsweep
    except Exception as e:
        traceback.print_exc(file=sys.stderr)
        message = " ".join(str(e).split())  # one line: it goes into a table cell
        return {"error": f"{type(e).__name__}: {message[:200]}"}


def row(name, impl, runs, flops, ceiling, ours_rate):
    """One table row: medians over the runs that succeeded."""
    ok = [r for r in runs if "error" not in r]
    label = f"specsweep {ok[0]['backend']}" if impl == "specsweep" and ok else impl
    if len(ok) < len(runs):
        label += f" ({len(runs) - len(ok)} of {len(runs)} failed)"
    if not ok:
        return f"| {name} | {label} | | failed: {runs[0]['error']} | | | | |"
    rate = statistics.median(r["seed_steps_per_s"] for r in ok)
    steps = statistics.median_low(r["steps"] for r in ok)
    asked = ok[0].get("steps_requested", steps)
    gflops = rate * flops / 1e9 if flops else None
    cells = [
        f"{ok[0]['seeds']:,} × {steps:,}" + (f" (of {asked:,})" if steps < asked else ""),
        f"{rate:,.0f}",
        f"{gflops:,.1f}" if gflops else "",
        f"{100 * gflops / ceiling:.1f}%" if gflops and ceiling else "",
        f"{ok[0]['warmup_s']:.1f}" if "warmup_s" in ok[0] else "",
        f"{ours_rate / rate:.1f}×" if ours_rate and impl != "specsweep" else "",
    ]
    return f"| {name} | {label} | " + " | ".join(cells) + " |"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build", default="build")
    p.add_argument("--backend", default="cuda", help="specsweep backend")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="the peers' device")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--budget", type=float, default=2.0, help="seconds per timed peer run")
    p.add_argument("--scale", type=float, default=1.0, help="multiplies seeds and steps")
    p.add_argument("--workload", nargs="+", choices=tuple(WORKLOADS), default=list(WORKLOADS))
    p.add_argument("--impl", nargs="+", choices=IMPLS, default=list(IMPLS))
    p.add_argument("--sgemm-size", type=int, help="default 8192 on cuda, 2048 on cpu")
    p.add_argument("--timeout", type=float, default=180, help="seconds per specsweep run")
    a = p.parse_args()
    began = time.perf_counter()

    peers, unavailable = {}, {}
    for impl, module in (("torch", "torch_peer"), ("jax", "jax_peer")):
        peers[impl], reason = import_peer(module)
        if reason:
            unavailable[impl] = unavailable[impl + "-compile"] = reason
    impls = [i for i in a.impl if i not in unavailable]

    names = [f"{w}-{o}" for w in a.workload for o in OPTIMIZERS]
    flops = flop_model(a, names)
    ceiling = None
    try:
        ceiling = sgemm_gflops(a.device, a.sgemm_size or (8192 if a.device == "cuda" else 2048))
    except Exception as e:  # no torch, or no device: % of SGEMM is left empty
        print(f"# no SGEMM ceiling ({type(e).__name__}: {e})", file=sys.stderr)

    results = {(n, i): [] for n in names for i in impls}
    for name in names:
        w = WORKLOADS[name.split("-", 1)[0]]
        seeds, steps = max(1, round(w.seeds * a.scale)), max(1, round(w.steps * a.scale))
        for rep in range(a.repeat):
            for impl in impls:
                r = run_impl(impl, a, peers, name, seeds, steps)
                results[name, impl].append(r)
                print(json.dumps({"impl": impl, "rep": rep, **r, "workload": name}), flush=True)

    print(f"\nFP32 SGEMM ceiling ({a.device}, torch matmul, TF32 off, measured): "
          + (f"{ceiling:,.0f} GFLOP/s" if ceiling else "not measured (see the message above)"))
    print(f"specsweep backend: {a.backend}; peers on {a.device}, fp32; median of {a.repeat}; "
          f"peer runs cut to fit {a.budget:g} s where shown\n")
    print("| workload | implementation | seeds × steps | seed-steps/s | GFLOP/s | % of SGEMM "
          "| warm-up s (1st run) | specsweep ÷ this |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in names:
        ours = [r for r in results.get((name, "specsweep"), []) if "error" not in r]
        ours_rate = statistics.median(r["seed_steps_per_s"] for r in ours) if ours else None
        for impl in impls:
            print(row(name, impl, results[name, impl], flops.get(name), ceiling, ours_rate))
    for impl in a.impl:
        if impl in unavailable:
            print(f"\n{impl}: not run ({unavailable[impl]})")
    print(f"\ntotal {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
