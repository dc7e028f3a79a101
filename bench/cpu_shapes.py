#!/usr/bin/env python3
"""Side-by-side CPU benchmark at the shapes of the performance issue (issue 15): specsweep's CPU
backend (`specsweep bench ... --format json --threads 2`) against the PyTorch and JAX peers
(bench/peers/torch_peer.py, jax_peer.py) on the same shape, optimizer and precision, and the
muon-mfac authors' per-seed PyTorch loop (bench/peers/muon_mfac_fig1c.py) against `specsweep run`
of the same learning-rate sweep (bench/configs/rhee_fig1c_{muon,gd}.toml).

Every measurement is its own process; per row the implementations run interleaved (specsweep,
PyTorch, JAX, specsweep, ...) --repeat times, and the table gives medians with [min-max]. Seed and
step counts are chosen per implementation so that a measurement takes about --target-s seconds
(from a guess of its rate; after the first repetition from the rate measured), and each peer gets
--budget seconds for its timed run (it runs fewer steps if the budget would be exceeded; its
seed-steps/s stay comparable) and --timeout seconds in all, compilation included. A peer that fails
or times out is reported in its row; the other measurements go on.

specsweep's GFLOP/s are its own (bench/FLOP_MODEL.md, the JSON of `specsweep bench`); the fraction
of the peak is against the FP32 FMA peak measured by build/bench/specsweep_throughput at the start
(2 threads), and for fp64 rows against half of it (the fp64 FMA peak: half the lanes).

Rows (--rows, default all): kang-specgd, kang-muon (60x70 r5, LoRA init 1e-3, s = 5..1, lr 0.01);
sq32-specgd, sq32-gd, sq25-specgd, sq128r32-specgd, sq128r128-specgd (m = n, power-law target
10/i, Gaussian init 0.005, lr 0.005: bench/configs/square_shapes.toml); medium-muon (256x256 r16,
LoRA 1e-3, geometric 1..1/10, lr 0.01); sq128r512-specgd-fp64; fig1c (Rhee et al. Fig 1c:
200 rates x 8 seeds, Muon exact 500 steps + GD 2000 steps). specgd is the exact polar factor,
muon jordan5 Newton-Schulz (5 steps) with Nesterov momentum 0.95, everything fp32 unless named.

The fig1c row times `specsweep run` end to end (process start, the 200 cells packed together,
the HDF5 file) for both configs, at --fig1c-steps-scale of the paper's step counts (1 = the full
sweep, ~1-2 minutes); the peer runs --fig1c-lrs of the 200 rates, one seed each, within --budget
per optimizer. Both sides count nominal seed-steps (specsweep freezes diverged GD seeds; the
authors' loop keeps stepping their NaNs).

Interpreters: the PyTorch peers need Debian's PyTorch and NumPy 1.x (/usr/bin/python3), the JAX
peer JAX and NumPy 2 (.venv-peers/bin/python from scripts/setup-peers.sh); --torch-python and
--jax-python choose others.

Usage: /usr/bin/python3 bench/cpu_shapes.py [--specsweep build/host/specsweep]
           [--throughput build/bench/specsweep_throughput] [--repeat 3] [--target-s 2]
           [--budget 5] [--timeout 180] [--rows kang-specgd,...] [--peers torch,jax] [--torch-threads 2]
           [--fig1c-steps-scale 1] [--fig1c-lrs 8] [--json cpu_shapes.json]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS = os.path.join(HERE, "peers")
VENV_PYTHON = os.path.join(ROOT, ".venv-peers", "bin", "python")
SQUARE = os.path.join(HERE, "configs", "square_shapes.toml")
FIG1C = {opt: os.path.join(HERE, "configs", f"rhee_fig1c_{opt}.toml") for opt in ("muon", "gd")}
FIG1C_STEPS = {"muon": 500, "gd": 2000}
FIG1C_CELLS, FIG1C_SEEDS = 200, 8


@dataclass
class Row:
    key: str
    label: str
    m: int
    n: int
    r: int
    optimizer: str            # specgd (exact polar) | muon (jordan5, Nesterov 0.95) | gd
    spectrum: tuple           # ("power", scale, exponent, count) | ("geometric", max, cond, count) | ("list", values)
    init: str                 # lora | gaussian
    scale: float
    lr: float
    dtype: str = "float32"
    seeds: dict = field(default_factory=dict)   # per implementation
    guess: dict = field(default_factory=dict)   # seed-steps/s, to size the first measurement

    def specsweep_sets(self):
        kind, *a = self.spectrum
        if kind == "power":
            spec = f'{{ kind = "power", scale = {a[0]!r}, exponent = {a[1]!r}, count = {a[2]} }}'
        elif kind == "geometric":
            spec = f'{{ kind = "geometric", max = {a[0]!r}, condition = {a[1]!r}, count = {a[2]} }}'
        else:
            spec = "[" + ", ".join(repr(float(x)) for x in a[0]) + "]"
        factors = '["zero", "gaussian"]' if self.init == "lora" else '["gaussian", "gaussian"]'
        sets = [f"problem.m={self.m}", f"problem.n={self.n}", f"problem.rank={self.r}",
                f"problem.target.spectrum={spec}", f"init.factors={factors}",
                f"init.scale={self.scale!r}", f"optimizer.lr={self.lr!r}",
                f'optimizer.kind="{self.optimizer}"',
                f'run.precision="{"fp64" if self.dtype == "float64" else "fp32"}"']
        if self.optimizer == "specgd":
            sets.append('optimizer.orthogonalizer="exact"')
        elif self.optimizer == "muon":
            sets += ['optimizer.orthogonalizer="newton_schulz"', 'optimizer.ns_coefficients="jordan5"',
                     "optimizer.ns_steps=5", "optimizer.momentum=0.95", "optimizer.nesterov=true"]
        return sets

    def peer_args(self):
        kind, *a = self.spectrum
        spec = ",".join(repr(float(x)) for x in a[0]) if kind == "list" else ":".join(map(str, [kind] + a))
        return ["--shape", f"{self.m},{self.n},{self.r}", "--spectrum", spec, "--init", self.init,
                "--scale", repr(self.scale), "--lr", repr(self.lr), "--optimizer", self.optimizer,
                "--dtype", self.dtype]


KANG = dict(m=60, n=70, r=5, spectrum=("list", (5.0, 4.0, 3.0, 2.0, 1.0)), init="lora", scale=1e-3,
            lr=0.01)


def square(k, r, count=None):
    return dict(m=k, n=k, r=r, spectrum=("power", 10.0, 1.0, count or min(k, r)), init="gaussian",
                scale=0.005, lr=0.005)


# Guesses: the measurements (specsweep's where it has improved since), for the first size.
ROWS = [
    Row("kang-specgd", "60x70, 5 (LoRA) specgd exact", optimizer="specgd", **KANG,
        seeds=dict(specsweep=2048, torch=512, jax=512),
        guess=dict(specsweep=600e3, torch=15e3, jax=32e3)),
    Row("kang-muon", "60x70, 5 (LoRA) muon jordan5", optimizer="muon", **KANG,
        seeds=dict(specsweep=2048, torch=512, jax=512),
        guess=dict(specsweep=540e3, torch=12e3, jax=29e3)),
    Row("sq32-specgd", "32x32, 32 specgd exact", optimizer="specgd", **square(32, 32),
        seeds=dict(specsweep=256, torch=256, jax=256), guess=dict(specsweep=10e3, torch=3e3, jax=5.2e3)),
    Row("sq32-gd", "32x32, 32 gd", optimizer="gd", **square(32, 32),
        seeds=dict(specsweep=1024, torch=256, jax=256), guess=dict(specsweep=175e3, torch=20e3, jax=200e3)),
    Row("sq25-specgd", "25x25, 25 specgd exact", optimizer="specgd", **square(25, 25),
        seeds=dict(specsweep=256, torch=256, jax=256), guess=dict(specsweep=35e3, torch=5.3e3, jax=6.7e3)),
    Row("sq128r32-specgd", "128x128, 32 specgd exact", optimizer="specgd", **square(128, 32),
        seeds=dict(specsweep=64, torch=64, jax=64), guess=dict(specsweep=4e3, torch=700, jax=2.3e3)),
    Row("sq128r128-specgd", "128x128, 128 specgd exact", optimizer="specgd", **square(128, 128),
        seeds=dict(specsweep=32, torch=32, jax=32), guess=dict(specsweep=170, torch=64, jax=290)),
    Row("medium-muon", "256x256, 16 (LoRA) muon jordan5", m=256, n=256, r=16, optimizer="muon",
        spectrum=("geometric", 1.0, 10.0, 16), init="lora", scale=1e-3, lr=0.01,
        seeds=dict(specsweep=256, torch=64, jax=64), guess=dict(specsweep=11.8e3, torch=440, jax=4.2e3)),
    Row("sq128r512-specgd-fp64", "128x128, 512 specgd exact fp64", optimizer="specgd", dtype="float64",
        **square(128, 512, 128), seeds=dict(specsweep=16, torch=16, jax=16),
        guess=dict(specsweep=15, torch=10, jax=5)),
]
ROW_KEYS = [r.key for r in ROWS] + ["fig1c"]


def run_json(cmd, timeout, env=None, cwd=None):
    """(JSON lines of stdout, None) or (None, why it failed)."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s"
    except OSError as e:
        return None, str(e)
    if out.returncode != 0:
        tail = (out.stderr.strip().splitlines() or [f"exit status {out.returncode}"])[-1]
        return None, f"exit {out.returncode}: {tail[:200]}"
    try:
        return [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")], None
    except json.JSONDecodeError as e:
        return None, f"bad JSON: {e}"


def measure_peak(throughput, timeout):
    if not os.path.exists(throughput):
        return None, f"{throughput} not found"
    lines, why = run_json([throughput, "--workload", "kang-specgd-exact", "--seeds", "16", "--steps", "2",
                           "--repeat", "1", "--threads", "2"], timeout)
    if lines is None:
        return None, why
    peak = [l for l in lines if l.get("measure") == "fp32_fma_peak"]
    return (peak[0]["gflops"], None) if peak else (None, "no fp32_fma_peak line")


class Runner:
    def __init__(self, a):
        self.a = a
        self.env = dict(os.environ, OMP_NUM_THREADS="2")

    def specsweep(self, row, seeds, steps):
        cmd = [self.a.specsweep, "bench", SQUARE, "--format", "json", "--threads", "2", "--repeat", "1",
               "--set", f"run.seeds={seeds}", "--set", f"run.steps={steps}"]
        for s in row.specsweep_sets():
            cmd += ["--set", s]
        lines, why = run_json(cmd, self.a.timeout, self.env)
        if lines is None:
            return {"error": why}
        t = lines[0]
        return {"seed_steps_per_s": t["seed_steps_per_s"], "seconds": t["median_s"], "seeds": seeds,
                "steps": steps, "gflops": t["gflops"], "flops_per_seed_step": t["flops_per_seed_step"]}

    def peer(self, name, row, seeds, steps):
        python, script = ((self.a.torch_python, "torch_peer.py") if name == "torch"
                          else (self.a.jax_python, "jax_peer.py"))
        cmd = [python, os.path.join(PEERS, script)] + row.peer_args() + [
            "--seeds", str(seeds), "--steps", str(steps), "--budget", str(self.a.budget)]
        if name == "torch":
            cmd += ["--threads", str(self.a.torch_threads)]
        lines, why = run_json(cmd, self.a.timeout, self.env, cwd=PEERS)
        if lines is None:
            return {"error": why}
        t = lines[-1]
        return {"seed_steps_per_s": t["seed_steps_per_s"], "seconds": t["seconds"], "seeds": seeds,
                "steps": t["steps"], "steps_requested": steps, "warmup_s": t.get("warmup_s"),
                "version": t.get("torch_version") or t.get("jax_version")}

    def row(self, row, impls):
        runs = {impl: [] for impl in impls}
        rate = dict(row.guess)
        for rep in range(self.a.repeat):
            for impl in impls:
                seeds = row.seeds[impl]
                steps = max(2, round(self.a.target_s * rate[impl] / seeds))
                if impl != "specsweep":
                    steps = min(steps, 100000)
                r = self.specsweep(row, seeds, steps) if impl == "specsweep" else self.peer(impl, row, seeds, steps)
                runs[impl].append(r)
                if "error" not in r:
                    rate[impl] = r["seed_steps_per_s"]  # later repetitions sized from the measured rate
                print(f"    {row.key} {impl} run {rep + 1}: " +
                      (f"{r['seed_steps_per_s']:,.0f} seed-steps/s ({r['seeds']} x {r['steps']}, "
                       f"{r['seconds']:.2f} s)" if "error" not in r else f"FAILED: {r['error']}"),
                      file=sys.stderr, flush=True)
        return runs

    def fig1c(self):
        a = self.a
        runs = {"specsweep": [], "muon-mfac": []}
        steps = {o: max(1, round(s * a.fig1c_steps_scale)) for o, s in FIG1C_STEPS.items()}
        for rep in range(a.repeat):
            r = {"steps": steps}
            with tempfile.TemporaryDirectory() as tmp:
                for opt in ("muon", "gd"):
                    cmd = [a.specsweep, "run", FIG1C[opt], "--threads", "2", "--quiet",
                           "--set", f"run.steps={steps[opt]}", "--out", os.path.join(tmp, f"{opt}.h5")]
                    start = time.perf_counter()
                    try:
                        out = subprocess.run(cmd, capture_output=True, text=True, timeout=a.timeout * 4,
                                             env=self.env)
                        why = None if out.returncode == 0 else f"exit {out.returncode}: {out.stderr.strip()[-200:]}"
                    except subprocess.TimeoutExpired:
                        why = f"timed out after {a.timeout * 4:.0f} s"
                    seconds = time.perf_counter() - start
                    if why:
                        r = {"error": f"{opt}: {why}"}
                        break
                    seed_steps = FIG1C_CELLS * FIG1C_SEEDS * steps[opt]
                    r[opt] = {"seconds": seconds, "seed_steps": seed_steps, "seed_steps_per_s": seed_steps / seconds}
            if "error" not in r:
                total = sum(r[o]["seed_steps"] for o in ("muon", "gd"))
                r["seed_steps_per_s"] = total / sum(r[o]["seconds"] for o in ("muon", "gd"))
                # the full sweep at these rates (equal to the above at --fig1c-steps-scale 1)
                full = {o: FIG1C_CELLS * FIG1C_SEEDS * FIG1C_STEPS[o] for o in FIG1C_STEPS}
                r["full_sweep_seed_steps_per_s"] = sum(full.values()) / sum(
                    full[o] / r[o]["seed_steps_per_s"] for o in full)
            runs["specsweep"].append(r)
            print("    fig1c specsweep run {}: {}".format(rep + 1, f"{r['seed_steps_per_s']:,.0f} seed-steps/s "
                  f"(muon {r['muon']['seconds']:.1f} s, gd {r['gd']['seconds']:.1f} s)" if "error" not in r
                  else "FAILED: " + r["error"]), file=sys.stderr, flush=True)

            if "torch" in a.peers:
                cmd = [a.torch_python, os.path.join(PEERS, "muon_mfac_fig1c.py"), "--lrs", str(a.fig1c_lrs),
                       "--seeds", "1", "--threads", str(a.torch_threads), "--budget", str(a.budget)]
                lines, why = run_json(cmd, a.timeout * 2, self.env, cwd=PEERS)
                if lines is None:
                    p = {"error": why}
                else:
                    t = lines[-1]
                    p = {"muon": t["muon"], "gd": t["sgd"],
                         "seed_steps_per_s": t["full_sweep"]["seed_steps_per_s"],
                         "full_sweep_seed_steps_per_s": t["full_sweep"]["seed_steps_per_s"],
                         "estimated_full_sweep_s": t["full_sweep"]["estimated_seconds"],
                         "version": t["torch_version"]}
                runs["muon-mfac"].append(p)
                print("    fig1c muon-mfac run {}: {}".format(rep + 1, f"{p['seed_steps_per_s']:,.0f} seed-steps/s "
                      f"(muon {p['muon']['seed_steps_per_s']:,.0f}/s, gd {p['gd']['seed_steps_per_s']:,.0f}/s)"
                      if "error" not in p else "FAILED: " + p["error"]), file=sys.stderr, flush=True)
        return runs


def stats(runs, key="seed_steps_per_s"):
    ok = [r[key] for r in runs if "error" not in r]
    if not ok:
        errors = sorted({r["error"] for r in runs})
        return None, "; ".join(errors) if errors else "not run"
    return {"median": statistics.median(ok), "min": min(ok), "max": max(ok), "n": len(ok),
            "failed": len(runs) - len(ok)}, None


def fmt_rate(s, why):
    if s is None:
        return f"failed ({why})" if why != "not run" else "-"
    rng = f" [{s['min']:,.0f}–{s['max']:,.0f}]" if s["n"] > 1 else ""
    fail = f" ({s['failed']} failed)" if s["failed"] else ""
    return f"{s['median']:,.0f}{rng}{fail}"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--specsweep", default=os.path.join(ROOT, "build", "host", "specsweep"))
    p.add_argument("--throughput", default=os.path.join(ROOT, "build", "bench", "specsweep_throughput"))
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--target-s", type=float, default=2.0, help="aimed seconds per timed measurement")
    p.add_argument("--budget", type=float, default=5.0, help="a peer's timed seconds at most (fewer steps)")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds per process before it is killed")
    p.add_argument("--rows", default="all", help="comma-separated: " + ",".join(ROW_KEYS))
    p.add_argument("--peers", default="torch,jax")
    p.add_argument("--torch-python", default="/usr/bin/python3")
    p.add_argument("--torch-threads", type=int, default=2,
                   help="PyTorch intra-op threads (2 on an idle machine; on a loaded one its OpenMP "
                        "threads wait for each other and 1 is faster)")
    p.add_argument("--jax-python", default=VENV_PYTHON if os.path.exists(VENV_PYTHON) else sys.executable)
    p.add_argument("--fig1c-steps-scale", type=float, default=1.0,
                   help="fraction of the paper's 500 / 2000 steps specsweep runs in the fig1c row")
    p.add_argument("--fig1c-lrs", type=int, default=8, help="rates of the 200 the per-seed peer runs")
    p.add_argument("--json", default="cpu_shapes.json", help="where to write every measurement")
    a = p.parse_args()
    keys = ROW_KEYS if a.rows == "all" else a.rows.split(",")
    unknown = set(keys) - set(ROW_KEYS)
    if unknown:
        p.error(f"unknown rows {sorted(unknown)}; known: {ROW_KEYS}")
    peers = [x for x in a.peers.split(",") if x]
    a.peers = peers

    runner = Runner(a)
    peak, why = measure_peak(a.throughput, a.timeout)
    print("FP32 FMA peak (2 threads, measured): " + (f"{peak:.1f} GFLOP/s" if peak else f"not measured ({why})"),
          flush=True)
    result = {"fp32_fma_peak_gflops": peak, "repeat": a.repeat, "target_s": a.target_s, "budget_s": a.budget,
              "specsweep": a.specsweep, "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
              "rows": {}}
    lines = []
    for row in ROWS:
        if row.key not in keys:
            continue
        print(f"  {row.key} ...", file=sys.stderr, flush=True)
        runs = runner.row(row, ["specsweep"] + peers)
        s = {impl: stats(rs) for impl, rs in runs.items()}
        g, _ = stats(runs["specsweep"], "gflops")
        ours = s["specsweep"][0]
        best_peer = max((s[x][0]["median"] for x in peers if s[x][0]), default=None)
        ratio = ours["median"] / best_peer if ours and best_peer else None
        ceiling = peak / 2 if peak and row.dtype == "float64" else peak
        frac = g["median"] / ceiling if g and ceiling else None
        result["rows"][row.key] = {"label": row.label, "m": row.m, "n": row.n, "r": row.r,
                                   "optimizer": row.optimizer, "dtype": row.dtype, "runs": runs,
                                   "seed_steps_per_s": {k: v[0] for k, v in s.items()},
                                   "errors": {k: v[1] for k, v in s.items() if v[1]},
                                   "specsweep_gflops": g, "vs_faster_peer": ratio, "fraction_of_peak": frac}
        lines.append([row.label, fmt_rate(*s.get("torch", (None, "not run"))),
                      fmt_rate(*s.get("jax", (None, "not run"))), fmt_rate(*s["specsweep"]),
                      f"{ratio:.2f}×" if ratio else "-", f"{g['median']:.1f}" if g else "-",
                      f"{100 * frac:.0f}%" + (" (fp64)" if row.dtype == "float64" else "") if frac else "-"])
        print("  " + " | ".join(lines[-1]), file=sys.stderr, flush=True)

    if "fig1c" in keys:
        print("  fig1c ...", file=sys.stderr, flush=True)
        runs = runner.fig1c()
        ours, why_ours = stats(runs["specsweep"])
        theirs, why_theirs = stats(runs["muon-mfac"])
        ours_full, _ = stats(runs["specsweep"], "full_sweep_seed_steps_per_s")
        ratio = ours_full["median"] / theirs["median"] if ours_full and theirs else None
        result["rows"]["fig1c"] = {"label": "Rhee Fig 1c sweep", "runs": runs,
                                   "steps_scale": a.fig1c_steps_scale, "peer_lrs": a.fig1c_lrs,
                                   "seed_steps_per_s": {"specsweep": ours, "muon-mfac": theirs},
                                   "specsweep_full_sweep_seed_steps_per_s": ours_full,
                                   "vs_per_seed_peer": ratio}
        scale = "" if a.fig1c_steps_scale == 1 else f", specsweep at {a.fig1c_steps_scale:g}× the steps"
        lines.append([f"Fig 1c sweep: 32x32, 32, 200 lrs x 8 seeds, Muon exact 500 + GD 2000{scale}; "
                      f"PyTorch = the authors' per-seed loop ({a.fig1c_lrs} lrs)",
                      fmt_rate(theirs, why_theirs), "-", fmt_rate(ours, why_ours),
                      f"{ratio:.1f}×" if ratio else "-", "-", "-"])

    with open(a.json, "w") as f:
        json.dump(result, f, indent=1)
    print("\n| m×n, r | PyTorch | JAX | specsweep | vs faster peer | specsweep GFLOP/s | % of FMA peak |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for l in lines:
        print("| " + " | ".join(l) + " |")
    print(f"\n(seed-steps per second, median [min–max] of {a.repeat} interleaved runs; GFLOP/s from "
          f"bench/FLOP_MODEL.md via `specsweep bench`; fp64 rows against half the FP32 FMA peak. "
          f"Every measurement: {a.json})")


if __name__ == "__main__":
    main()
