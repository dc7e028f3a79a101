#!/usr/bin/env python3
"""MPI sharding through the real binary under mpirun: the run file's datasets are identical for
1, 2 and 3 ranks and both schedules, and a run killed (SIGTERM to mpirun) with 3 ranks resumes
with 2 ranks to the same datasets.

Usage: test_mpi.py SPECSWEEP_EXE MPIRUN WORKDIR [--seed N]
"""
import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = os.path.join(HERE, "data", "summary_sweep.toml")


def compare(a, b):
    r = subprocess.run([sys.executable, os.path.join(HERE, "compare_runs.py"), a, b], capture_output=True, text=True)
    print(r.stdout.strip())
    return r.returncode == 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("exe")
    p.add_argument("mpirun")
    p.add_argument("workdir")
    p.add_argument("--seed", type=int, default=int(time.time()))
    args = p.parse_args()
    rng = random.Random(args.seed)
    print(f"random seed {args.seed}")
    os.environ.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1")
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    mpirun = [args.mpirun, "--oversubscribe", "--bind-to", "none", "-np"]

    def run(np, out, *extra):
        cmd = mpirun + [str(np), args.exe, "run", CONFIG, "--out", out, "--quiet", *extra]
        return subprocess.run(cmd, capture_output=True, text=True)

    ref = os.path.join(args.workdir, "ranks1.h5")
    r = subprocess.run([args.exe, "run", CONFIG, "--out", ref, "--quiet"], capture_output=True, text=True)
    if r.returncode != 0:
        print("FAIL reference:", r.stderr)
        return 1
    ok = True
    for np in (1, 2, 3):
        for schedule in ("dynamic", "static"):
            out = os.path.join(args.workdir, f"ranks{np}_{schedule}.h5")
            r = run(np, out, "--mpi-schedule", schedule)
            print(f"{np} ranks, {schedule}: exit {r.returncode}", r.stderr.strip()[-400:] if r.returncode else "")
            ok &= r.returncode == 0 and compare(ref, out)

    # Kill with 3 ranks (a longer run: more steps), resume with 2; with gradient noise, whose draws
    # must depend on the seed and step alone, not on the rank or the resume point.
    longer = ["--set", "run.steps=3000", "--set", "optimizer.gradient_noise=0.02"]
    ref_long = os.path.join(args.workdir, "long_ref.h5")
    t0 = time.time()
    r = run(2, ref_long, *longer)
    duration = time.time() - t0
    ok &= r.returncode == 0
    out = os.path.join(args.workdir, "killed3_resumed2.h5")
    proc = subprocess.Popen(mpirun + ["3", args.exe, "run", CONFIG, "--out", out, "--quiet", *longer],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(rng.uniform(0.3, 0.7) * duration)
    proc.send_signal(signal.SIGTERM)
    proc.wait()
    print(f"3 ranks, SIGTERM to mpirun: exit {proc.returncode}, partial: {os.path.exists(out + '.partial')}")
    # A signal before the partial was created leaves nothing to continue: the run starts again
    # (and one that came after the run finished leaves a complete file: --resume says so).
    resume = ["--resume"] if os.path.exists(out + ".partial") or os.path.exists(out) else []
    r = run(2, out, *longer, *resume)
    print(f"resumed with 2 ranks: exit {r.returncode} {r.stderr.strip()[:200]}")
    ok &= r.returncode == 0 and compare(ref_long, out)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
