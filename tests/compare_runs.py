#!/usr/bin/env python3
"""Compares two specsweep run files dataset by dataset, bitwise (NaN == NaN), and their root
attributes. Exit 0 when identical, 1 with a list of differences otherwise.

Usage: compare_runs.py A.h5 B.h5 [--ignore-attr NAME]...
"""
import argparse
import sys

import h5py
import numpy as np


def datasets(f):
    out = {}
    f.visititems(lambda name, obj: out.__setitem__(name, obj) if isinstance(obj, h5py.Dataset) else None)
    return out


def same(a, b):
    a, b = a[()], b[()]
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        if a.dtype == object:  # variable-length strings: compare values, not pointers
            return list(a.ravel()) == list(b.ravel())
        return a.tobytes() == b.tobytes()
    return a == b


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--ignore-attr", action="append", default=[])
    args = p.parse_args()
    problems = []
    with h5py.File(args.a) as fa, h5py.File(args.b) as fb:
        da, db = datasets(fa), datasets(fb)
        for name in sorted(set(da) | set(db)):
            if name not in da or name not in db:
                problems.append(f"{name}: only in {'A' if name in da else 'B'}")
            elif not same(da[name], db[name]):
                problems.append(f"{name}: differs")
        for key in sorted(set(fa.attrs) | set(fb.attrs)):
            if key in args.ignore_attr:
                continue
            if key not in fa.attrs or key not in fb.attrs or fa.attrs[key] != fb.attrs[key]:
                problems.append(f"attribute {key}: differs")
        print(f"compared {len(da)} datasets")
    for line in problems:
        print("DIFF", line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
