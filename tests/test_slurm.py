#!/usr/bin/env python3
"""examples/slurm/sweep_mpi.sbatch on a local one-node Slurm (scripts/slurm-local.sh): a 2-rank
job of the real MPI binary is warned with `scancel --signal=USR1 --batch`, stops, requeues
itself, resumes and completes; its run file is identical to a plain single-process run.

Usage: test_slurm.py SPECSWEEP_EXE WORKDIR

Needs root (the daemons) and Debian's slurm-wlm and munge (scripts/setup-debian.sh installs
them); without them it exits 77 (ctest: skipped). Starts the cluster when it is not up, and stops
it again at the end only in that case. Exit 0 pass, 1 fail.
"""
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SLURM_LOCAL = os.path.join(ROOT, "scripts", "slurm-local.sh")
SBATCH_SCRIPT = os.path.join(ROOT, "examples", "slurm", "sweep_mpi.sbatch")
SKIP = 77
TIMEOUT = 150  # seconds from the start to the job's completion (the requeue alone takes 12-60 s)

# 9 cells of 64 seeds, in work units sized by their cost (host/problem.hpp: 16 seeds here, the fewest a unit holds); about
# 7 s on 2 ranks of one thread each, so the warning reaches the job after the first units and well
# before the last.
CONFIG = """\
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
kind = "gd"
lr = 0.01
[run]
steps = 50000
seeds = 64
[record]
traced_seeds = 2
every = 1000
[sweep]
"init.scale" = [1e-3, 1e-2, 0.1]
"optimizer.lr" = [0.005, 0.01, 0.02]
"""

T0 = time.time()


def say(*a):
    print(f"[{time.time() - T0:6.1f} s]", *a, flush=True)


def sh(*cmd, check=False):
    r = subprocess.run(list(cmd), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}\n{r.stdout}{r.stderr}")
    return r


def cluster_up():
    """slurmctld answers and this host's node is usable."""
    if "UP" not in sh("scontrol", "ping").stdout:
        return False
    state = sh("sinfo", "-h", "-n", os.uname().nodename.split(".")[0], "-o", "%T").stdout.strip()
    return state in ("idle", "mixed", "allocated", "completing")


def job_info(job):
    """scontrol's fields of the job (JobState, Restarts, ...), {} once it is forgotten."""
    r = sh("scontrol", "show", "job", "-o", job)
    if r.returncode != 0:
        return {}
    return dict(f.split("=", 1) for f in r.stdout.split() if "=" in f)


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def wait_for(what, cond, timeout, interval=0.2):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(interval)
    say(f"timed out waiting for {what}")
    return None


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    exe, workdir = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])

    if os.geteuid() != 0:
        print("SKIP: needs root to run the local Slurm daemons (scripts/slurm-local.sh)")
        return SKIP
    missing = [p for p in ("munged", "slurmctld", "slurmd", "sbatch", "srun", "scontrol", "scancel",
                           "sinfo") if not shutil.which(p, path=os.environ.get("PATH", "") + ":/usr/sbin")]
    if missing:
        print(f"SKIP: not installed: {' '.join(missing)} (Debian: slurm-wlm munge; "
              "bash scripts/setup-debian.sh installs them)")
        return SKIP

    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    config = os.path.join(workdir, "sweep.toml")
    with open(config, "w") as f:
        f.write(CONFIG)
    out = os.path.join(workdir, "slurm.h5")
    ref = os.path.join(workdir, "reference.h5")

    started = False
    job = None
    ok = False
    try:
        if cluster_up():
            say("local Slurm is already up: using it")
        else:
            say("starting the local Slurm: slurm-local.sh start --clean")
            r = sh("bash", SLURM_LOCAL, "start", "--clean")
            started = True
            print(r.stdout + r.stderr, end="")
            if r.returncode != 0:
                say("FAIL: the local Slurm did not start")
                return 1

        # The script asks for 2 nodes x 4 tasks with a GPU each: one node, 2 ranks, no GPU here.
        # Not --quiet: the log then shows specsweep's progress and "resuming ...: K of N units".
        r = sh("sbatch", "--parsable", "--job-name=specsweep-ctest", f"--chdir={workdir}",
               f"--output={workdir}/%x-%j.out", "--nodes=1", "--ntasks-per-node=2",
               "--cpus-per-task=1", "--gpus-per-task=0", "--time=10",
               f"--export=ALL,SPECSWEEP={exe},CONFIG={config},OUT={out},EXTRA_ARGS=--threads 1",
               SBATCH_SCRIPT)
        if r.returncode != 0:
            say(f"FAIL: sbatch exit {r.returncode}: {r.stderr.strip()}")
            return 1
        job = r.stdout.strip().split(";")[0]
        log = os.path.join(workdir, f"specsweep-ctest-{job}.out")
        say(f"submitted job {job}, log {log}")

        if not wait_for("the job to run",
                        lambda: job_info(job).get("JobState") in ("RUNNING", "COMPLETING", "COMPLETED"), 60):
            say("FAIL: job did not start:", job_info(job).get("Reason"))
            return 1
        say("job running")
        if not wait_for(f"{out}.partial", lambda: os.path.exists(out + ".partial"), 30):
            say("FAIL: no partial file")
            return 1
        # specsweep's first progress line ("units K/N", without --quiet) comes once K >= 1 units are
        # written; the warning then stops the ranks after at least that many.
        progress = wait_for("the first finished unit",
                            lambda: re.search(r"^units (\d+)/(\d+)\b", read(log), re.M), 60, interval=0.1)
        if not progress:
            say("FAIL: no progress line in the job log")
            return 1
        say(f"partial file written, job log: {progress.group(0)}")
        units = int(progress.group(2))
        if os.path.exists(out):
            say("FAIL: the run completed before the warning could be sent (machine too fast? raise run.steps)")
            return 1
        r = sh("scancel", "--signal=USR1", "--batch", job)
        say(f"scancel --signal=USR1 --batch {job}: exit {r.returncode} {r.stderr.strip()}")
        if r.returncode != 0:
            return 1

        if not wait_for("the requeue", lambda: "requeueing to resume" in read(log), 30):
            say("FAIL: the job did not requeue itself")
            return 1
        m = re.search(r"interrupted by signal 10; (\d+) units written", read(log))
        say(f"job stopped ({m.group(0) if m else 'no interruption message from specsweep'}) and requeued")

        # The plain binary's run while the requeued job waits for its restart.
        t = time.time()
        r = sh(exe, "run", config, "--out", ref, "--quiet")
        say(f"reference run (one process): exit {r.returncode}, {time.time() - t:.1f} s {r.stderr.strip()}")
        if r.returncode != 0:
            return 1

        info = wait_for("the job to complete",
                        lambda: (i := job_info(job)).get("JobState") in ("COMPLETED", "FAILED", "CANCELLED",
                                                                         "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY")
                        and i, max(1.0, TIMEOUT - (time.time() - T0)), interval=1.0)
        if not info:
            say("FAIL: job state", job_info(job).get("JobState"), job_info(job).get("Reason"))
            return 1
        say(f"job {info.get('JobState')}, restarts {info.get('Restarts')}, exit {info.get('ExitCode')}")

        text = read(log)
        print("---- job log ----\n" + text.rstrip() + "\n-----------------", flush=True)
        checks = [
            ("job completed", info.get("JobState") == "COMPLETED" and info.get("ExitCode") == "0:0"),
            ("requeued once", info.get("Restarts") == "1"),
            ("batch shell got the warning", "got SIGUSR1, forwarding SIGUSR1 to the ranks" in text),
            ("specsweep stopped after some units", m is not None and 0 < int(m.group(1)) < units),
            ("ranks exited 138", "specsweep exited with 138" in text),
            ("restart 1 ran", re.search(rf"job {job} start 1: 2 ranks", text) is not None),
        ]
        r2 = re.search(r"resuming \S+: (\d+) of (\d+) units already done", text)
        checks.append(("restart resumed from the written units",
                       r2 is not None and m is not None and r2.group(1) == m.group(1) and r2.group(2) == str(units)))
        checks.append(("specsweep completed", "specsweep exited with 0" in text))
        checks.append(("final file written, partial gone", os.path.exists(out) and not os.path.exists(out + ".partial")))
        for name, passed in checks:
            say(("ok   " if passed else "FAIL ") + name)
        ok = all(p for _, p in checks)
        if ok:
            r = sh(sys.executable, os.path.join(HERE, "compare_runs.py"), ref, out)
            say("compare_runs.py reference.h5 slurm.h5:", r.stdout.strip().replace("\n", "; "))
            ok = r.returncode == 0
        return 0 if ok else 1
    except Exception as e:  # noqa: BLE001  (report, clean up, fail)
        say(f"FAIL: {type(e).__name__}: {e}")
        return 1
    finally:
        if job and job_info(job).get("JobState") not in (None, "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"):
            say(f"cancelling job {job}")
            sh("scancel", job)
        if not ok:
            for f in ("/var/log/slurm/slurmctld.log", "/var/log/slurm/slurmd.log"):
                tail = read(f).splitlines()[-15:]
                print(f"---- last lines of {f} ----\n" + "\n".join(tail), flush=True)
        if started:
            r = sh("bash", SLURM_LOCAL, "stop")
            say(f"stopped the local Slurm (this test started it): {r.stdout.strip()} {r.stderr.strip()}")
        say("PASS" if ok else "FAIL")


if __name__ == "__main__":
    sys.exit(main())
