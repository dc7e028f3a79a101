#!/usr/bin/env python3
"""docs/REFERENCE.md names every config key `specsweep validate` resolves (for a config that sets
a key in every table and a schedule with its own keys), and every dataset and root attribute of a
run file (the netCDF-4 view's datasets aside).

Usage: check_reference.py SPECSWEEP_EXE REFERENCE_MD WORKDIR
"""
import os
import re
import shutil
import subprocess
import sys

import h5py

CONFIGS = {
    "cosine": """
[problem]
m = 6
n = 5
rank = 2
[problem.target]
spectrum = [2.0, 1.0]
[optimizer]
kind = "muon"
[optimizer.schedule]
kind = "cosine"
warmup = 2
[run]
steps = 12
seeds = 4
[record]
points = 4
spacing = "log"
traced_seeds = 2
[basin]
probes = 1
[sweep]
"optimizer.lr" = [0.01, 0.02]
""",
    "piecewise": '[optimizer.schedule]\nkind = "piecewise"\nsteps = [0, 5]\nvalues = [0.01, 0.001]\n',
    "spike": '[optimizer.schedule]\nkind = "spike_geometric"\neta1 = 0.1\nfactor = 0.5\n',
    "exponential": '[optimizer.schedule]\nkind = "exponential"\ndecay = 0.99\n',
}


def toml_keys(text):
    """Dotted keys of `key = value` lines under their [table] headers."""
    keys, table = [], ""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            table = line.strip("[]").strip()
        elif "=" in line and not line.startswith("#"):
            key = line.split("=", 1)[0].strip().strip('"')
            keys.append(key if table == "sweep" else f"{table}.{key}")
    return keys


def main():
    exe, reference, work = sys.argv[1:4]
    text = open(reference, encoding="utf-8").read()
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    missing = []
    for name, config in CONFIGS.items():
        path = os.path.join(work, f"{name}.toml")
        with open(path, "w") as f:
            f.write(config)
        r = subprocess.run([exe, "validate", path], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"FAIL: validate {name}: {r.stderr}")
            return 1
        for key in toml_keys(r.stdout):
            if key.startswith("sweep") or "." not in key:
                continue
            if f"`{key}`" not in text and not re.search(rf"`{re.escape(key)}[`,]", text):
                missing.append(f"config key {key}")
    out = os.path.join(work, "run.h5")
    r = subprocess.run([exe, "run", os.path.join(work, "cosine.toml"), "--out", out, "--quiet"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"FAIL: run: {r.stderr}")
        return 1
    with h5py.File(out, "r") as f:
        names = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) and "netcdf_view" not in o.attrs
                     else None)
        for name in names:
            group, base = ("/" + name).rsplit("/", 1)
            # A dataset is named whole (`/outcome/status`) or in a list after its group's first entry.
            if f"/{name}" not in text and not re.search(rf"`{re.escape(base)}`|`{re.escape(base)}\b", text):
                missing.append(f"dataset /{name}")
        for attr in f.attrs:
            if f"`{attr}`" not in text:
                missing.append(f"root attribute {attr}")
    for m in sorted(set(missing)):
        print("FAIL: docs/REFERENCE.md does not name", m)
    print("FAIL" if missing else "PASS")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
