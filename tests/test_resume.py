#!/usr/bin/env python3
"""End-to-end work-unit tests through the real binary: a sweep run killed at a random point
(SIGKILL, and SIGTERM) and resumed, and a run whose units finish in a shuffled order, must give
datasets identical to an uninterrupted run; a one-cell run whose whole work would once have been
a single unit keeps what it computed before an interrupt, stops promptly, and resumes to the same
datasets.

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
# Under the sanitizers (SPECSWEEP_SANITIZED, from tests/CMakeLists.txt) the engine runs about 30
# times slower: a quarter of the seeds keeps each run to seconds there (the long cell is then 4
# units instead of 16, still many more than one).
SEED_SCALE = 4 if os.environ.get("SPECSWEEP_SANITIZED") else 1
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
seeds = {seeds}
[record]
traced_seeds = 3
every = 10
[sweep]
"optimizer.lr" = [0.01, 0.02, 0.04]
"optimizer.kind" = ["specgd", "muon", "gd"]
""".format(seeds=600 // SEED_SCALE)
# One cell of Kang et al.'s shape, a few seconds long: with units of 4096 seeds it was one unit,
# and an interrupt lost all of it.
LONG_CELL = """
[problem]
m = 60
n = 70
rank = 5
[problem.target]
spectrum = [5.0, 4.0, 3.0, 2.0, 1.0]
[init]
factors = ["zero", "gaussian"]
scale = 1e-3
[optimizer]
kind = "specgd"
lr = 0.01
[run]
steps = 4000
seeds = {seeds}
[record]
traced_seeds = 4
every = 100
""".format(seeds=1024 // SEED_SCALE)


def run(exe, *args, **kw):
    return subprocess.run([exe, *args], capture_output=True, text=True, **kw)


def compare(a, b):
    r = subprocess.run([sys.executable, os.path.join(HERE, "compare_runs.py"), a, b], capture_output=True, text=True)
    print(r.stdout.strip())
    return r.returncode == 0


def signalled_run(exe, cfg, out, sig, delay):
    """Starts `run cfg --out out`, sends `sig` after `delay` seconds and waits for the exit.
    A run that ends before the signal proves nothing about it (a fast or idle machine, or a
    reference timed under ctest's parallel load: both seen), so its files are removed and the
    signal comes at half the delay, up to three runs; the last run's files stay.
    Returns (exit code, stderr, seconds from the signal to the exit, the delay used)."""
    for attempt in range(3):
        for path in (out, out + ".partial", out[:-len(".h5")] + ".summary.csv"):
            if os.path.exists(path):
                os.remove(path)
        proc = subprocess.Popen([exe, "run", cfg, "--out", out, "--threads", "2", "--quiet"],
                                stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        signalled = time.time()
        proc.send_signal(sig)
        _, stderr = proc.communicate()
        latency = time.time() - signalled
        print(f"signal {sig} after {delay:.2f} s: exit {proc.returncode}, "
              f"partial exists: {os.path.exists(out + '.partial')}")
        if proc.returncode != 0 or attempt == 2:
            return proc.returncode, stderr, latency, delay
        delay /= 2


def killed_then_resumed(exe, cfg, out, sig, delay):
    """Starts a run, sends `sig` after `delay` seconds, then resumes until complete."""
    code, stderr, _, _ = signalled_run(exe, cfg, out, sig, delay)
    # A kill before the partial was created leaves nothing to continue: the run starts again.
    # A run that finished anyway is resumed too, which must succeed and change nothing.
    resume = [exe, "run", cfg, "--out", out, "--quiet"]
    if code == 0 or os.path.exists(out + ".partial"):
        resume.append("--resume")
    if code == 0:
        print("  (every run finished before the signal; checking --resume of a complete run)")
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


def interrupt_keeps_finished_units(exe, workdir):
    """SIGTERM halfway through a one-cell run: finished units are kept (units are sized by cost,
    batches by time), the run stops within seconds, and the resume gives the same datasets."""
    import h5py
    cfg = os.path.join(workdir, "long_cell.toml")
    with open(cfg, "w") as f:
        f.write(LONG_CELL)
    ref, out = os.path.join(workdir, "long_ref.h5"), os.path.join(workdir, "long_resumed.h5")
    t0 = time.time()
    r = run(exe, "run", cfg, "--out", ref, "--threads", "2", "--quiet")
    duration = time.time() - t0
    if r.returncode != 0:
        print("FAIL: long reference run:", r.stderr)
        return False
    # Halfway through by the reference's time.
    code, stderr, latency, delay = signalled_run(exe, cfg, out, signal.SIGTERM, 0.5 * duration)
    if code != 128 + signal.SIGTERM:
        print(f"FAIL: exit {code} after SIGTERM halfway through a {duration:.1f} s run: {stderr}")
        return False
    with h5py.File(out + ".partial", "r") as f:
        done = int(f["progress/unit_done"][()].sum())
        units = f["progress/unit_done"].size
    print(f"long cell: {duration:.1f} s uninterrupted; SIGTERM at {delay:.1f} s: {done} of {units} "
          f"units kept ({100 * done / units:.0f}%), exit {latency:.2f} s after the signal")
    ok = True
    if done == 0:
        print("FAIL: an interrupt halfway through the run kept no finished unit")
        ok = False
    if latency > 5:
        print(f"FAIL: the run took {latency:.1f} s to stop after SIGTERM")
        ok = False
    r = run(exe, "run", cfg, "--out", out, "--threads", "2", "--quiet", "--resume")
    if r.returncode != 0:
        print("FAIL: resume of the long cell:", r.stderr)
        return False
    return ok and compare(ref, out)


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
    ok &= interrupt_keeps_finished_units(args.exe, args.workdir)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
