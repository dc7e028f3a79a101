#!/usr/bin/env python3
"""specsweep plot end to end, through the real binary, on a small sweep (optimizer.lr = 0.1, 0.6
x optimizer.kind = gd, muon; 3 traced seeds; record.points = 12, so the record steps are 10-11
steps apart and the Muon cells' step-to-step oscillation is not resolved):

- every figure is written under the run file's stem (sweep.loss.png, not loss.png), a second run
  in the same directory writes its own files, and the new figures (loss, outcomes) are there;
- the script prints one "PATH: CAPTION" line per figure, and the captions count the traced seeds
  right, give each cell's converged/diverged counts as the file has them (never "divergence" for
  a cell where nothing diverged), warn about the record spacing where the recorded loss zigzags,
  and name the GD stability line on loss_vs_lr;
- hitting_times of a 9-cell sweep leaves no cell out;
- --cells 0,3 and --cells 1-2 plot only those cells; a malformed or out-of-range --cells exits 2
  and names --cells;
- an in-context regression run's relative excess is divided by its weighted loss at W = 0.

Usage: test_plot.py SPECSWEEP_EXE WORKDIR   (SPECSWEEP_PYTHON: a python3 with h5py and matplotlib)
"""
import os
import re
import shutil
import subprocess
import sys

import h5py

SWEEP = """
[problem]
m = 6
n = 6
rank = 3
[problem.target]
spectrum = [2.0, 1.0, 0.5]
[init]
factors = ["gaussian", "gaussian"]
scale = 0.3
[optimizer]
kind = "gd"
lr = 0.1
orthogonalizer = "exact"
[run]
steps = 120
seeds = 12
precision = "fp64"
[record]
points = 12
traced_seeds = 3
[sweep]
"optimizer.lr" = [0.1, 0.6]
"optimizer.kind" = ["gd", "muon"]
"""
NINE = SWEEP.replace('"optimizer.lr" = [0.1, 0.6]', '"optimizer.lr" = [0.05, 0.1, 0.2]') \
    .replace('"optimizer.kind" = ["gd", "muon"]', '"optimizer.kind" = ["gd", "muon", "specgd"]') \
    .replace("steps = 120", "steps = 60").replace("seeds = 12", "seeds = 4")
WARNING = "oscillations faster than that are not resolved"
FAILURES = []


ICL = """
[problem]
kind = "icl"
n = 6
rank = 6
context_length = 8
[problem.target]
spectrum = [1.0, 0.5, 0.3, 0.2, 0.1, 0.05]
[init]
factors = ["gaussian", "gaussian"]
scale = 1e-3
[optimizer]
kind = "muon"
lr = 0.05
orthogonalizer = "exact"
momentum = 0.0
[run]
steps = 40
seeds = 2
precision = "fp64"
[record]
traced_seeds = 2
every = 10
"""


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        FAILURES.append(what)


def run(args):
    p = subprocess.run(args, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def make_run(exe, work, name, config):
    toml = os.path.join(work, name + ".toml")
    with open(toml, "w") as f:
        f.write(config)
    h5 = os.path.join(work, name + ".h5")
    rc, out, err = run([exe, "run", toml, "--out", h5, "--quiet", "--force"])
    if rc != 0:
        sys.exit(f"specsweep run {toml} failed ({rc}): {out}{err}")
    return h5


def captions(stdout):
    """{file name: caption} from the "PATH: CAPTION" lines."""
    out = {}
    for line in stdout.splitlines():
        m = re.match(r"^(.*\.png): (.+)$", line)
        if m:
            out[os.path.basename(m.group(1))] = m.group(2)
    return out


def main():
    exe, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    h5 = make_run(exe, work, "sweep", SWEEP)
    with h5py.File(h5, "r") as f:
        status = f["outcome/status"][()]
        kinds = [k.decode() if isinstance(k, bytes) else str(k) for k in f["cells/optimizer.kind"][()]]
        traced = f["trace/sv"].shape[1]
    cells = status.shape[0]

    figs = os.path.join(work, "figs")
    rc, out, err = run([exe, "plot", h5, "--out", figs])
    check(rc == 0, f"plot exits 0 (got {rc}: {err.strip()[-400:]})")
    files = sorted(os.listdir(figs)) if os.path.isdir(figs) else []
    expected = [f"sweep.sv_cell{c}.png" for c in range(cells)] + [
        "sweep.hitting_times.png", "sweep.loss.png", "sweep.outcomes.png", "sweep.loss_vs_lr.png",
        "sweep.measures.png"]
    for name in expected:
        check(name in files, f"{name} written")
    check(all(f.startswith("sweep.") for f in files), f"every file carries the stem: {files}")
    caps = captions(out)
    check(sorted(caps) == files, f"one caption line per figure written: {sorted(caps)}")
    for name, cap in caps.items():
        check(re.search(r"\d+ (traced )?seeds?\b", cap) is not None,
              f"{name}'s caption says how many seeds: {cap}")

    # Traced seeds counted right, outcomes as the file has them, no false "divergence".
    for c in range(cells):
        cap = caps.get(f"sweep.sv_cell{c}.png", "")
        n = int((status[c] >= 0).sum())
        conv, div = int((status[c] == 0).sum()), int((status[c] == 2).sum())
        check(f"median of {traced} traced seeds" in cap, f"cell {c}: {traced} traced seeds counted")
        check(f"converged {conv}/{n}, diverged {div}/{n}" in cap,
              f"cell {c} ({kinds[c]}): caption gives converged {conv}/{n}, diverged {div}/{n}")
        check("divergence" not in cap, f"cell {c}: no claim of divergence in the caption")

    # Aliasing: Muon at a constant rate oscillates step to step; recorded every 10-11 steps.
    loss_cap = caps.get("sweep.loss.png", "")
    check(WARNING in loss_cap and "record spacing 10–11 steps" in loss_cap,
          f"loss.png caption warns about the record spacing: {loss_cap}")
    muon = [c for c in range(cells) if kinds[c] == "muon"]
    check(any(WARNING in caps.get(f"sweep.sv_cell{c}.png", "") for c in muon),
          "a Muon cell's sigma plot carries the record-spacing warning")
    check(WARNING not in caps.get("sweep.sv_cell0.png", "x " + WARNING),
          "the GD cell at lr = 0.1 (monotone loss) has no warning")
    check("GD: 2/λ_max at the minimum" in caps.get("sweep.loss_vs_lr.png", ""),
          "loss_vs_lr.png draws the GD stability line")

    # A second run in the same directory keeps the first one's figures.
    other = os.path.join(work, "other.h5")
    shutil.copy(h5, other)
    rc, out, err = run([exe, "plot", other, "--out", figs, "--cells", "0"])
    files2 = sorted(os.listdir(figs))
    check(rc == 0 and "other.sv_cell0.png" in files2 and all(f in files2 for f in files),
          f"a second run's figures sit beside the first's: {files2}")

    # --cells.
    for spec, want in (("0,3", [0, 3]), ("1-2", [1, 2])):
        d = os.path.join(work, "cells_" + spec)
        rc, out, err = run([exe, "plot", h5, "--out", d, "--cells", spec])
        sv = sorted(int(m.group(1)) for f in os.listdir(d) if (m := re.match(r"sweep\.sv_cell(\d+)\.png", f))) \
            if os.path.isdir(d) else []
        check(rc == 0 and sv == want, f"--cells {spec}: sigma plots of cells {sv}, want {want}")
        check(all("Selected with --cells" in cap for cap in captions(out).values()),
              f"--cells {spec}: every caption says the cells were selected")
    for spec in ("x", "2-1", "1,,2", "-1", "9"):
        rc, out, err = run([exe, "plot", h5, "--out", os.path.join(work, "bad"), "--cells", spec])
        check(rc == 2 and "--cells" in err, f"--cells {spec!r} exits 2 naming --cells "
              f"(got {rc}: {err.strip()[:200]})")

    # Hitting times of 9 cells: all of them.
    nine = make_run(exe, work, "nine", NINE)
    rc, out, err = run([exe, "plot", nine, "--out", os.path.join(work, "nine_figs")])
    cap = captions(out).get("nine.hitting_times.png")
    check(rc == 0 and cap is not None and "left out" not in cap,
          f"9 cells: hitting_times.png leaves none out: {cap}")

    # In-context regression weighs its loss: the relative excess the figures draw divides by the
    # loss at W = 0 (1/2 <M, Gamma M Lambda>, not 1/2 ||M||^2), so from an init of 1e-3 it starts at
    # 1 (W(0) ~ 1e-6), and at the end it agrees with the run's own /outcome/excess.
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "host", "plot"))
    import specsweep_plot  # noqa: E402
    icl = make_run(exe, work, "icl", ICL)
    loaded = specsweep_plot.load_run(icl)
    with h5py.File(icl, "r") as f:
        excess = f["outcome/excess"][0, :2]
    start = loaded.excess_trace[0][:, 0]
    check(loaded.loss_is_excess and abs(start - 1).max() < 1e-3,
          f"icl: the plotted relative excess starts at 1 (got {start})")
    end = loaded.excess_trace[0][:, -1]
    check(abs(end / excess - 1).max() < 1e-6, f"icl: the plotted final excess {end} is the run's {excess}")

    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
