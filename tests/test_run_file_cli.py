#!/usr/bin/env python3
"""The run file through the real binary, for what only a whole run shows: problem.rank = 1 (every
per-seed array with one value per mode) runs, reports and resumes; the root attribute precision
lists every precision a sweep's cells use; `specsweep export` writes every seed's outcomes as
h5py reads them.

Usage: test_run_file_cli.py SPECSWEEP_EXE WORKDIR
Exit 0 pass, 1 fail.
"""
import csv
import math
import os
import shutil
import subprocess
import sys

import h5py

from checks import check, failures

BASE = """
[problem]
m = 8
n = 10
rank = 3
[run]
seeds = 64
steps = 50
"""


STATUS = ["converged", "stalled", "diverged", "unconverged"]


def export_round_trip(run, work):
    """export: one row per (cell, seed) with the swept values, every /outcome value as stored."""
    cfg = os.path.join(work, "export.toml")
    with open(cfg, "w") as f:
        f.write(BASE + '[optimizer]\nkind = "gd"\nlr = 0.05\n[sweep]\n"optimizer.lr" = [0.05, 3.0]\n'
                '"optimizer.kind" = ["gd", "specgd"]\n')
    out, table = os.path.join(work, "export.h5"), os.path.join(work, "export.csv")
    r = run("run", cfg, "--out", out, "--quiet")
    if not check(r.returncode == 0, f"export run: {r.stderr}"):
        return
    r = run("export", out, "--out", table)
    if not check(r.returncode == 0 and not os.path.exists(table + ".partial"), f"export: {r.stderr}"):
        return
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    with h5py.File(out) as f:
        C, S, R = f["outcome/hit_step"].shape
        check(len(rows) == C * S, f"export: {len(rows)} rows, expected {C * S}")
        axes = [a.decode() if isinstance(a, bytes) else a for a in f["cells"].attrs["axes"]]
        for row in rows[: C * S]:
            c, seed = int(row["cell"]), int(row["seed"])
            for key in axes:
                want = f[f"cells/{key}"][c]
                want = want.decode() if isinstance(want, bytes) else want
                got = row[key] if isinstance(want, str) else float(row[key])
                check(got == want, f"export cell {c}: {key} {row[key]!r}, file {want!r}")
            check(row["status"] == STATUS[f["outcome/status"][c, seed]], f"export {c}/{seed}: status")
            for name in ("final_loss", "excess", "final_grad_norm", "uniformity_cv", "order_kendall",
                         "basin_converged", "basin_closer", "init_det_sign"):
                v = float(f[f"outcome/{name}"][c, seed])
                ok = row[name] == "" if math.isnan(v) else row[name] != "" and float(row[name]) == v
                check(ok, f"export {c}/{seed}: {name} {row[name]!r}, file {v!r}")
            for name, value in [("steps_to_tol", f["outcome/steps_to_tol"][c, seed])] + \
                    [(f"hit_step_{i + 1}", f["outcome/hit_step"][c, seed, i]) for i in range(R)]:
                check(row[name] == ("" if value < 0 else str(value)), f"export {c}/{seed}: {name} {row[name]!r}")
        statuses = {row["status"] for row in rows}
        check(len(statuses) >= 2, f"export: the sweep gave one status only ({statuses}): a weak check")
    r = run("export", os.path.join(work, "missing.h5"))
    check(r.returncode == 2 and "missing.h5" in r.stderr, f"export of a missing file: exit {r.returncode}")


def main():
    exe, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    cfg = os.path.join(work, "base.toml")
    with open(cfg, "w") as f:
        f.write(BASE)

    def run(*args):
        return subprocess.run([exe, *args], capture_output=True, text=True)

    # rank 1: fp32 and fp64, depth 2 and 3, with 0 and 1 traced seeds.
    for precision, depth, traced in (("fp32", 2, 0), ("fp64", 3, 1), ("fp64", 2, 2)):
        out = os.path.join(work, f"rank1_{precision}_{depth}_{traced}.h5")
        factors = ", ".join(['"gaussian"'] * depth)
        r = run("run", cfg, "--out", out, "--quiet", "--set", "problem.rank=1",
                "--set", f'run.precision="{precision}"', "--set", f"problem.depth={depth}",
                "--set", f"init.factors=[{factors}]", "--set", f"record.traced_seeds={traced}")
        what = f"rank 1 ({precision}, depth {depth}, {traced} traced)"
        if not check(r.returncode == 0, f"{what}: exit {r.returncode}: {r.stderr}"):
            continue
        with h5py.File(out) as f:
            check(f["outcome/hit_step"].shape == (1, 64, 1), f"{what}: hit_step {f['outcome/hit_step'].shape}")
            check((f["outcome/status"][()] >= 0).all(), f"{what}: unwritten statuses")
        r = run("report", out, "--format", "csv")
        check(r.returncode == 0 and "hit_step_1_p50" in r.stdout, f"{what}: report: {r.stderr}")

    # run.precision swept: both are recorded.
    swept = os.path.join(work, "swept.toml")
    with open(swept, "w") as f:
        f.write(BASE + '[sweep]\n"run.precision" = ["fp64", "fp32"]\n')
    out = os.path.join(work, "swept.h5")
    r = run("run", swept, "--out", out, "--quiet")
    if check(r.returncode == 0, f"precision sweep: {r.stderr}"):
        with h5py.File(out) as f:
            check(f.attrs["precision"] == "fp32,fp64", f"precision attribute {f.attrs['precision']!r}")
    out = os.path.join(work, "plain.h5")
    r = run("run", cfg, "--out", out, "--quiet", "--set", 'run.precision="fp64"')
    if check(r.returncode == 0, f"fp64 run: {r.stderr}"):
        with h5py.File(out) as f:
            check(f.attrs["precision"] == "fp64", f"precision attribute {f.attrs['precision']!r}")
    export_round_trip(run, work)
    print("PASS" if not failures else f"FAIL ({len(failures)})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
