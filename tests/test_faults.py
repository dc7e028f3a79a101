#!/usr/bin/env python3
"""Fault injection through the real binary (docs/RELIABILITY.md lists the promises it checks).

Each case checks the contract: the exit code (0, 2 or 3; never a crash or a hang), the message,
and that every earlier result is intact: a previous RUN.h5 stays byte for byte, a partial's
finished units are still there, and the file a resume finally commits has the datasets of an
uninterrupted run.

Cases (--case NAME runs one): disk_full (a small tmpfs, or a write-failure shim where mounting is
not possible), kills (SIGKILL at random moments of creation, units, resume and commit), corrupt
(bit flips in data chunks and anywhere, zeroed 4 KiB blocks), unusable (a partial whose creation
an older specsweep never finished), mpi_kill and mpi_disk_full (mpirun -np 2).

Usage: test_faults.py SPECSWEEP_EXE WORKDIR [--mpirun MPIRUN] [--shim LIBRARY] [--no-mount]
                      [--seed N] [--case NAME]...
Exit 0 pass, 1 fail.
"""
import argparse
import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

from checks import check, failures

HERE = os.path.dirname(os.path.abspath(__file__))
# 6 cells of 2 units each (unit_seeds is 4096): enough units for kills and damage to land between.
# Few steps: the runs are short under the sanitizers too, where the engine is ~20 times slower.
CONFIG = """
[problem]
m = 12
n = 10
rank = 3
[problem.target]
spectrum = [3.0, 2.0, 1.0]
[optimizer]
kind = "specgd"
lr = 0.02
[run]
steps = 20
seeds = 5000
[record]
traced_seeds = 3
every = 10
[sweep]
"optimizer.lr" = [0.01, 0.02, 0.04]
"optimizer.kind" = ["specgd", "gd"]
"""
# A different run, whose committed file stands for "the previous RUN.h5".
OLD = CONFIG.replace("steps = 20", "steps = 10")
CRASH_CODES = {-signal.SIGSEGV, -signal.SIGABRT, -signal.SIGBUS, 134, 136, 139}



def say(*a):
    print(*a, flush=True)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def same_datasets(a, b):
    r = subprocess.run([sys.executable, os.path.join(HERE, "compare_runs.py"), a, b,
                        "--ignore-attr", "backend"], capture_output=True, text=True, errors="backslashreplace")
    if r.returncode != 0:
        say(r.stdout.strip())
    return r.returncode == 0


def units_done(partial):
    """Units marked done in a partial file (None when it cannot be read)."""
    try:
        # Without locking: a running job holds the partial open for writing.
        with h5py.File(partial, "r", locking=False) as f:
            return int(np.count_nonzero(f["progress/unit_done"][()]))
    except Exception:
        return None


class Runner:
    def __init__(self, exe, workdir, env=None):
        self.exe, self.workdir = exe, workdir
        # A resume whose reading stalls (HDF5 1.10 loops forever on some damage) ends with exit 2
        # after this many seconds without progress, well inside the corrupt case's timeout.
        self.env = dict(os.environ, OMP_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1",
                        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", SPECSWEEP_RESUME_STALL_SECONDS="10", **(env or {}))
        # Under the sanitizers: LeakSanitizer's fast unwinder stops inside Debian's libhdf5 (no
        # frame pointers), so a leak HDF5 makes on a damaged file would show no frame that
        # tests/lsan.supp could match; the full unwinder sees them.
        if "ASAN_OPTIONS" in self.env:
            self.env["ASAN_OPTIONS"] += ":fast_unwind_on_malloc=0"
        self.cfg = self.write("faults.toml", CONFIG)
        self.old_cfg = self.write("old.toml", OLD)

    def write(self, name, text):
        path = os.path.join(self.workdir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def cmd(self, out, *extra, cfg=None):
        # --force: the cases overwrite earlier runs on purpose (a failed run must leave them intact).
        return [self.exe, "run", cfg or self.cfg, "--out", out, "--threads", "1", "--quiet", "--force", *extra]

    def run(self, out, *extra, cfg=None, env=None, timeout=120):
        return subprocess.run(self.cmd(out, *extra, cfg=cfg), capture_output=True, text=True, errors="backslashreplace",
                              env=dict(self.env, **(env or {})), timeout=timeout)

    def start(self, out, *extra):
        return subprocess.Popen(self.cmd(out, *extra), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, errors="backslashreplace", env=self.env)


def leftovers(out):
    return [p for p in (out + ".partial", out + ".partial.creating") if os.path.exists(p)]


# ---------------------------------------------------------------------------------------------
# Disk full: a small tmpfs when this process may mount one, else the LD_PRELOAD shim that fails
# writes to the directory with ENOSPC once its budget is spent.

class Disk:
    def __init__(self, path, shim, mount=True):
        self.path, self.shim, self.mounted = path, shim, False
        os.makedirs(path, exist_ok=True)
        if mount and os.geteuid() == 0:
            r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", path],
                               capture_output=True, text=True, errors="backslashreplace")
            self.mounted = r.returncode == 0
        self.budget = None

    def usable(self):
        return self.mounted or (self.shim and os.path.exists(self.shim))

    def kind(self):
        return "tmpfs" if self.mounted else "write-failure shim"

    def fill(self, leave):
        """Leaves about `leave` bytes free."""
        if self.mounted:
            self.free_all()
            st = os.statvfs(self.path)
            free = st.f_bavail * st.f_frsize
            with open(os.path.join(self.path, "filler"), "wb") as f:
                f.write(b"\0" * max(0, free - leave))
        else:
            self.budget = leave

    def free_all(self):
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(self.path, "filler"))
        self.budget = None

    def env(self):
        if self.mounted or self.budget is None:
            return {}
        return {"LD_PRELOAD": self.shim, "SPECSWEEP_TEST_DISK_DIR": os.path.realpath(self.path),
                "SPECSWEEP_TEST_DISK_BYTES": str(self.budget)}

    def close(self):
        if self.mounted:
            subprocess.run(["umount", "-l", self.path])


def expect_disk_full(r, what):
    ok = check(r.returncode == 3, f"{what}: exit {r.returncode}, expected 3: {r.stderr[-500:]}")
    return ok and check("No space left on device" in r.stderr, f"{what}: message: {r.stderr[-300:]}")


def case_disk_full(runner, ref, args):
    disk = Disk(os.path.join(runner.workdir, "disk"), args.shim, mount=not args.no_mount)
    if not disk.usable():
        return check(False, "disk_full: neither a tmpfs mount nor the shim is available")
    say(f"disk_full: on a {disk.kind()}")
    try:
        out = os.path.join(disk.path, "run.h5")
        r = runner.run(out, cfg=runner.old_cfg)
        if not check(r.returncode == 0, f"disk_full: the previous run: {r.stderr}"):
            return
        old = read(out)
        final_size = os.path.getsize(ref)
        saw_full = False
        # From no room at all to nearly enough: creation, units and commit each run out.
        # The up-front disk estimate refuses these runs (exit 2, nothing written); skipping it
        # reaches the failures this case is about.
        disk.fill(0)
        r = runner.run(out, env=disk.env())
        check(r.returncode == 2 and "of disk" in r.stderr,
              f"disk_full: the up-front refusal: exit {r.returncode}: {r.stderr}")
        check(read(out) == old, "disk_full: the refused run changed the previous run.h5")
        for fraction in (0.0, 0.02, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95):
            disk.fill(int(fraction * final_size))
            r = runner.run(out, "--skip-resource-check", env=disk.env())
            what = f"disk_full with {fraction:.2f} of the file free"
            check(r.returncode not in CRASH_CODES, f"{what}: crashed ({r.returncode})")
            if r.returncode == 0:
                check(same_datasets(ref, out), f"{what}: finished, but not like the reference")
                continue
            saw_full = True
            expect_disk_full(r, what)
            check(read(out) == old, f"{what}: the previous run.h5 changed")
            check(not os.path.exists(out + ".partial.creating"), f"{what}: left a .creating file")
            partial = out + ".partial"
            if not os.path.exists(partial):
                continue
            # Defect 8: a resume that fails on the full disk keeps the partial and its units.
            done = units_done(partial)
            r = runner.run(out, "--resume", "--skip-resource-check", env=disk.env())
            if r.returncode != 0:
                expect_disk_full(r, what + ", resumed")
                check(os.path.exists(partial), f"{what}: the failed resume removed the partial")
                after = units_done(partial)
                check(after is not None and done is not None and after >= done,
                      f"{what}: units done went from {done} to {after}")
            disk.free_all()
            r = runner.run(out, "--resume")
            check(r.returncode == 0, f"{what}: resume after freeing space: {r.stderr}")
            check(r.returncode != 0 or same_datasets(ref, out), f"{what}: resumed file differs")
            r = runner.run(out, cfg=runner.old_cfg)
            old = read(out)
        check(saw_full, "disk_full: no run ran out of space (the disk is too large)")
        if args.mpirun:
            disk.fill(int(0.3 * final_size))
            env = dict(runner.env, **disk.env())
            cmd = [args.mpirun, "--oversubscribe", "--bind-to", "none", "-np", "2"]
            if "LD_PRELOAD" in env:
                cmd += ["-x", "LD_PRELOAD", "-x", "SPECSWEEP_TEST_DISK_DIR", "-x", "SPECSWEEP_TEST_DISK_BYTES"]
            t0 = time.time()
            try:
                r = subprocess.run(cmd + runner.cmd(out, "--skip-resource-check"), capture_output=True,
                                   text=True, errors="backslashreplace", env=env, timeout=60)
                say(f"mpi_disk_full: exit {r.returncode} after {time.time() - t0:.1f} s")
                check(r.returncode == 3, f"mpi_disk_full: exit {r.returncode}: {r.stderr[-400:]}")
                check("No space left on device" in r.stderr, "mpi_disk_full: message")
                check(read(out) == old, "mpi_disk_full: the previous run.h5 changed")
            except subprocess.TimeoutExpired:
                check(False, "mpi_disk_full: the job hung (60 s)")
    finally:
        disk.free_all()
        disk.close()


# ---------------------------------------------------------------------------------------------

def case_kills(runner, ref, duration, rng, iterations):
    """SIGKILL at random moments until a run completes; every run is a --resume."""
    out = os.path.join(runner.workdir, "killed.h5")
    r = runner.run(out, cfg=runner.old_cfg)
    old = read(out)
    done_before, kills, t0 = 0, 0, time.time()
    for i in range(iterations):
        phase = rng.choice(["creation", "units", "commit"])
        delay = {"creation": rng.uniform(0, 0.03), "units": rng.uniform(0, duration),
                 "commit": rng.uniform(0.85, 1.15) * duration}[phase]
        inode = os.stat(out).st_ino  # a commit renames a new file over it
        p = runner.start(out, "--resume")
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        _, err = p.communicate()
        if p.returncode == 0:  # finished before the kill: that file is the previous one now
            check(same_datasets(ref, out), f"kill {i}: the completed file differs")
            check(not leftovers(out), f"kill {i}: left {leftovers(out)}")
            old, done_before = read(out), 0
            continue
        kills += 1
        check(p.returncode == -signal.SIGKILL, f"kill {i} ({phase}): exit {p.returncode}: {err}")
        partial = out + ".partial"
        check(not os.path.exists(partial + ".unusable"), f"kill {i} ({phase}): a partial set aside")
        if os.stat(out).st_ino != inode:  # killed after its commit (writing the summary csv)
            check(same_datasets(ref, out) and not leftovers(out),
                  f"kill {i} ({phase}): run.h5 was replaced, but not by a committed run")
            old, done_before = read(out), 0
            continue
        check(read(out) == old, f"kill {i} ({phase}): the previous file changed before a commit")
        done = units_done(partial) if os.path.exists(partial) else 0
        check(done is not None, f"kill {i} ({phase}, {delay:.3f} s): the partial is unreadable")
        check(done is None or done >= done_before,
              f"kill {i} ({phase}): units done went from {done_before} to {done}")
        done_before = done or 0
    r = runner.run(out, "--resume")
    check(r.returncode == 0, f"kills: the last resume: {r.stderr}")
    # A run that finishes before its kill starts the next from scratch; under load more do.
    check(kills >= max(3, iterations // 6), f"kills: only {kills} of {iterations} runs were killed")
    check(same_datasets(ref, out), "kills: the resumed file differs from the reference")
    check(not leftovers(out), f"kills: left {leftovers(out)}")
    say(f"kills: {kills} kills in {time.time() - t0:.1f} s")


def partial_with_units(runner, duration, name):
    """A partial file with some units done: a run stopped by SIGTERM."""
    out = os.path.join(runner.workdir, name)
    for attempt in range(6):
        for p in leftovers(out):
            os.remove(p)
        p = runner.start(out)
        time.sleep((0.4 + 0.1 * attempt) * duration)
        p.send_signal(signal.SIGTERM)
        p.communicate()
        partial = out + ".partial"
        if p.returncode == 128 + signal.SIGTERM and (units_done(partial) or 0) > 0:
            return out
    raise RuntimeError("could not stop a run half way")


def chunk_offsets(partial):
    """(offset, size) of the stored chunks of finished units' /outcome and /trace data."""
    spans = []
    with h5py.File(partial, "r") as f:
        for group in ("outcome", "trace"):
            for name, ds in f[group].items():
                if not isinstance(ds, h5py.Dataset) or ds.chunks is None:
                    continue
                for k in range(ds.id.get_num_chunks()):
                    info = ds.id.get_chunk_info(k)
                    if info.byte_offset is not None and info.size > 8:
                        spans.append((info.byte_offset, info.size))
    return spans


def case_corrupt(runner, ref, duration, rng, iterations):
    """Damaged partials: resume either completes to the reference or refuses with exit 2 naming
    the partial, leaving it as it was; never a crash, a hang or an exit 3."""
    out = partial_with_units(runner, duration, "corrupt.h5")
    pristine = read(out + ".partial")
    spans = chunk_offsets(out + ".partial")
    outcomes = {0: 0, 2: 0}
    for i in range(iterations):
        data = bytearray(pristine)
        kind = ["data flip", "any flip", "zeroed block"][i % 3]
        if kind == "data flip":
            offset, size = rng.choice(spans)
            for _ in range(4):
                data[offset + rng.randrange(size)] ^= 1 << rng.randrange(8)
        elif kind == "any flip":
            for _ in range(4):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        else:
            start = rng.randrange(max(1, len(data) // 4096)) * 4096
            data[start:start + 4096] = bytes(min(4096, len(data) - start))
        with open(out + ".partial", "wb") as f:
            f.write(data)
        with contextlib.suppress(FileNotFoundError):
            os.remove(out)
        what = f"corrupt {i} ({kind})"

        def keep():
            kept = os.path.join(runner.workdir, f"corrupt_{i}.partial")
            with open(kept, "wb") as f:
                f.write(data)
            say(f"{what}: the damaged partial is kept as {kept}")

        try:
            r = runner.run(out, "--resume", timeout=60)
        except subprocess.TimeoutExpired:
            check(False, f"{what}: hung")
            keep()
            continue
        if not check(r.returncode in (0, 2), f"{what}: exit {r.returncode}: {r.stderr[-400:]}"):
            keep()
        outcomes[r.returncode] = outcomes.get(r.returncode, 0) + 1
        if r.returncode == 0 and not check(same_datasets(ref, out), f"{what}: completed, but differs from the reference"):
            keep()
        elif r.returncode == 2:
            check(out + ".partial" in r.stderr, f"{what}: the message names no file: {r.stderr}")
            if "\\x" in r.stderr:
                say(f"{what}: raw bytes in the message: {r.stderr.strip()[-300:]}")
            check(os.path.exists(out + ".partial") and read(out + ".partial") == bytes(data),
                  f"{what}: the refused partial changed")
        if kind == "data flip":
            check(r.returncode == 2, f"{what}: a damaged chunk of a finished unit went unnoticed")
        with contextlib.suppress(FileNotFoundError):
            os.remove(out + ".partial.unusable")
    say(f"corrupt: {iterations} damaged partials, exits {outcomes}")


def case_unusable(runner, ref):
    """A partial an older specsweep left when killed while creating it: an HDF5 file without the
    run file's structure. --resume sets it aside and starts afresh."""
    out = os.path.join(runner.workdir, "unusable.h5")
    with h5py.File(out + ".partial", "w") as f:
        f.create_group("outcome")
    before = read(out + ".partial")
    r = runner.run(out, "--resume")
    check(r.returncode == 0, f"unusable: exit {r.returncode}: {r.stderr}")
    check("starting afresh" in r.stderr, f"unusable: message: {r.stderr}")
    check(os.path.exists(out + ".partial.unusable") and read(out + ".partial.unusable") == before,
          "unusable: the old partial was not kept aside as it was")
    check(r.returncode != 0 or same_datasets(ref, out), "unusable: the fresh run differs")


def rank_pids(marker, rank):
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = read(f"/proc/{pid}/cmdline").decode(errors="replace")
            environ = read(f"/proc/{pid}/environ").split(b"\0")
        except OSError:
            continue
        if marker in cmdline and f"OMPI_COMM_WORLD_RANK={rank}".encode() in environ:
            pids.append(int(pid))
    return pids


def case_mpi_kill(runner, args):
    """A worker rank killed (SIGKILL) mid-run: the job ends within seconds, the partial keeps
    what was finished, and a resume completes it to the reference.

    The run is twelve times the other cases' length (240 steps) and the kill waits for a finished
    unit, so it lands mid-run on a fast machine too (a 0.3-duration sleep raced the job's end)."""
    cfg = runner.write("mpi_kill.toml", CONFIG.replace("steps = 20", "steps = 240"))
    ref = os.path.join(runner.workdir, "mpi_kill_ref.h5")
    r = runner.run(ref, cfg=cfg)
    if not check(r.returncode == 0, f"mpi_kill: reference run: {r.stderr}"):
        return
    out = os.path.join(runner.workdir, "mpi_killed.h5")
    cmd = [args.mpirun, "--oversubscribe", "--bind-to", "none", "-np", "2"] + runner.cmd(out, cfg=cfg)
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="backslashreplace",
                         env=runner.env)
    deadline = time.time() + 60
    workers, done = [], 0
    while time.time() < deadline and p.poll() is None and not (workers and done):
        workers = workers or rank_pids(out, 1)
        done = units_done(out + ".partial") or 0
        time.sleep(0.02)
    try:
        if not (workers and done):
            raise ProcessLookupError
        os.kill(workers[0], signal.SIGKILL)
    except ProcessLookupError:
        check(False, f"mpi_kill: no running worker with a finished unit (exit {p.poll()})")
        p.kill()
        p.communicate()
        return
    t0 = time.time()
    try:
        p.communicate(timeout=30)
        say(f"mpi_kill: killed after {done} finished units; mpirun exited {p.returncode} "
            f"{time.time() - t0:.1f} s later")
        check(p.returncode != 0, "mpi_kill: exit 0 after a rank was killed")
    except subprocess.TimeoutExpired:
        check(False, "mpi_kill: the job still runs 30 s after its worker was killed")
        p.kill()
        p.communicate()
    check(not os.path.exists(out), "mpi_kill: a killed job committed its file")
    check((units_done(out + ".partial") or 0) >= done,
          f"mpi_kill: the partial lost finished units (had {done})")
    r = runner.run(out, "--resume", cfg=cfg)
    check(r.returncode == 0, f"mpi_kill: resume: {r.stderr}")
    check(r.returncode != 0 or same_datasets(ref, out), "mpi_kill: the resumed file differs")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("exe")
    ap.add_argument("workdir")
    ap.add_argument("--mpirun")
    ap.add_argument("--shim")
    ap.add_argument("--no-mount", action="store_true", help="use the shim even where tmpfs mounts")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--case", action="append")
    ap.add_argument("--kills", type=int, default=30)
    ap.add_argument("--corruptions", type=int, default=24)
    args = ap.parse_args()
    say(f"random seed {args.seed}")
    rng = random.Random(args.seed)
    if os.path.ismount(os.path.join(args.workdir, "disk")):
        subprocess.run(["umount", "-l", os.path.join(args.workdir, "disk")])
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    runner = Runner(args.exe, args.workdir)
    ref = os.path.join(args.workdir, "ref.h5")
    t0 = time.time()
    r = runner.run(ref)
    duration = time.time() - t0
    if r.returncode != 0:
        print("FAIL: reference run:", r.stderr)
        return 1
    say(f"reference run: {duration:.2f} s")
    cases = args.case or ["disk_full", "kills", "corrupt", "unusable", "mpi_kill"]
    for case in cases:
        t = time.time()
        if case == "disk_full":
            case_disk_full(runner, ref, args)
        elif case == "kills":
            case_kills(runner, ref, duration, rng, args.kills)
        elif case == "corrupt":
            case_corrupt(runner, ref, duration, rng, args.corruptions)
        elif case == "unusable":
            case_unusable(runner, ref)
        elif case == "mpi_kill":
            if args.mpirun:
                case_mpi_kill(runner, args)
            else:
                say("mpi_kill: skipped (no mpirun)")
        else:
            check(False, f"unknown case {case}")
        say(f"{case}: {time.time() - t:.1f} s")
    print("PASS" if not failures else f"FAIL ({len(failures)} failures)")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
