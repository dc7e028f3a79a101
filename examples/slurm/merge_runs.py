#!/usr/bin/python3
"""Concatenate the cells of several complete specsweep run files into one run file.

    merge_runs.py OUT.h5 PART.h5 [PART.h5 ...] [--force]

Meant for job arrays (examples/slurm/sweep_array.sbatch): every array task runs its own config
and writes its own run file; this joins them along the cell axis, in the order given, so that
`specsweep report`, `specsweep plot` and tests/check_summary.py read the result like one run.

Every input must be complete (no .partial, every /progress unit done, every seed written) and
have the same shape: seeds S, traced seeds K, record steps T (and the same steps), modes r,
depth L, m, n, unit_seeds, and the same swept axis names in the same order with the same types.
Inputs that differ in any of these are refused (exit 2).

Every dataset whose `dims` attribute starts with "cell" (/cells, /outcome, /trace, /target,
/summary, /progress) is copied cell by cell, so memory holds one cell at a time; the others
(/trace/step, /summary/quantile_levels) must be identical in every input and are copied once.
The per-cell statistics in /summary depend only on their cell's data, so copied rows stay exact.
Dataset and group attributes, chunking, compression and fill values come from the first input.
Root attributes are the first input's (so `config` is the first part's config), plus:
  merged_from     the input paths, in order
  merged_cells    the number of cells each input contributed
  merged_configs  each input's root `config`
Root attributes that differ between inputs (master_seed, precision, backend, version, git
revision) are reported on stderr; each cell's own resolved config stays in /cells/config.

The output is written to OUT.h5.merging and renamed to OUT.h5 only when complete.
Exit codes: 0 merged; 2 bad input (unreadable, incomplete or incompatible files); 3 I/O error.

Requires Python 3 with h5py and NumPy (Debian: python3-h5py, python3-numpy).
"""
import argparse
import os
import sys

import numpy as np

try:
    import h5py
except ImportError:
    sys.exit("merge_runs.py: the Python module h5py is required (Debian: apt-get install python3-h5py)")


class BadInput(Exception):
    pass


# What specsweep adds at commit for netCDF-4 readers (host/h5_output.cpp, netcdf_view): datasets
# marked with the attribute netcdf_view, and the dimension-scale attributes and `coordinates` on the
# others. A merged file leaves them out and builds the view again (add_netcdf_view).
VIEW_MARK = "netcdf_view"
VIEW_ATTRIBUTES = {"CLASS", "NAME", "REFERENCE_LIST", "DIMENSION_LIST", "coordinates", VIEW_MARK}
NOT_A_VARIABLE = "This is a netCDF dimension but not a netCDF variable."


def datasets(f):
    """name -> Dataset for every dataset of the run file's contract, in a stable order."""
    out = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and VIEW_MARK not in obj.attrs:
            out[name] = obj

    f.visititems(visit)
    return dict(sorted(out.items()))


def groups(f):
    out = []

    def visit(name, obj):
        if isinstance(obj, h5py.Group):
            out.append(name)

    f.visititems(visit)
    return sorted(out)


def text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return [text(v) for v in value.tolist()]
    return value


def dims_of(ds):
    d = ds.attrs.get("dims")
    if d is None:
        raise BadInput(f"{ds.file.filename}: /{ds.name.lstrip('/')} has no dims attribute")
    return text(d).split()


def is_per_cell(ds):
    d = dims_of(ds)
    return len(d) > 0 and d[0] == "cell"


def shape_summary(f, path):
    """The quantities the inputs must share, named as in docs/REFERENCE.md section 4."""
    try:
        status = f["outcome/status"]
        hit = f["outcome/hit_step"]
        loss = f["trace/loss"]
        target = f["target/M"]
        step = f["trace/step"][...]
        factors = sorted(k for k in f["trace/init"].keys())
        axes = text(f["cells"].attrs.get("axes", np.array([], dtype=object)))
    except KeyError as e:
        raise BadInput(f"{path}: not a specsweep run file ({e})")
    return {
        "S (seeds)": status.shape[1],
        "K (traced seeds)": loss.shape[1],
        "T (record steps)": loss.shape[2],
        "r (modes)": hit.shape[2],
        "L (depth)": len(factors),
        "m": target.shape[1],
        "n": target.shape[2],
        "unit_seeds": int(f.attrs.get("unit_seeds", -1)),
        "swept axes": list(axes),
        "record steps": step.tolist(),
    }


def check_complete(f, path):
    if path.endswith(".partial"):
        raise BadInput(f"{path}: a partial run file; finish it with `specsweep run ... --resume`")
    if "summary" not in f or "status_count" not in f["summary"]:
        raise BadInput(f"{path}: no /summary (incomplete run, or not written by specsweep)")
    if "progress/unit_done" in f:
        done = f["progress/unit_done"][...]
        if not np.all(done == 1):
            raise BadInput(f"{path}: {int(np.sum(done != 1))} of {done.size} work units not done")
    status = f["outcome/status"]
    for c in range(status.shape[0]):
        if np.any(status[c] < 0):
            raise BadInput(f"{path}: cell {c} has unwritten seeds")


def check_compatible(files, paths):
    first, p0 = files[0], paths[0]
    ref = shape_summary(first, p0)
    ref_sets = datasets(first)
    ref_groups = groups(first)
    for f, p in zip(files[1:], paths[1:]):
        s = shape_summary(f, p)
        for key in ref:
            if s[key] != ref[key]:
                raise BadInput(f"{p}: {key} is {s[key]}, but {ref[key]} in {p0}")
        sets = datasets(f)
        if list(sets) != list(ref_sets):
            missing = sorted(set(ref_sets) - set(sets))
            extra = sorted(set(sets) - set(ref_sets))
            raise BadInput(f"{p}: datasets differ from {p0} (missing {missing}, extra {extra})")
        if groups(f) != ref_groups:
            raise BadInput(f"{p}: groups differ from {p0}")
        for name, ds in sets.items():
            r = ref_sets[name]
            if dims_of(ds) != dims_of(r):
                raise BadInput(f"{p}: /{name} has dims {dims_of(ds)}, {dims_of(r)} in {p0}")
            if ds.dtype != r.dtype:
                raise BadInput(f"{p}: /{name} has type {ds.dtype}, {r.dtype} in {p0}")
            if is_per_cell(ds):
                if ds.shape[1:] != r.shape[1:]:
                    raise BadInput(f"{p}: /{name} has shape {ds.shape}, {r.shape} in {p0} "
                                   "(only the cell axis may differ)")
            else:
                a, b = ds[...], r[...]
                same = a.shape == b.shape and (
                    np.array_equal(a, b, equal_nan=True) if a.dtype.kind == "f"
                    else np.array_equal(a, b))
                if not same:
                    raise BadInput(f"{p}: /{name} differs from {p0} (it has no cell axis, so it "
                                   "must be identical)")
    # Every per-cell dataset of a file has the same number of cells.
    for f, p in zip(files, paths):
        counts = {name: ds.shape[0] for name, ds in datasets(f).items() if is_per_cell(ds)}
        if len(set(counts.values())) != 1:
            raise BadInput(f"{p}: per-cell datasets disagree on the number of cells: {counts}")


def warn_root_differences(files, paths):
    keys = ["master_seed", "precision", "backend", "specsweep_version", "git_revision"]
    for key in keys:
        values = [text(f.attrs.get(key)) for f in files]
        v0 = values[0]
        for v, p in zip(values[1:], paths[1:]):
            if np.asarray(v).tolist() != np.asarray(v0).tolist():
                print(f"merge_runs.py: note: root attribute {key} is {v!r} in {p}, {v0!r} in "
                      f"{paths[0]}; the merged file keeps {v0!r} (each cell's own config is in "
                      "/cells/config)", file=sys.stderr)
    if "cells/config" in files[0]:
        seen = {}
        for f, p in zip(files, paths):
            for c, cfg in enumerate(f["cells/config"][...]):
                cfg = text(cfg)
                if cfg in seen:
                    print(f"merge_runs.py: note: cell {c} of {p} has the same config as cell "
                          f"{seen[cfg][1]} of {seen[cfg][0]} (duplicate cell)", file=sys.stderr)
                else:
                    seen[cfg] = (p, c)


def copy_attributes(src, dst):
    """Attributes with their stored types (fixed or variable-length strings stay as they were),
    but the netCDF-4 view's (references into the source file)."""
    for name in src.attrs:
        if name not in VIEW_ATTRIBUTES:
            dst.attrs.create(name, src.attrs[name], dtype=src.attrs.get_id(name).dtype)


def add_netcdf_view(out, source):
    """The netCDF-4 view specsweep writes at commit, by the same rule (host/h5_output.cpp,
    netcdf_view): each dims token a dimension scale in the dataset's group (row and col per
    matrix); the cell coordinate renumbered, the other coordinates' values as in `source` (a part
    written before the view existed gives dimensions without values); the swept axes as coordinates
    of every per-cell variable outside /cells."""
    mark = "added for netCDF-4 readers (dimension scale or coordinate)"
    scales = {}  # path -> [name, length, [(dataset, index)]]
    for name, ds in datasets(out).items():
        group, base = name.rsplit("/", 1)
        for i, token in enumerate(dims_of(ds)):
            scale = f"{base}_{token}" if token in ("row", "col") else token
            path = f"{group}/{scale}"
            entry = scales.setdefault(path, [scale, ds.shape[i], []])
            if path != name:
                entry[2].append((name, i))
    axes = [text(a) for a in out["cells"].attrs.get("axes", np.array([], dtype=object))]
    for path, (scale, length, uses) in scales.items():
        group = path.rsplit("/", 1)[0]
        if scale == "cell" and group != "cells":
            for key in axes:
                copy = out.create_dataset(f"{group}/{key}", data=out[f"cells/{key}"][()])
                copy.attrs["dims"] = "cell"
                copy.attrs[VIEW_MARK] = mark
                uses.append((f"{group}/{key}", 0))
        if path not in out:
            given = source.get(path)
            if scale == "cell":
                ds = out.create_dataset(path, data=np.arange(length, dtype=np.int64))
            elif given is not None and not text(given.attrs.get("NAME", "")).startswith(NOT_A_VARIABLE):
                ds = out.create_dataset(path, data=given[()], dtype=given.dtype)
            else:
                ds = out.create_dataset(path, shape=(length,), dtype=np.float32)
                ds.make_scale(f"{NOT_A_VARIABLE}{length:10d}")
            ds.attrs[VIEW_MARK] = mark
        ds = out[path]
        if "CLASS" not in ds.attrs:
            ds.make_scale(scale)
        for name, i in uses:
            out[name].dims[i].attach_scale(ds)
    if axes:
        for name, ds in datasets(out).items():
            if not name.startswith("cells/") and is_per_cell(ds):
                ds.attrs["coordinates"] = " ".join(axes)


def create_like(out, name, ds, shape):
    kwargs = {}
    if ds.chunks is not None:
        chunks = tuple(min(c, s) if s > 0 else c for c, s in zip(ds.chunks, shape))
        kwargs.update(chunks=chunks, compression=ds.compression,
                      compression_opts=ds.compression_opts, shuffle=ds.shuffle,
                      fletcher32=ds.fletcher32)
    if h5py.check_string_dtype(ds.dtype) is None and ds.dtype.kind in "iufb":
        kwargs["fillvalue"] = ds.fillvalue
    dst = out.create_dataset(name, shape=shape, dtype=ds.dtype, **kwargs)
    copy_attributes(ds, dst)
    return dst


def merge(paths, out_path):
    files = [h5py.File(p, "r") for p in paths]
    try:
        for f, p in zip(files, paths):
            check_complete(f, p)
        check_compatible(files, paths)
        warn_root_differences(files, paths)

        ref = datasets(files[0])
        cells = [f["outcome/status"].shape[0] for f in files]
        total = sum(cells)
        tmp = out_path + ".merging"
        try:
            with h5py.File(tmp, "w") as out:
                copy_attributes(files[0], out)
                str_t = h5py.string_dtype("utf-8")
                out.attrs.create("merged_from", np.array(paths, dtype=object), dtype=str_t)
                out.attrs.create("merged_cells", np.array(cells, dtype=np.int64))
                out.attrs.create("merged_configs",
                                 np.array([text(f.attrs.get("config", "")) for f in files],
                                          dtype=object), dtype=str_t)
                for g in groups(files[0]):
                    copy_attributes(files[0][g], out.require_group(g))
                for name, ds in ref.items():
                    if not is_per_cell(ds):
                        dst = create_like(out, name, ds, ds.shape)
                        dst[...] = ds[...]
                        continue
                    dst = create_like(out, name, ds, (total,) + ds.shape[1:])
                    row = 0
                    for f in files:
                        src = f[name]
                        for c in range(src.shape[0]):  # one cell at a time
                            dst[row] = src[c]
                            row += 1
                    assert row == total
                add_netcdf_view(out, files[0])
            os.replace(tmp, out_path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
        return cells
    finally:
        for f in files:
            f.close()


def main():
    ap = argparse.ArgumentParser(
        description="Concatenate the cells of complete specsweep run files (same seeds, steps "
                    "and shape) into one run file.")
    ap.add_argument("out", help="merged run file to write (OUT.h5)")
    ap.add_argument("parts", nargs="+", help="run files, in cell order")
    ap.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    args = ap.parse_args()

    if os.path.exists(args.out) and not args.force:
        print(f"merge_runs.py: {args.out} exists (use --force to overwrite)", file=sys.stderr)
        return 2
    if os.path.abspath(args.out) in {os.path.abspath(p) for p in args.parts}:
        print("merge_runs.py: the output is one of the inputs", file=sys.stderr)
        return 2
    for p in args.parts:
        if not os.path.isfile(p):
            print(f"merge_runs.py: {p}: no such file", file=sys.stderr)
            return 2
        try:
            with h5py.File(p, "r"):
                pass
        except OSError as e:
            print(f"merge_runs.py: {p}: not a readable HDF5 file ({e})", file=sys.stderr)
            return 2
    try:
        cells = merge(args.parts, args.out)
    except BadInput as e:
        print(f"merge_runs.py: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"merge_runs.py: I/O error: {e}", file=sys.stderr)
        return 3
    print(f"merged {len(args.parts)} files, {sum(cells)} cells ({' + '.join(map(str, cells))}) "
          f"into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
