#!/usr/bin/env python3
"""End-to-end work-unit tests through the real binary: a sweep run killed at a random point
(SIGKILL, and SIGTERM) and resumed, and a run whose units finish in a shuffled order, must give
datasets identical to an uninterrupted run.

Usage: test_resume.py SPECSWEEP_EXE WORKDIR [--seed N]
"""
import argparse
import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = """
[problem]
m = 30
n = 24
rank = 4
[problem.target]
spectrum = [4.0, 3.0, 2.0, 1.0]
[init]
factors = ["zero", "gaussian"]
scale = 1e-3
[optimizer]
kind = "specgd"
lr = 0.02
[run]
steps = 300
seeds = 600
[record]
traced_seeds = 3
every = 10
[sweep]
"optimizer.lr" = [0.01, 0.02, 0.04]
"optimizer.kind" = ["specgd", "muon", "gd"]
"""


def run(exe, *args, **kw):
    return subprocess.run([exe, *args], capture_output=True, text=True, **kw)


def compare(a, b):
    r = subprocess.run([sys.executable, os.path.join(HERE, "compare_runs.py"), a, b], capture_output=True, text=True)
    print(r.stdout.strip())
    return r.returncode == 0


def killed_then_resumed(exe, cfg, out, sig, delay):
    """Starts a run, sends `sig` after `delay` seconds, then resumes until complete."""
    for path in (out, out + ".partial"):
        if os.path.exists(path):
            os.remove(path)
    proc = subprocess.Popen([exe, "run", cfg, "--out", out, "--threads", "2", "--quiet"],
                            stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    proc.send_signal(sig)
    _, stderr = proc.communicate()
    code = proc.returncode
    print(f"signal {sig} after {delay:.2f} s: exit {code}, partial exists: {os.path.exists(out + '.partial')}")
    resume = [exe, "run", cfg, "--out", out, "--resume", "--quiet"]
    if code == 0:
        print("  (the run finished before the signal; still checking --resume of a complete run)")
    elif sig == signal.SIGTERM:
        if code != 128 + signal.SIGTERM:
            print(f"FAIL: expected exit {128 + signal.SIGTERM} after SIGTERM")
            return False
        # The message names the command that continues the run: resume with exactly that.
        m = re.search(r"to continue:\n  (.*)\n", stderr)
        if not m:
            print("FAIL: no command to continue with in:", stderr)
            return False
        resume = shlex.split(m.group(1))
        expected = [exe, "run", cfg, "--out", out, "--threads", "2", "--quiet", "--resume"]
        if resume != expected:
            print(f"FAIL: the command to continue with is {resume}, expected {expected}")
            return False
    r = run(*resume)
    if r.returncode != 0:
        print("FAIL: resume failed:", r.stderr)
        return False
    return True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("exe")
    p.add_argument("workdir")
    p.add_argument("--seed", type=int, default=int(time.time()))
    args = p.parse_args()
    rng = random.Random(args.seed)
    print(f"random seed {args.seed}")
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    cfg = os.path.join(args.workdir, "sweep.toml")
    with open(cfg, "w") as f:
        f.write(CONFIG)
    ref = os.path.join(args.workdir, "ref.h5")
    t0 = time.time()
    r = run(args.exe, "run", cfg, "--out", ref, "--quiet")
    if r.returncode != 0:
        print("FAIL: reference run:", r.stderr)
        return 1
    duration = time.time() - t0
    print(f"reference run: {duration:.2f} s")

    ok = True
    shuffled = os.path.join(args.workdir, "shuffled.h5")
    r = run(args.exe, "run", cfg, "--out", shuffled, "--quiet", "--shuffle-units", str(rng.randrange(1, 1 << 30)))
    ok &= r.returncode == 0 and compare(ref, shuffled)
    for sig in (signal.SIGKILL, signal.SIGTERM):
        out = os.path.join(args.workdir, f"resumed_{sig}.h5")
        ok &= killed_then_resumed(args.exe, cfg, out, sig, rng.uniform(0.1, 0.8) * duration) and compare(ref, out)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
