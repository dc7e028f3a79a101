#!/usr/bin/env python3
"""Keeps docs/REFERENCE.md complete against the binary.

(a) Config keys: `specsweep validate` resolves configs that together set a key in every table
    (both spectrum forms, every schedule kind, record.every and record.points, [basin], [sweep]);
    every dotted key of the resolved TOML must be named in the reference as `key`. Where a row of
    the reference's key tables starts with one `key` and its default column is a TOML value
    (optionally followed by a parenthesis), that value must equal what validate resolves for a
    config that leaves the key unset.
(b) The run file: a tiny sweep (a swept key inside a spectrum table and a boolean axis, traced
    seeds, Delta matrices, a basin probe) is run; every dataset (those marked `netcdf_view`, added
    for netCDF readers, aside) must be named in a table row of the reference, and every dataset a
    table row names must exist. Every root attribute must be named as `attribute`.

A table row names datasets by the backticked tokens of its first column: a token that starts with
"/" is a path and sets the group; a bare token after it is a dataset of that group (`/trace/sv`,
`core_diag`); `FL` stands for the factors F1 ... FL and `/cells/<key>` for the swept keys.

Usage: check_reference.py SPECSWEEP_EXE REFERENCE_MD WORKDIR
"""
import math
import os
import re
import shutil
import subprocess
import sys
import tomllib

import h5py

# name -> (config text, whether its unset keys show their defaults)
CONFIGS = {
    "empty": ("", True),
    "every_table": ("""
[problem]
m = 6
n = 5
rank = 2
depth = 2
l2 = 0.001
[problem.target]
spectrum = { kind = "geometric", max = 2.0, condition = 4.0, count = 3 }
basis = "identity"
seed = 3
[init]
factors = ["zero", "orthogonal"]
scale = 0.01
scale_mode = "fan"
[optimizer]
kind = "muon"
lr = 0.02
orthogonalizer = "newton_schulz"
ns_coefficients = "polar_express"
momentum = 0.9
shape_scale = "rms"
[optimizer.schedule]
kind = "cosine"
warmup = 2
min_lr = 0.001
[run]
steps = 12
seeds = 4
master_seed = 7
precision = "fp64"
blowup = 100.0
[record]
points = 4
spacing = "log"
traced_seeds = 2
hit_tolerance = 0.1
loss_tolerance = 1e-5
grad_tolerance = 1e-7
block_rtol = 0.1
block_atol = 0.0
delta_matrices = true
[basin]
probes = 1
[sweep]
"problem.target.spectrum.condition" = [2.0, 4.0]
"optimizer.nesterov" = [true, false]
""", False),
    "power": ("""
[problem.target]
spectrum = { kind = "power", scale = 10.0, exponent = 1.0, count = 4 }
[sweep]
"problem.target.spectrum.exponent" = { linspace = [0.5, 1.0], count = 2 }
""", False),
    "cosine": ('[optimizer.schedule]\nkind = "cosine"\n', True),
    "spike": ('[optimizer.schedule]\nkind = "spike_geometric"\neta1 = 0.1\n', True),
    "exponential": ('[optimizer.schedule]\nkind = "exponential"\ndecay = 0.99\n', True),
    "piecewise": ('[optimizer.schedule]\nkind = "piecewise"\nsteps = [0, 5]\nvalues = [0.01, 0.001]\n',
                  True),
    "points": ("[record]\npoints = 10\n", True),
}

RUN_CONFIG = "every_table"


def flatten(table, prefix=""):
    """Dotted keys of a parsed TOML document: every value, and every table below the second level
    (an inline spectrum table is a key of its own and has keys inside)."""
    out = {}
    for key, value in table.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            if path.count(".") >= 2:
                out[path] = value
            out.update(flatten(value, path))
        elif prefix:
            out[path] = value
    return out


def same_value(a, b):
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)
    return a == b


def table_rows(text):
    """The cells of every markdown table row (header and separator rows included)."""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("|") and line.endswith("|"):
            yield [cell.strip() for cell in line[1:-1].split("|")]


def documented_defaults(text):
    """{key: default cell} for key-table rows whose first column is exactly one `dotted.key`."""
    out = {}
    for cells in table_rows(text):
        if len(cells) >= 2 and re.fullmatch(r"`[a-z0-9_]+(\.[a-z0-9_]+)+`", cells[0]):
            out[cells[0].strip("`")] = cells[1]
    return out


def parse_default(cell):
    """The TOML value at the start of a default cell, or None when it is not one."""
    value = cell.split(" (", 1)[0].strip()
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return None


def documented_datasets(text):
    """(paths, patterns) named by the first column of table rows."""
    paths, patterns = set(), []
    for cells in table_rows(text):
        group = None
        for token in re.findall(r"`([^`]+)`", cells[0]):
            if token.startswith("/"):
                group = token.rsplit("/", 1)[0]
                name = token
            elif group is not None and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", token):
                name = f"{group}/{token}"
            else:
                continue
            if name.endswith("/<key>"):
                patterns.append(("cells", name[: -len("<key>")]))
            elif name.endswith("/FL"):
                patterns.append(("factors", name[: -len("FL")]))
            else:
                paths.add(name)
    return paths, patterns


def validate(exe, path):
    r = subprocess.run([exe, "validate", path], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"FAIL: specsweep validate {path} exited {r.returncode}: {r.stderr}")
    return tomllib.loads(r.stdout)


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    exe, reference, work = sys.argv[1:4]
    text = open(reference, encoding="utf-8").read()
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    problems = []

    # (a) every resolved key, and the defaults.
    defaults = documented_defaults(text)
    keys, compared, wrong = set(), set(), set()
    for name, (config, shows_defaults) in CONFIGS.items():
        path = os.path.join(work, f"{name}.toml")
        with open(path, "w") as f:
            f.write(config)
        given = set(flatten(tomllib.loads(config)))
        resolved = validate(exe, path)
        if "sweep" in resolved and "[sweep]" not in text:
            problems.append("the [sweep] table is not described")
        resolved.pop("sweep", None)
        for key, value in flatten(resolved).items():
            keys.add(key)
            if not shows_defaults or key in given or key not in defaults:
                continue
            expected = parse_default(defaults[key])
            if expected is not None:
                compared.add(key)
            if expected is not None and not same_value(expected, value) and key not in wrong:
                wrong.add(key)
                problems.append(f"the default of {key} is {value!r} (validate of the {name} config), "
                                f"the reference says {defaults[key]!r}")
    for key in sorted(keys):
        if f"`{key}`" not in text:
            problems.append(f"config key {key} is not named")

    # (b) the run file.
    out = os.path.join(work, "run.h5")
    r = subprocess.run([exe, "run", os.path.join(work, f"{RUN_CONFIG}.toml"), "--out", out, "--quiet"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"FAIL: specsweep run exited {r.returncode}: {r.stderr}")
        return 1
    paths, patterns = documented_datasets(text)
    with h5py.File(out, "r") as f:
        axes = [a.decode() if isinstance(a, bytes) else str(a) for a in f["cells"].attrs["axes"]]
        datasets = []
        f.visititems(lambda n, o: datasets.append("/" + n)
                     if isinstance(o, h5py.Dataset) and "netcdf_view" not in o.attrs else None)

        def documented(name):
            if name in paths:
                return True
            for kind, prefix in patterns:
                rest = name[len(prefix):] if name.startswith(prefix) else None
                if rest is None:
                    continue
                if kind == "cells" and rest in axes:
                    return True
                if kind == "factors" and re.fullmatch(r"F[0-9]+", rest):
                    return True
            return False

        for name in datasets:
            if not documented(name):
                problems.append(f"dataset {name} is not named")
        for name in sorted(paths):
            if name not in datasets:
                problems.append(f"the reference names {name}, which a run file does not have")
        for attr in f.attrs:
            if f"`{attr}`" not in text:
                problems.append(f"root attribute {attr} is not named")
    if not datasets:
        problems.append("the run file has no datasets")

    for p in problems:
        print("FAIL: docs/REFERENCE.md:", p)
    print(f"{'FAIL' if problems else 'PASS'}: {len(keys)} config keys, {len(datasets)} datasets, "
          f"{len(compared)} documented defaults checked")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
