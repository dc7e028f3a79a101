#!/usr/bin/env python3
"""Independent check of a run file's /summary group (host/statistics.hpp, DESIGN section 3).

    check_summary.py RUN.h5 [--allow-partial]

Recomputes every /summary dataset from /outcome, /trace and /target with NumPy, written from the
contract alone (no code shared with the C++), and compares: integer counts exactly, floating
values to a relative tolerance of 1e-12, NaN equal to NaN and +-inf equal to the same infinity.
Prints one line per dataset and exits 0 when all match, 1 on any mismatch or missing dataset,
2 when the file cannot be read or is not a specsweep run file.

The contract, as checked here (C cells, S seeds, K traced seeds, T record steps, r modes,
Q = 5 levels 0.05 0.25 0.5 0.75 0.95):
  status_count (C x 4)          seeds per status code 0..3 (integers)
  status_fraction (C x 4)       count / S
  status_wilson95 (C x 4 x 2)   Wilson score interval, z = 1.959963984540054
  final_loss, excess (C x Q)    quantiles over all seeds, NaN excluded
  steps_to_tol (C x Q)          -1 ("never") counts as +inf
  steps_to_tol_reached (C)      seeds with steps_to_tol >= 0
  hit_step (C x r x Q)          per mode, -1 as +inf; NaN for modes beyond min(r, rank M)
  hit_count (C x r)             seeds with hit_step >= 0
  uniformity_cv, order_kendall (C x Q) and defined_count (C x 2): over the non-NaN seeds
  loss_band (C x T x Q), sv_band (C x T x r x Q): over the traced seeds at each record step
  basin_converged, basin_closer (C x Q): over converged seeds of the per-seed probe fractions
                                (/outcome/basin_converged, /outcome/basin_closer); all NaN
                                when the file has no per-seed basin data
  basin_pooled (C x 2)          mean of those per-seed fractions (= pooled over all probes,
                                each converged seed having the same number of probes)
  det_sign_count (C x 2 x 2)    seeds with /outcome/init_det_sign = +1 (row 0) and -1 (row 1):
                                (seeds, converged seeds); other values (NaN, 0) in neither
  det_sign_wilson95 (C x 2 x 2) Wilson interval of converged / seeds per sign (NaN for 0 seeds)
Quantiles are NumPy's "linear" method (type 7). A quantile that interpolates towards +inf is
+inf (towards -inf, -inf); one that lands exactly on an order statistic is that value.
rank M is the number of (finite) entries of /target/spectrum for the cell.
"""
import argparse
import sys

import numpy as np

try:
    import h5py
except ImportError:
    sys.exit("check_summary.py: the Python module h5py is required")

LEVELS = np.array([0.05, 0.25, 0.5, 0.75, 0.95])
Z95 = 1.959963984540054
RTOL = 1e-12


# ------------------------------------------------------------------------------------------------
# Reference statistics


def _fix_infinite(sorted_values, result):
    """np.quantile's linear interpolation turns inf - inf or inf * 0 into NaN. Replace those by
    the contract's value: the order statistic itself when the index is exact, else the infinity
    the interpolation touches."""
    n = len(sorted_values)
    h = (n - 1) * LEVELS
    lo = np.floor(h).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    exact = (h - lo) == 0
    for j in np.flatnonzero(np.isnan(result)):
        a, b = sorted_values[lo[j]], sorted_values[hi[j]]
        if exact[j] or a == b:
            result[j] = a
        elif b == np.inf:
            result[j] = np.inf
        elif a == -np.inf:
            result[j] = -np.inf
    return result


def _bracket_scale(sorted_values):
    """Magnitude of the two order statistics each quantile interpolates between (the scale of its
    rounding error)."""
    n = len(sorted_values)
    h = (n - 1) * LEVELS
    lo = np.floor(h).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    with np.errstate(invalid="ignore"):
        s = np.maximum(np.abs(sorted_values[lo]), np.abs(sorted_values[hi]))
    return np.where(np.isfinite(s), s, 0.0)


def quantiles(values):
    """(quantiles at LEVELS, rounding scale) of the non-NaN values; NaN when none remain."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = np.sort(v[~np.isnan(v)])
    if v.size == 0:
        return np.full(LEVELS.size, np.nan), np.zeros(LEVELS.size)
    with np.errstate(invalid="ignore"):
        q = np.quantile(v, LEVELS, method="linear")
    return _fix_infinite(v, q), _bracket_scale(v)


def quantiles_along(data, axis):
    """quantiles() of every 1-D slice of `data` along `axis`; the level axis goes last.
    Slices without NaN go through one vectorized np.quantile; the others one by one."""
    x = np.moveaxis(np.asarray(data, dtype=np.float64), axis, -1)
    shape = x.shape[:-1]
    flat = x.reshape(int(np.prod(shape)), x.shape[-1])
    out = np.full((flat.shape[0], LEVELS.size), np.nan)
    scale = np.zeros_like(out)
    if flat.shape[1] == 0 or flat.shape[0] == 0:
        return out.reshape(shape + (LEVELS.size,)), scale.reshape(shape + (LEVELS.size,))
    clean = ~np.isnan(flat).any(axis=1)
    if clean.any():
        s = np.sort(flat[clean], axis=1)
        with np.errstate(invalid="ignore"):
            q = np.quantile(s, LEVELS, axis=1, method="linear").T
        rows = np.flatnonzero(clean)
        for k, row in enumerate(rows):
            if np.isnan(q[k]).any():
                q[k] = _fix_infinite(s[k], q[k])
        out[clean] = q
        n = s.shape[1]
        h = (n - 1) * LEVELS
        lo = np.floor(h).astype(int)
        hi = np.minimum(lo + 1, n - 1)
        with np.errstate(invalid="ignore"):
            sc = np.maximum(np.abs(s[:, lo]), np.abs(s[:, hi]))
        scale[clean] = np.where(np.isfinite(sc), sc, 0.0)
    for row in np.flatnonzero(~clean):
        out[row], scale[row] = quantiles(flat[row])
    return out.reshape(shape + (LEVELS.size,)), scale.reshape(shape + (LEVELS.size,))


def censored(steps):
    """Step counts with -1 ("never") as +inf."""
    s = np.asarray(steps, dtype=np.float64)
    return np.where(s < 0, np.inf, s)


def wilson95(successes, trials):
    if trials <= 0:
        return np.array([np.nan, np.nan])
    n = float(trials)
    p = successes / n
    z2 = Z95 * Z95
    denom = 1 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = Z95 * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    return np.clip([center - half, center + half], 0.0, 1.0)


class Expected:
    """Expected /summary datasets: name -> (values, rounding scale or None for exact integers)."""

    def __init__(self):
        self.data = {}
        self.notes = []
        self.errors = []

    def put(self, name, values, scale=None, floor=0.0):
        values = np.asarray(values)
        if scale is None and values.dtype.kind == "f":
            scale = np.abs(np.where(np.isfinite(values), values, 0.0))
        if scale is not None:
            scale = np.maximum(scale, floor)
        self.data[name] = (values, scale)


def expected_summary(f, allow_partial=False):
    status = np.asarray(f["outcome/status"][()])
    C, S = status.shape
    hit = np.asarray(f["outcome/hit_step"][()])
    r = hit.shape[2]
    spectrum = np.asarray(f["target/spectrum"][()], dtype=np.float64)
    modes = np.minimum(r, np.isfinite(spectrum).sum(axis=1))
    ex = Expected()

    bad = int(((status < -1) | (status > 3)).sum())
    if bad:
        ex.errors.append(f"/outcome/status holds {bad} unknown status codes")
    incomplete = np.flatnonzero((status == -1).any(axis=1))

    ex.put("quantile_levels", LEVELS)
    count = np.stack([(status == k).sum(axis=1) for k in range(4)], axis=1).astype(np.int64)
    ex.put("status_count", count)
    ex.put("status_fraction", count / S if S else np.full((C, 4), np.nan), floor=1.0)
    ex.put("status_wilson95", np.array([[wilson95(count[c, k], S) for k in range(4)]
                                        for c in range(C)]).reshape(C, 4, 2), floor=1.0)

    def per_cell(name, transform=None):
        """Quantiles of /outcome/<name> per cell."""
        ds = f["outcome/" + name]
        rows = [quantiles(transform(ds[c]) if transform else ds[c]) for c in range(C)]
        return np.array([q for q, _ in rows]).reshape(C, 5), np.array([s for _, s in rows]).reshape(C, 5)

    for name in ("final_loss", "excess"):
        ex.put(name, *per_cell(name))
    ex.put("steps_to_tol", *per_cell("steps_to_tol", censored))
    ex.put("steps_to_tol_reached", (np.asarray(f["outcome/steps_to_tol"][()]) >= 0).sum(axis=1).astype(np.int64))

    hq = np.full((C, r, 5), np.nan)
    hs = np.zeros((C, r, 5))
    hc = np.zeros((C, r), dtype=np.int64)
    for c in range(C):
        m = int(modes[c])
        if m > 0:
            hq[c, :m], hs[c, :m] = quantiles_along(censored(hit[c, :, :m]), axis=0)
            hc[c, :m] = (hit[c, :, :m] >= 0).sum(axis=0)
    ex.put("hit_step", hq, hs)
    ex.put("hit_count", hc)

    defined = []
    for name in ("uniformity_cv", "order_kendall"):
        ex.put(name, *per_cell(name))
        defined.append((~np.isnan(np.asarray(f["outcome/" + name][()], dtype=np.float64))).sum(axis=1))
    ex.put("defined_count", np.stack(defined, axis=1).astype(np.int64))
    if "outcome/final_lr_sharpness" in f:
        ex.put("final_lr_sharpness", *per_cell("final_lr_sharpness"))
    if "outcome/recovery_error" in f:
        ex.put("recovery_error", *per_cell("recovery_error"))

    ex.put("loss_band", *quantiles_along(f["trace/loss"][()], axis=1))  # C x K x T -> C x T x Q
    ex.put("sv_band", *quantiles_along(f["trace/sv"][()], axis=1))      # C x K x T x r -> C x T x r x Q

    if "outcome/basin_converged" in f and "outcome/basin_closer" in f:
        pooled = np.full((C, 2), np.nan)
        for j, name in enumerate(("basin_converged", "basin_closer")):
            per_seed = np.asarray(f["outcome/" + name][()], dtype=np.float64)
            per_seed = np.where(status == 0, per_seed, np.nan)  # over converged seeds
            ex.put(name, *quantiles_along(per_seed, axis=1))
            for c in range(C):
                v = per_seed[c][~np.isnan(per_seed[c])]
                if v.size:
                    pooled[c, j] = v.mean()
        ex.put("basin_pooled", pooled, floor=1.0)
    else:
        ex.notes.append("no per-seed basin data in /outcome: basin_* must be NaN")
        for name in ("basin_converged", "basin_closer"):
            ex.put(name, np.full((C, 5), np.nan))
        ex.put("basin_pooled", np.full((C, 2), np.nan))

    det = (np.asarray(f["outcome/init_det_sign"][()], dtype=np.float64) if "outcome/init_det_sign" in f
           else np.full((C, S), np.nan))
    det_count = np.zeros((C, 2, 2), dtype=np.int64)
    det_wilson = np.full((C, 2, 2), np.nan)
    for c in range(C):
        for k, sign in enumerate((1.0, -1.0)):
            mine = det[c] == sign
            det_count[c, k] = (int(mine.sum()), int((mine & (status[c] == 0)).sum()))
            det_wilson[c, k] = wilson95(det_count[c, k, 1], det_count[c, k, 0])
    ex.put("det_sign_count", det_count)
    ex.put("det_sign_wilson95", det_wilson, floor=1.0)

    if incomplete.size:
        cells = " ".join(map(str, incomplete[:20])) + (" ..." if incomplete.size > 20 else "")
        if allow_partial:
            # A cell whose seeds are not all written has no statistics yet: -1 / NaN.
            ex.notes.append(f"{incomplete.size} incomplete cells ({cells}): expecting -1 / NaN")
            for name, (values, scale) in ex.data.items():
                if name != "quantile_levels":
                    values[incomplete] = -1 if scale is None else np.nan
        else:
            ex.errors.append(f"{incomplete.size} cells have unwritten seeds (status -1): {cells}; "
                             "the run is incomplete (--allow-partial checks such a file)")
    return ex


# ------------------------------------------------------------------------------------------------
# Comparison


def compare(name, expected, scale, actual):
    """'' when equal, else a one-line description of the first difference."""
    if actual.shape != expected.shape:
        return f"shape {actual.shape}, expected {expected.shape}"
    if scale is None:  # integer counts: exact, and stored as integers
        if actual.dtype.kind not in "iu":
            return f"stored as {actual.dtype}, expected an integer type"
        diff = actual != expected
    else:
        a = actual.astype(np.float64)
        e = expected.astype(np.float64)
        both_nan = np.isnan(a) & np.isnan(e)
        same_inf = np.isinf(a) & np.isinf(e) & (np.sign(a) == np.sign(e))
        finite = np.isfinite(a) & np.isfinite(e)
        with np.errstate(invalid="ignore"):
            delta = np.abs(np.where(finite, a - e, 0))
        tol = RTOL * np.maximum(np.maximum(np.abs(np.where(finite, a, 0)), np.abs(np.where(finite, e, 0))), scale)
        close = finite & (delta <= tol)
        diff = ~(both_nan | same_inf | close)
    if not diff.any():
        return ""
    where = tuple(int(i) for i in np.argwhere(diff)[0])
    return (f"{int(diff.sum())} of {diff.size} values differ; first at {list(where)}: "
            f"file {actual[where]!r}, expected {expected[where]!r}")


def shape_text(shape):
    return " x ".join(map(str, shape)) or "scalar"


def main(argv):
    parser = argparse.ArgumentParser(prog="check_summary.py",
                                     description="Recompute /summary of a specsweep run file and compare.")
    parser.add_argument("run", metavar="RUN.h5")
    parser.add_argument("--allow-partial", action="store_true",
                        help="cells with unwritten seeds must have -1 / NaN statistics "
                             "(default: such cells are an error)")
    args = parser.parse_args(argv[1:])
    path = args.run
    try:
        f = h5py.File(path, "r")
    except (OSError, ValueError) as e:
        print(f"check_summary: cannot open {path}: {e}", file=sys.stderr)
        return 2
    with f:
        required = ["outcome/status", "outcome/hit_step", "outcome/final_loss", "outcome/excess",
                    "outcome/steps_to_tol", "outcome/uniformity_cv", "outcome/order_kendall",
                    "trace/loss", "trace/sv", "target/spectrum"]
        missing = [p for p in required if p not in f]
        if "specsweep_version" not in f.attrs or missing:
            print(f"check_summary: {path} is not a specsweep run file"
                  + (f" (missing /{', /'.join(missing)})" if missing else " (no specsweep_version)"),
                  file=sys.stderr)
            return 2
        if "summary" not in f:
            print(f"check_summary: {path} has no /summary group")
            return 1
        status_shape = f["outcome/status"].shape
        print(f"check_summary: {path}: {status_shape[0]} cells x {status_shape[1]} seeds, "
              f"{f['trace/loss'].shape[1]} traced, {f['trace/step'].shape[0] if 'trace/step' in f else '?'} "
              f"record steps, r = {f['outcome/hit_step'].shape[2]}")
        ex = expected_summary(f, args.allow_partial)
        summary = f["summary"]
        failures = 0
        for name, (values, scale) in ex.data.items():
            if name not in summary:
                print(f"  MISSING  /summary/{name}")
                failures += 1
                continue
            problem = compare(name, values, scale, np.asarray(summary[name][()]))
            if problem:
                print(f"  FAIL     /summary/{name}: {problem}")
                failures += 1
            else:
                print(f"  ok       /summary/{name} ({shape_text(values.shape)})")
        extra = sorted(set(summary) - set(ex.data))
        for name in extra:
            print(f"  (not checked) /summary/{name}")
        for note in ex.notes:
            print(f"  note: {note}")
        for error in ex.errors:
            print(f"  ERROR    {error}")
        failures += len(ex.errors)
    checked = len(ex.data)
    if failures:
        print(f"check_summary: {failures} problem(s) in {checked} datasets")
        return 1
    print(f"check_summary: all {checked} datasets match")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
