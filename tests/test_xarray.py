#!/usr/bin/env python3
"""Run files open in xarray (engine h5netcdf) with named dimensions and coordinates: every group
of a sweep over a numeric and a string axis, and a file merged by examples/slurm/merge_runs.py.
The expected values come from h5py reads of the contract's datasets (DESIGN section 6), not from
the view under test.

Usage: test_xarray.py SPECSWEEP_EXE WORKDIR
"""
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import xarray as xr

from checks import check, failures

HERE = os.path.dirname(os.path.abspath(__file__))
MERGE = os.path.join(os.path.dirname(HERE), "examples", "slurm", "merge_runs.py")
CONFIG = """
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
steps = 40
seeds = 20
master_seed = {seed}
[record]
traced_seeds = 2
every = 10
[sweep]
"optimizer.lr" = [0.01, 0.02, 0.04]
"optimizer.kind" = ["specgd", "gd"]
"""
GROUPS = ["cells", "outcome", "progress", "summary", "target", "trace", "trace/init", "trace/final"]
AXES = ["optimizer.lr", "optimizer.kind"]


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def expected_dims(name, ds):
    """The dims attribute's names, row and col qualified by the matrix (M_row, F1_col, ...)."""
    base = name.rsplit("/", 1)[1]
    return tuple(f"{base}_{t}" if t in ("row", "col") else t for t in text(ds.attrs["dims"]).split())


def check_file(path, cells, unstack):
    with h5py.File(path, "r") as f:
        contract = {}
        f.visititems(lambda n, o: contract.__setitem__(n, o) if isinstance(o, h5py.Dataset)
                     and "netcdf_view" not in o.attrs else None)
        for group in GROUPS:
            ds = xr.open_dataset(path, group=group, engine="h5netcdf")
            phony = [d for d in ds.dims if str(d).startswith("phony_dim")]
            check(not phony, f"{path} /{group}: unnamed dimensions {phony}")
            for name, h5 in contract.items():
                if name.rsplit("/", 1)[0] != group:
                    continue
                var = name.rsplit("/", 1)[1]
                check(var in ds.variables, f"{path} /{name}: not a variable of the group")
                if var not in ds.variables:
                    continue
                check(ds[var].dims == expected_dims(name, h5),
                      f"/{name}: dims {ds[var].dims}, expected {expected_dims(name, h5)}")
                same = np.array_equal(np.asarray(ds[var].values), h5[()], equal_nan=h5.dtype.kind == "f") \
                    if h5.dtype.kind in "iuf" else [text(v) for v in h5[()].ravel()] == \
                    [text(v) for v in np.asarray(ds[var].values).ravel()]
                check(same, f"/{name}: xarray reads other values than h5py")
            check(np.array_equal(ds["cell"].values, np.arange(cells)), f"/{group}: cell coordinate")
            if group != "cells":
                for key in AXES:
                    check(key in ds.coords, f"/{group}: the swept axis {key} is not a coordinate")
                    if key in ds.coords:
                        want = [text(v) for v in f[f"cells/{key}"][()]]
                        check([text(v) for v in ds[key].values] == want, f"/{group}: {key} values")
        summary = xr.open_dataset(path, group="summary", engine="h5netcdf")
        check(np.array_equal(summary["quantile"].values, f["summary/quantile_levels"][()]), "quantile levels")
        check(np.array_equal(summary["step"].values, f["trace/step"][()]), "summary step coordinate")
        check(list(summary["status"].values) == ["converged", "stalled", "diverged", "unconverged"],
              f"status coordinate {list(summary['status'].values)}")
        check(np.array_equal(summary["mode"].values, np.arange(1, f["summary/hit_count"].shape[1] + 1)), "modes")
        trace = xr.open_dataset(path, group="trace", engine="h5netcdf")
        check(np.array_equal(trace["step"].values, f["trace/step"][()]), "trace step coordinate")
        if not unstack:  # a merged file repeats the sweep: its axes do not index the cells
            return
        # The swept axes unstack into named dimensions: the median final loss per (lr, kind).
        grid = summary["final_loss"].sel(quantile=0.5).set_index(cell=AXES).unstack("cell")
        check(grid.dims == tuple(AXES), f"unstacked dims {grid.dims}")
        lrs, kinds = f["cells/optimizer.lr"][()], [text(v) for v in f["cells/optimizer.kind"][()]]
        median = f["summary/final_loss"][:, 2]
        for c in range(cells):
            got = float(grid.sel({"optimizer.lr": lrs[c], "optimizer.kind": kinds[c]}))
            check(got == median[c], f"cell {c}: unstacked median {got}, /summary/final_loss {median[c]}")


def main():
    exe, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    runs = []
    for seed in (1, 2):
        cfg = os.path.join(work, f"sweep{seed}.toml")
        with open(cfg, "w") as f:
            f.write(CONFIG.format(seed=seed))
        out = os.path.join(work, f"sweep{seed}.h5")
        r = subprocess.run([exe, "run", cfg, "--out", out, "--quiet"], capture_output=True, text=True)
        check(r.returncode == 0, f"run: {r.stderr}")
        runs.append(out)
    check_file(runs[0], 6, unstack=True)
    merged = os.path.join(work, "merged.h5")
    r = subprocess.run([sys.executable, MERGE, merged, *runs], capture_output=True, text=True)
    check(r.returncode == 0, f"merge_runs.py: {r.stdout} {r.stderr}")
    if r.returncode == 0:
        check_file(merged, 12, unstack=False)
    print(f"FAIL ({len(failures)} failures)" if failures else "PASS")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
