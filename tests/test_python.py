#!/usr/bin/env python3
"""The Python package (import specsweep): runs from a file, TOML text and a dict give the file
the command line writes for the same config (compared dataset by dataset with h5py); bad input
raises InputError naming the key or file and leaves files as they were; open() unstacks the
swept axes into dimensions holding the values h5py reads; progress reaches every unit; Ctrl-C in
a child process raises Interrupted with the partial kept, and resume=True completes it to the
uninterrupted run's file.

Usage: test_python.py SPECSWEEP_EXE PACKAGE_DIR WORKDIR
"""
import os
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

from checks import check, failures

exe, package_dir, work = (os.path.abspath(a) for a in sys.argv[1:4])
sys.path.insert(0, package_dir)
import specsweep  # noqa: E402

shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
os.chdir(work)

CONFIG = {
    "problem": {"m": 9, "n": 7, "rank": 3, "target": {"spectrum": [3.0, 2.0, 1.0]}},
    "optimizer": {"kind": "specgd", "lr": 0.02},
    "run": {"steps": 60, "seeds": 40, "master_seed": 11},
    "record": {"traced_seeds": 2, "every": 10},
    "sweep": {"optimizer.lr": [0.01, 0.02, 0.04], "optimizer.kind": ["specgd", "gd"]},
}
CONFIG_TEXT = """
[problem]
m = 9
n = 7
rank = 3
[problem.target]
spectrum = [3.0, 2.0, 1.0]
[optimizer]
kind = "specgd"
lr = 0.02
[run]
steps = 60
seeds = 40
master_seed = 11
[record]
traced_seeds = 2
every = 10
[sweep]
"optimizer.lr" = [0.01, 0.02, 0.04]
"optimizer.kind" = ["specgd", "gd"]
"""
# A run of several seconds (Kang et al.'s shape), to interrupt.
LONG = CONFIG_TEXT.replace("m = 9\nn = 7\nrank = 3", "m = 60\nn = 70\nrank = 5").replace(
    "spectrum = [3.0, 2.0, 1.0]", "spectrum = [5.0, 4.0, 3.0, 2.0, 1.0]").replace(
    "steps = 60\nseeds = 40", "steps = 3000\nseeds = 1024").split("[sweep]")[0]


def datasets(path):
    """Every dataset of the run contract, by name (root attributes aside)."""
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def same(a, b):
    da, db = datasets(a), datasets(b)
    if da.keys() != db.keys():
        return False
    return all(np.array_equal(da[k], db[k], equal_nan=da[k].dtype.kind == "f") for k in da)


def cli(*args):
    return subprocess.run([exe, *args], capture_output=True, text=True)


# --- the same run from a file, TOML text and a dict, against the command line
with open("sweep.toml", "w") as f:
    f.write(CONFIG_TEXT)
r = cli("run", "sweep.toml", "--out", "cli.h5", "--quiet", "--set", "run.steps=50")
check(r.returncode == 0, f"command line run: {r.stderr}")
updates = []
from_file = specsweep.run("sweep.toml", set={"run.steps": 50}, progress=updates.append)
check(from_file.path == "sweep.h5" and os.path.exists("sweep.h5"), f"default output {from_file.path}")
check(same("cli.h5", "sweep.h5"), "a file config differs from the command line's run")
check(os.path.exists("sweep.summary.csv"), "no summary CSV beside the file")
check(len(updates) >= 1 and updates[-1].units_done == updates[-1].units_total == 6,
      f"progress did not reach every unit: {updates[-1:] if updates else 'no call'}")
check(all(u.units_done <= v.units_done for u, v in zip(updates, updates[1:])), "progress went back")
from_text = specsweep.run(CONFIG_TEXT, set={"run.steps": 50}, out="text.h5", progress=False)
from_dict = specsweep.run(CONFIG, set={"run.steps": 50}, out="dict.h5", progress=False)
check(same("cli.h5", "text.h5"), "TOML text differs from the command line's run")
check(same("cli.h5", "dict.h5"), "a dict config differs from the command line's run")
check(from_dict.units_run == 6 and from_dict.seed_steps == 6 * 40 * 50, f"summary {from_dict}")
check("cell" in specsweep.report("dict.h5") and specsweep.report("dict.h5", "json").lstrip().startswith("{"),
      "report()")

# --- bad input: the key or the file is named, nothing is replaced
before = open("dict.h5", "rb").read()
for config, sets, out, names in [
    (CONFIG, {"optimizer.lr": -1}, "bad.h5", "optimizer.lr"),
    (CONFIG, {"run.seeds": "many"}, "bad.h5", "run.seeds"),
    ({**CONFIG, "problem": {**CONFIG["problem"], "rank": "three"}}, {}, "bad.h5", "problem.rank"),
    (CONFIG, {}, "dict.h5", "dict.h5"),  # exists: force=True replaces it
    ("missing.toml", {}, "bad.h5", "missing.toml"),
    (CONFIG, {}, None, "out"),
]:
    try:
        specsweep.run(config, set=sets, out=out, progress=False)
        check(False, f"{names}: no error")
    except specsweep.InputError as e:
        check(names in str(e), f"{names}: the message names something else: {e}")
check(isinstance(specsweep.InputError("x"), ValueError), "InputError is not a ValueError")
check(open("dict.h5", "rb").read() == before, "a refused run changed an existing file")
check(not os.path.exists("bad.h5") and not os.path.exists("bad.h5.partial"), "a refused run left a file")
check(specsweep.run(CONFIG, out="dict.h5", resume=True, progress=False).already_complete,
      "resume of a complete file ran again")
try:
    specsweep.run(CONFIG, out="never.h5", resume=True, progress=False)
    check(False, "resume with no partial: no error")
except specsweep.InputError as e:
    check("never.h5.partial" in str(e), f"resume with no partial: {e}")
check(specsweep.run(CONFIG, set={"run.steps": 50}, out="dict.h5", force=True, progress=False).units_run == 6,
      "force=True did not run again")

# --- open(): swept axes as named dimensions, values as h5py reads them
ds = specsweep.open("dict.h5")
check(ds["excess"].dims == ("seed", "optimizer.lr", "optimizer.kind")
      or set(ds["excess"].dims) == {"seed", "optimizer.lr", "optimizer.kind"}, f"dims {ds['excess'].dims}")
check(list(ds["optimizer.lr"].values) == [0.01, 0.02, 0.04], f"lr values {ds['optimizer.lr'].values}")
check(list(ds["optimizer.kind"].values) == ["specgd", "gd"], f"kind values {ds['optimizer.kind'].values}")
with h5py.File("dict.h5", "r") as f:
    excess = f["outcome/excess"][()]
    lr = f["cells/optimizer.lr"][()]
    kind = [k.decode() if isinstance(k, bytes) else k for k in f["cells/optimizer.kind"][()]]
for c in range(6):
    got = ds["excess"].sel({"optimizer.lr": lr[c], "optimizer.kind": kind[c]}).values
    check(np.array_equal(got, excess[c], equal_nan=True), f"cell {c}: open() differs from h5py")
check("config" in ds.attrs and ds.attrs["backend"] == "cpu", f"root attributes {list(ds.attrs)}")
summary = specsweep.open("dict.h5", "summary")
check("quantile" in summary.dims and "optimizer.lr" in summary.dims, f"summary dims {summary.dims}")
try:
    specsweep.open("dict.h5", "nothing")
    check(False, "open of a missing group: no error")
except specsweep.InputError as e:
    check("nothing" in str(e), f"missing group: {e}")
ds.close()
summary.close()
# One swept axis (a plain index, not a MultiIndex): its values become the dimension.
one_axis = specsweep.run(CONFIG_TEXT.split("[sweep]")[0] + '[sweep]\n"optimizer.lr" = [0.01, 0.02]\n',
                         set={"run.steps": 20}, out="one_axis.h5", progress=False)
one = specsweep.open(one_axis.path)
check(one["excess"].dims == ("optimizer.lr", "seed") and list(one["optimizer.lr"].values) == [0.01, 0.02],
      f"one axis: dims {one['excess'].dims}, values {one['optimizer.lr'].values}")
with h5py.File(one_axis.path, "r") as f:
    check(np.array_equal(one["excess"].values, f["outcome/excess"][()], equal_nan=True),
          "one axis: open() differs from h5py")
check("row_weight" in specsweep.open(one_axis.path, "target"), "one axis: target group")

# --- Ctrl-C: Interrupted with the partial kept; resume=True gives the uninterrupted file
with open("long.toml", "w") as f:
    f.write(LONG)
t0 = time.time()
r = cli("run", "long.toml", "--out", "whole.h5", "--quiet")
whole_seconds = time.time() - t0
check(r.returncode == 0, f"uninterrupted run: {r.stderr}")
child = f"""
import sys; sys.path.insert(0, {package_dir!r})
import specsweep
try:
    specsweep.run("long.toml", out="cut.h5", progress=False)
    print("completed")
except specsweep.Interrupted as e:
    print("interrupted", e.partial, e.signal)
    print(e, file=sys.stderr)
    sys.exit(130)
"""
proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
deadline = time.time() + 120
while not os.path.exists("cut.h5.partial") and time.time() < deadline and proc.poll() is None:
    time.sleep(0.02)
time.sleep(whole_seconds / 2)
proc.send_signal(signal.SIGINT)
stdout, stderr = proc.communicate(timeout=120)
if "completed" in stdout:
    print(f"the run ({whole_seconds:.1f} s) completed before the interrupt; not checked")
else:
    check(proc.returncode == 130 and stdout.split() == ["interrupted", "cut.h5.partial", "2"],
          f"interrupt: exit {proc.returncode}, {stdout!r}, {stderr[-300:]!r}")
    check("resume=True" in stderr and "cut.h5" in stderr, f"the message does not say how to continue: {stderr!r}")
    check(os.path.exists("cut.h5.partial") and not os.path.exists("cut.h5"), "the partial was not kept")
    resumed = specsweep.run("long.toml", out="cut.h5", resume=True, progress=False)
    check(resumed.units_resumed > 0, f"nothing was kept: {resumed}")
    check(same("whole.h5", "cut.h5"), "the resumed run differs from the uninterrupted one")
    print(f"interrupted after {resumed.units_resumed} units; resumed {resumed.units_run}")

print("FAIL" if failures else "PASS")
sys.exit(1 if failures else 0)
