#!/usr/bin/env python3
"""Standard figures of a specsweep run file (DESIGN sections 3 and 6).

    specsweep_plot.py RUN.h5 OUTDIR [--log-time] [--cells LIST]

Writes into OUTDIR, as far as the run allows, every file name prefixed with the run file's stem
(RUN.sv_cell0.png for RUN.h5), so that two runs' figures can share a directory:
  RUN.sv_cell<c>.png     sigma_i(W) against step for cell c (at most 16 cells): median, 25-75% and
                         5-95% bands over the traced seeds, dashed lines at the target spectrum s_i.
  RUN.hitting_times.png  median hitting step of each mode (25-75% error bars, seeds that never hit
                         excluded) against s_i, every cell (one panel for up to 4 cells, else one
                         panel per cell, at most 16, the others named in the caption), with the
                         uniform-growth prediction sqrt((1 - delta) s) / lr for constant-rate
                         specgd/muon cells; log-log.
  RUN.loss.png           the traced seeds' relative excess loss (loss - optimum) / (1/2 |M|^2)
                         against step, median and 25-75% band, one panel per cell (at most 16).
  RUN.outcomes.png       per numeric swept axis: median final excess (25-75%), median steps to the
                         loss tolerance (25-75%) and converged fraction (Wilson 95%) against that
                         axis, one line per value combination of the other axes.
  RUN.basin_map.png      fraction of converged seeds over the first two numeric swept axes (one panel
                         per value combination of the other axes, at most 6); needs >= 2 numeric axes.
  RUN.loss_vs_lr.png     median final loss (5-95% band) of the non-diverged seeds against
                         optimizer.lr, one series per combination of the other axes, and the fraction
                         of diverged seeds beneath; for GD cells the stability edge lr = 2/lambda_max
                         of the balanced minimum; needs optimizer.lr to be swept.
  RUN.measures.png       the optional record-step measurements the run recorded, median over the
                         traced seeds against step, one line per cell (at most 8): eta * lambda_max
                         of the Hessian and eta times the curvature along the step taken
                         (record.sharpness_iterations; dashed: GD's edge 2), the orthogonalizer's
                         distance from the exact polar factor per factor (record.orth_error), the
                         recovery error ||W - M|| / ||M|| of a matrix-sensing run, and the spectral
                         entropy of W.
--cells LIST (e.g. 0,3,5 or 2-7) plots only those cells.

Every figure carries a caption (what the lines, markers and bands are, over how many seeds, and
which cells are left out). Where the record steps are more than one step apart and the recorded
loss zigzags, the trajectories are drawn as markers only and the caption says that oscillations
faster than the record spacing are not resolved. For each figure written the script prints one
line "PATH: CAPTION". Exit status 0 on success, 2 when RUN.h5 is not a readable specsweep run file
(damaged, or a dataset of the wrong shape), --cells is not a list of the run's cells or OUTDIR
cannot be created, 3 when writing a figure fails.

Needs numpy, h5py and matplotlib (Agg backend; no display). Reads the singular-value bands from
/summary when the file has them and recomputes what it needs from /outcome and /trace otherwise,
so files written before /summary existed plot too. Large per-seed arrays are read one cell at a
time.
"""
import argparse
import copy
import io
import os
import sys
import textwrap
import warnings
from dataclasses import dataclass, field

import numpy as np

try:
    import tomllib  # Python >= 3.11
except ImportError:  # pragma: no cover
    try:
        import tomli as tomllib
    except ImportError:
        sys.exit("specsweep plot: needs Python 3.11 (tomllib) or the tomli module")

try:
    import h5py
except ImportError:  # pragma: no cover - depends on the machine
    sys.exit("specsweep plot: the Python module h5py is required (Debian: python3-h5py)")
try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter, NullFormatter, NullLocator
    from PIL import Image  # a dependency of matplotlib
except ImportError:  # pragma: no cover
    sys.exit("specsweep plot: the Python module matplotlib is required (Debian: python3-matplotlib)")

MAX_SV_CELLS = 16
MAX_PANELS = 16      # small multiples (loss, hitting times): at most a 4 x 4 grid stays readable
MAX_HIT_OVERLAY = 4  # up to this many cells share one hitting-time panel
MAX_LR_SERIES = 8
MAX_BASIN_PANELS = 6
DPI = 120

# Okabe & Ito's colour-blind-safe palette, strongest contrast on white first.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]  # second cue besides colour, per series


class NotARunFile(Exception):
    pass


class BadCells(Exception):
    """--cells names no cell list of this run."""


# ------------------------------------------------------------------------------------------------
# Loading


@dataclass
class Axis:
    name: str           # dotted config key, e.g. "optimizer.lr"
    values: np.ndarray  # per cell (C): float64 for numeric axes, str otherwise
    numeric: bool


@dataclass
class Run:
    path: str
    stem: str                        # file name without its extension: the figures' prefix
    cells: int                       # C
    seeds: int                       # S
    rank: int                        # r
    axes: list                       # [Axis], in sweep order
    selected: list                   # cells to plot (--cells; all by default), ascending
    lr: np.ndarray                   # (C) optimizer.lr
    hit_tolerance: np.ndarray        # (C) record.hit_tolerance (delta)
    loss_tolerance: np.ndarray       # (C) record.loss_tolerance
    kind: np.ndarray                 # (C) optimizer.kind
    depth: np.ndarray                # (C) problem.depth (L)
    l2: np.ndarray                   # (C) problem.l2
    uniform_theory: np.ndarray       # (C) bool: the sqrt((1-delta) s)/lr prediction applies
    flow: bool                       # rk4 integrator: steps are multiples of dt
    spectrum: np.ndarray             # (C x P) target s_i, NaN padded
    modes: np.ndarray                # (C) min(r, rank M)
    step: np.ndarray                 # (T) record steps
    written: np.ndarray              # (C) seeds written (status >= 0)
    converged: np.ndarray            # (C) seeds converged
    diverged: np.ndarray             # (C) seeds diverged
    converged_fraction: np.ndarray   # (C)
    diverged_fraction: np.ndarray    # (C)
    loss_q: np.ndarray               # (C x 3) final-loss 5/50/95% over non-diverged seeds
    excess_q: np.ndarray             # (C x 3) final relative excess 25/50/75% over non-diverged seeds
    stt_q: np.ndarray                # (C x 3) steps to tolerance 25/50/75% over written seeds (inf: never)
    stt_reached: np.ndarray          # (C) seeds that reached the loss tolerance
    sv_cells: list                   # cells whose sigma bands were loaded
    sv_band: dict                    # cell -> (T x r x 5) quantiles 5/25/50/75/95 over traced seeds
    traced: int                      # K
    traced_n: dict                   # cell -> traced seeds with finite values (loaded cells)
    loss_cells: list                 # cells whose loss traces were loaded
    excess_trace: dict               # cell -> (K x T) relative excess loss of the traced seeds
    loss_is_excess: bool             # False: the optimum is unknown, excess_trace holds the loss
    aliased: dict                    # cell -> (min, max) record spacing when the loss zigzags
    hit_cells: list                  # cells whose hitting times were loaded
    hit_q: dict = field(default_factory=dict)     # cell -> (r x 3) hitting step 25/50/75% (hits only)
    hit_frac: dict = field(default_factory=dict)  # cell -> (r) fraction of seeds that hit


def pick_cells(cells, cap):
    """At most `cap` of the cells (a list, or a count meaning range(count)), spread evenly."""
    cells = list(range(cells)) if isinstance(cells, (int, np.integer)) else list(cells)
    if len(cells) <= cap:
        return cells
    return [cells[i] for i in sorted({int(round(x)) for x in np.linspace(0, len(cells) - 1, cap)})]


def parse_cells(spec, count):
    """--cells "0,3,5" or "2-7" (or both, comma-separated) -> sorted cell indices. Raises BadCells."""
    if spec is None:
        return list(range(count))
    chosen = set()
    for item in spec.split(","):
        first, dash, last = item.strip().partition("-")
        if not dash:
            last = first
        if not (first.isdigit() and last.isdigit()):
            raise BadCells(f"--cells: '{item}' in '{spec}' is not a cell index or a range a-b "
                           "(expected e.g. 0,3,5 or 2-7)")
        lo, hi = int(first), int(last)
        if lo > hi:
            raise BadCells(f"--cells: the range '{item}' runs backwards")
        if hi >= count:
            raise BadCells(f"--cells: cell {hi} does not exist; the run has {count} cell"
                           f"{'s' * (count != 1)} (0-{count - 1})")
        chosen.update(range(lo, hi + 1))
    return sorted(chosen)


def _read_strings(ds):
    return np.array([str(v) for v in ds.asstr()[()]], dtype=object)


def _set_dotted(table, key, value):
    parts = key.split(".")
    for p in parts[:-1]:
        table = table.setdefault(p, {})
    table[parts[-1]] = value


def _get_dotted(table, key, default=None):
    for p in key.split("."):
        if not isinstance(table, dict) or p not in table:
            return default
        table = table[p]
    return table


def _flatten_sweep(table, prefix=""):
    """[sweep] with dotted keys written as nested tables ([sweep.optimizer] lr = ...) flattened to
    {"optimizer.lr": axis}; an inline table with linspace/logspace/count is an axis, not a namespace."""
    out = {}
    for k, v in table.items():
        key = prefix + k
        if isinstance(v, dict) and not ({"linspace", "logspace", "count"} & set(v)):
            out.update(_flatten_sweep(v, key + "."))
        else:
            out[key] = v
    return out


def _axis_values(spec):
    """Values of a [sweep] axis: a list, or { linspace | logspace = [a, b], count = N }."""
    if isinstance(spec, list):
        return spec
    if isinstance(spec, dict) and "count" in spec:
        for kind, fn in (("linspace", np.linspace), ("logspace", np.geomspace)):
            if kind in spec and len(spec[kind]) == 2:
                return [float(x) for x in fn(spec[kind][0], spec[kind][1], int(spec["count"]))]
    return []


def _read_axes(f, root_config, cells):
    """Swept axes in sweep order: /cells/<axis> (ordered by /cells@axes, else as in the root
    config's [sweep] table),
    or, for files without /cells, the cartesian product of the [sweep] lists (last axis fastest)."""
    sweep = _flatten_sweep(root_config.get("sweep", {}) if isinstance(root_config, dict) else {})
    axes = []
    if "cells" in f:
        group = f["cells"]
        order = [str(a.decode() if isinstance(a, bytes) else a) for a in group.attrs.get("axes", [])]
        # The swept axes: those /cells@axes lists, else every dataset but config and the
        # dimension scales added for netCDF readers (/cells/cell, the cell index).
        names = [k for k in group if isinstance(group[k], h5py.Dataset) and k != "config"
                 and (k in order if order else
                      group[k].attrs.get("CLASS", b"") not in (b"DIMENSION_SCALE", "DIMENSION_SCALE"))]
        order = order or list(sweep)
        names.sort(key=lambda k: (order.index(k) if k in order else len(order), k))
        for name in names:
            ds = group[name]
            if ds.shape != (cells,):
                continue
            if ds.dtype.kind in "fiu":
                axes.append(Axis(name, np.asarray(ds[()], dtype=np.float64), True))
            else:
                axes.append(Axis(name, _read_strings(ds), False))
        return axes
    lists = [(k, _axis_values(v)) for k, v in sweep.items()]
    lists = [(k, v) for k, v in lists if v]
    if not lists or int(np.prod([len(v) for _, v in lists])) != cells:
        return []
    index = np.indices([len(v) for _, v in lists]).reshape(len(lists), -1)
    for (name, values), idx in zip(lists, index):
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        col = [values[i] for i in idx]
        if numeric:
            axes.append(Axis(name, np.asarray(col, dtype=np.float64), True))
        else:
            axes.append(Axis(name, np.array([str(v).lower() if isinstance(v, bool) else str(v)
                                             for v in col], dtype=object), False))
    return axes


def _cell_configs(f, root_config, axes, cells):
    """Resolved config of every cell: /cells/config, else the root config with the cell's axis
    values put in."""
    if "cells" in f and "config" in f["cells"]:
        texts = _read_strings(f["cells/config"])
        try:
            if len(texts) == cells:
                return [tomllib.loads(t) for t in texts]
        except tomllib.TOMLDecodeError as e:
            print(f"specsweep plot: /cells/config does not parse ({e}); using the root config",
                  file=sys.stderr)
    configs = []
    for c in range(cells):
        cfg = copy.deepcopy({k: v for k, v in root_config.items() if k != "sweep"})
        for ax in axes:
            _set_dotted(cfg, ax.name, float(ax.values[c]) if ax.numeric else ax.values[c])
        configs.append(cfg)
    return configs


def _nanquantile(a, q, axis):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanquantile(a, q, axis=axis)


def _summary_levels(f):
    """Indices of the 5/25/50/75/95% levels in /summary/quantile_levels (None if absent)."""
    if "summary/quantile_levels" not in f:
        return None
    levels = np.asarray(f["summary/quantile_levels"][()], dtype=float)
    idx = []
    for q in (0.05, 0.25, 0.5, 0.75, 0.95):
        hits = np.flatnonzero(np.isclose(levels, q))
        if len(hits) == 0:
            return None
        idx.append(int(hits[0]))
    return idx


def _check_shapes(path, f):
    """Raises NotARunFile unless every dataset the figures read has the shape of DESIGN section 6
    (C cells, S seeds, r modes, K traced seeds, T record steps, Q quantile levels): a damaged or
    foreign file must be reported, not fail in the middle of indexing it."""
    sizes = {}

    def check(name, dims):
        if name not in f:
            return
        ds = f[name]
        if not isinstance(ds, h5py.Dataset):
            raise NotARunFile(f"{path}: /{name} is not a dataset")
        if len(ds.shape) != len(dims):
            raise NotARunFile(f"{path}: /{name} has shape {ds.shape}, expected "
                              f"({' x '.join(dims)})")
        for dim, size in zip(dims, ds.shape):
            if dim.isdigit() and size != int(dim) or sizes.setdefault(dim, size) != size:
                raise NotARunFile(f"{path}: /{name} has shape {ds.shape}, expected "
                                  f"({' x '.join(dims)}) with " + ", ".join(
                                      f"{d} = {sizes[d]}" for d in dims if d in sizes))

    check("outcome/status", ("C", "S"))
    check("outcome/hit_step", ("C", "S", "r"))
    check("outcome/final_loss", ("C", "S"))
    check("outcome/excess", ("C", "S"))
    check("outcome/steps_to_tol", ("C", "S"))
    check("target/spectrum", ("C", "P"))
    check("trace/step", ("T",))
    check("trace/sv", ("C", "K", "T", "r"))
    check("trace/loss", ("C", "K", "T"))
    check("summary/quantile_levels", ("Q",))
    check("summary/status_fraction", ("C", "4"))
    check("summary/sv_band", ("C", "T", "r", "Q"))


def load_run(path, cells_spec=None):
    """Reads what the figures need into plain numpy arrays. Raises NotARunFile, BadCells."""
    try:
        f = h5py.File(path, "r")
    except (OSError, ValueError) as e:
        raise NotARunFile(f"cannot open {path} as HDF5 ({e})")
    with f:
        try:
            if "specsweep_version" not in f.attrs or "outcome/status" not in f:
                raise NotARunFile(f"{path} is not a specsweep run file "
                                  "(no specsweep_version attribute or no /outcome/status)")
            _check_shapes(path, f)
            selected = parse_cells(cells_spec, f["outcome/status"].shape[0])
            return _load(path, f, selected)
        except (OSError, KeyError, ValueError, TypeError, IndexError, RuntimeError) as e:
            # h5py raises these for damaged metadata or chunks (a failed checksum or inflate).
            raise NotARunFile(f"{path}: cannot read the run file, it is damaged ({e})")


def _quantiles_censored(values, never, levels):
    """Quantiles (linear interpolation) of step counts where `never` marks +inf: an interpolation
    that reaches into the never-seeds is +inf ("never"), as in /summary."""
    v = np.where(never, 1e300, values.astype(float))
    q = np.quantile(v, levels)
    return np.where(q >= 1e299, np.inf, q)


def find_aliasing(step, traces, floor):
    """(min, max) record spacing when the recorded trajectories cannot resolve the dynamics, else
    None. traces: K x T (one row per traced seed). A trajectory is aliased when the record steps
    are more than one step apart and its recorded values zigzag: of the changes between
    consecutive record steps that are larger than 1% of the value (with the value above `floor`),
    consecutive ones alternate in sign at least 3 times in a row, or at half or more of the pairs
    (with at least 3 alternations); smaller changes are passed over, as two samples of a period-2
    oscillation at steps of the same parity barely differ. Step-to-step oscillation (GD beyond its
    stability edge, Muon or SpecGD at a constant rate) sampled every k > 1 steps shows as such a
    zigzag, or as a slow wave that is not the dynamics."""
    gaps = np.diff(step)
    if len(gaps) < 3 or not (gaps > 1).any():
        return None
    for v in np.asarray(traces, dtype=float):
        d = np.diff(v)
        with np.errstate(invalid="ignore"):
            big = np.isfinite(d) & (np.abs(d) > 0.01 * np.fmax(np.abs(v[:-1]), np.abs(v[1:]))) \
                & (np.fmax(v[:-1], v[1:]) > floor)
        where = np.flatnonzero(big)  # the significant changes, in order
        if len(where) < 4:
            continue
        sign = np.sign(d[where])
        coarse = (gaps[where[:-1]] > 1) | (gaps[where[1:]] > 1)
        alt = coarse & (sign[:-1] * sign[1:] < 0)
        n_alt, n_pair = int(alt.sum()), int(coarse.sum())
        run = longest = 0
        for a in alt:
            run = run + 1 if a else 0
            longest = max(longest, run)
        if n_alt >= 3 and (longest >= 3 or n_alt >= 0.5 * n_pair):
            wide = gaps[gaps > 1]
            return int(wide.min()), int(wide.max())
    return None


def _optimum(spectrum, rank, l2, final_loss, excess, norm, weighted=False):
    """The smallest loss a rank-r product reaches (REFERENCE section 1): without l2 the tail
    1/2 sum_{i>r} s_i^2; with l2 (or a weighted loss) the value the run's own excess implies, median
    over seeds of final_loss - excess * norm (NaN when the file has no excess)."""
    s = spectrum[np.isfinite(spectrum)]
    if l2 == 0 and rank > 0 and not weighted:
        return 0.5 * float(np.sum(s[int(rank):] ** 2))
    if final_loss is None or excess is None:
        return np.nan
    implied = final_loss - excess * norm
    implied = implied[np.isfinite(implied)]
    return float(np.median(implied)) if implied.size else np.nan


def _load(path, f, selected):
    """load_run's reading, of a file whose shapes were checked."""
    status_ds = f["outcome/status"]
    cells, seeds = status_ds.shape
    rank = f["outcome/hit_step"].shape[2] if "outcome/hit_step" in f else 0
    try:
        root_config = tomllib.loads(str(f.attrs.get("config", "")))
    except tomllib.TOMLDecodeError:
        root_config = {}
    axes = _read_axes(f, root_config, cells)
    configs = _cell_configs(f, root_config, axes, cells)

    def per_cell(key, default):
        return [_get_dotted(cfg, key, default) for cfg in configs]

    lr = np.array(per_cell("optimizer.lr", np.nan), dtype=float)
    delta = np.array(per_cell("record.hit_tolerance", 0.05), dtype=float)
    loss_tol = np.array(per_cell("record.loss_tolerance", 1e-6), dtype=float)
    kind = np.array([str(k) for k in per_cell("optimizer.kind", "?")], dtype=object)
    depth = np.array(per_cell("problem.depth", 2), dtype=float)
    l2 = np.array(per_cell("problem.l2", 0.0), dtype=float)
    rank_c = np.array(per_cell("problem.rank", rank), dtype=float)
    schedule = np.array([str(k) for k in per_cell("optimizer.schedule.kind", "constant")])
    uniform = np.isin(kind, ["specgd", "muon"]) & (schedule == "constant")
    flow = any(str(v) == "rk4" for v in per_cell("optimizer.integrator", "step"))

    spectrum = np.asarray(f["target/spectrum"][()], dtype=float) if "target/spectrum" in f \
        else np.full((cells, rank), np.nan)
    modes = np.minimum(rank, np.isfinite(spectrum).sum(axis=1)).astype(int)
    norm = 0.5 * np.nansum(spectrum ** 2, axis=1)  # 1/2 |M|_F^2: the loss at W = 0
    # problem.kind = "icl" weighs the loss, 1/2 <W - M, A (W - M) B> (REFERENCE section 1): its value
    # at W = 0 is 1/2 <M, A M B>, and its optimum below full rank is not the tail of M's spectrum,
    # so it is read from the run's own excess as for l2 (weighted).
    weighted = "target/row_weight" in f and f["target/row_weight"].shape[1] > 0
    if weighted:
        for c in range(cells):
            A, B = f["target/row_weight"][c], f["target/col_weight"][c]
            M = np.asarray(f["target/M"][c], dtype=float)
            norm[c] = 0.5 * float(np.sum(M * (A @ M @ B)))
    # problem.kind = "sensing": the loss at W = 0 is 1/2 sum_i <A_i, M>^2 (its optimum is 0).
    if "target/sensing" in f and f["target/sensing"].shape[1] > 0:
        for c in range(cells):
            A = np.asarray(f["target/sensing"][c], dtype=float)  # p x m x n, NaN beyond the cell's
            M = np.asarray(f["target/M"][c], dtype=float)
            y = np.einsum("kij,ij->k", A, M)
            norm[c] = 0.5 * float(np.nansum(y ** 2))
    step = np.asarray(f["trace/step"][()], dtype=float) if "trace/step" in f else np.zeros(0)
    levels = _summary_levels(f) if "summary" in f else None

    # Status counts, final-loss, excess and steps-to-tolerance quantiles, one cell at a time (seeds
    # may be millions).
    written, conv, div, reached = (np.zeros(cells, dtype=int) for _ in range(4))
    loss_q, excess_q, stt_q = (np.full((cells, 3), np.nan) for _ in range(3))
    optimum = np.full(cells, np.nan)
    has_loss, has_excess = "outcome/final_loss" in f, "outcome/excess" in f
    for c in selected:
        st = status_ds[c]
        ok = st >= 0
        written[c] = int(ok.sum())
        conv[c] = int(np.count_nonzero(st == 0))
        div[c] = int(np.count_nonzero(st == 2))
        alive = ok & (st != 2)
        fl = np.asarray(f["outcome/final_loss"][c], dtype=float) if has_loss else None
        ex = np.asarray(f["outcome/excess"][c], dtype=float) if has_excess else None
        optimum[c] = _optimum(spectrum[c], rank_c[c], l2[c], fl, ex, norm[c], weighted)
        if fl is not None:
            keep = alive & np.isfinite(fl)
            if keep.any():
                loss_q[c] = np.quantile(fl[keep], [0.05, 0.5, 0.95])
            if ex is None and np.isfinite(optimum[c]) and norm[c] > 0:
                ex = (fl - optimum[c]) / norm[c]
        if ex is not None:
            keep = alive & np.isfinite(ex)
            if keep.any():
                excess_q[c] = np.quantile(ex[keep], [0.25, 0.5, 0.75])
        if "outcome/steps_to_tol" in f and written[c] > 0:
            t = np.asarray(f["outcome/steps_to_tol"][c], dtype=float)[ok]
            stt_q[c] = _quantiles_censored(t, t < 0, [0.25, 0.5, 0.75])
            reached[c] = int(np.count_nonzero(t >= 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        conv_frac = np.where(written > 0, conv / np.maximum(written, 1), np.nan)
        div_frac = np.where(written > 0, div / np.maximum(written, 1), np.nan)

    # The traced seeds' loss (as relative excess where the optimum is known) of the cells drawn
    # against step, and whether their record spacing resolves the dynamics.
    traced = f["trace/sv"].shape[1] if "trace/sv" in f else \
        (f["trace/loss"].shape[1] if "trace/loss" in f else 0)
    sv_cells = pick_cells(selected, MAX_SV_CELLS)
    loss_cells = pick_cells(selected, MAX_PANELS) if traced and "trace/loss" in f else []
    loss_is_excess = bool(np.isfinite(optimum[loss_cells]).all() and (norm[loss_cells] > 0).all())
    excess_trace, aliased, traced_n = {}, {}, {}
    for c in sorted(set(loss_cells) | (set(sv_cells) if "trace/loss" in f else set())):
        loss = np.asarray(f["trace/loss"][c], dtype=float)  # K x T
        if loss_is_excess:
            loss = (loss - optimum[c]) / norm[c]
        excess_trace[c] = loss
        traced_n[c] = int(np.isfinite(loss).any(axis=1).sum())
        found = find_aliasing(step, loss, loss_tol[c] if loss_is_excess else 0.0)
        if found:
            aliased[c] = found

    # sigma_i bands of the plotted cells.
    sv_band = {}
    for c in sv_cells:
        sv = np.asarray(f["trace/sv"][c], dtype=float) if traced > 0 and "trace/sv" in f \
            else None  # K x T x r
        if sv is not None:
            traced_n[c] = int(np.isfinite(sv.reshape(sv.shape[0], -1)).any(axis=1).sum())
        if levels is not None and "summary/sv_band" in f:
            sv_band[c] = np.asarray(f["summary/sv_band"][c], dtype=float)[..., levels]
        if sv is not None and not np.isfinite(sv_band.get(c, np.nan)).any():  # no summary (yet)
            sv_band[c] = np.moveaxis(_nanquantile(sv, [0.05, 0.25, 0.5, 0.75, 0.95], 0), 0, -1)

    # Hitting times of the plotted cells (seeds that never hit excluded).
    hit_cells = pick_cells(selected, MAX_PANELS) if rank and "outcome/hit_step" in f else []
    hit_q, hit_frac = {}, {}
    for c in hit_cells:
        h = np.asarray(f["outcome/hit_step"][c], dtype=float)  # S x r
        n = max(int(written[c]), 1)
        q = np.full((rank, 3), np.nan)
        hf = np.zeros(rank)
        for i in range(modes[c]):
            hits = h[:, i][h[:, i] >= 0]
            hf[i] = len(hits) / n
            if len(hits):
                q[i] = np.quantile(hits, [0.25, 0.5, 0.75])
        hit_q[c], hit_frac[c] = q, hf

    stem = os.path.basename(path)
    stem = os.path.splitext(stem)[0] or stem
    return Run(path=path, stem=stem, cells=cells, seeds=seeds, rank=rank, axes=axes,
               selected=list(selected), lr=lr, hit_tolerance=delta, loss_tolerance=loss_tol,
               kind=kind, depth=depth, l2=l2, uniform_theory=uniform, flow=flow,
               spectrum=spectrum, modes=modes, step=step, written=written, converged=conv,
               diverged=div, converged_fraction=conv_frac, diverged_fraction=div_frac,
               loss_q=loss_q, excess_q=excess_q, stt_q=stt_q, stt_reached=reached, sv_cells=sv_cells,
               sv_band=sv_band, traced=traced, traced_n=traced_n, loss_cells=loss_cells,
               excess_trace=excess_trace, loss_is_excess=loss_is_excess, aliased=aliased,
               hit_cells=hit_cells, hit_q=hit_q, hit_frac=hit_frac)


# ------------------------------------------------------------------------------------------------
# Labels and scales


def short_names(axes):
    """Last component of each axis key ("optimizer.lr" -> "lr") unless that would be ambiguous."""
    tails = [a.name.split(".")[-1] for a in axes]
    return {a.name: (t if tails.count(t) == 1 else a.name) for a, t in zip(axes, tails)}


def fmt_value(v, numeric):
    return f"{v:.3g}" if numeric else str(v)


def cell_title(run, c):
    return f"cell {c}: {cell_label(run, c)}" if run.axes else f"cell {c}"


def cell_label(run, c, skip=()):
    names = short_names(run.axes)
    parts = [f"{names[a.name]}={fmt_value(a.values[c], a.numeric)}"
             for a in run.axes if a.name not in skip]
    return ", ".join(parts) if parts else f"cell {c}"


def group_cells(run, axes):
    """[(values of `axes`, [cells])] of the selected cells, in order of first appearance."""
    groups = {}
    for c in run.selected:
        groups.setdefault(tuple(a.values[c] for a in axes), []).append(c)
    return list(groups.items())


def plural(n, word):
    return f"{n} {word}{'s' * (n != 1)}"


def fmt_cells(cells):
    """[0, 1, 2, 5, 7, 8] -> "0–2, 5, 7–8"."""
    cells = sorted(cells)
    parts, i = [], 0
    while i < len(cells):
        j = i
        while j + 1 < len(cells) and cells[j + 1] == cells[j] + 1:
            j += 1
        parts.append(str(cells[i]) if i == j else f"{cells[i]}–{cells[j]}")
        i = j + 1
    return ", ".join(parts)


def left_out_note(shown, selected, what="cells"):
    """'' when every selected cell is shown, else which are shown and which are left out."""
    rest = sorted(set(selected) - set(shown))
    if not rest:
        return ""
    return (f" Shown: {what} {fmt_cells(shown)} ({len(shown)} of {len(selected)}); left out: "
            f"{fmt_cells(rest)} (plot them with --cells).")


def outcome_note(run, c):
    """What happened to a cell's seeds: 'converged 5/8, diverged 3/8'."""
    n = int(run.written[c])
    if n == 0:
        return "no seed written yet"
    return f"converged {run.converged[c]}/{n}, diverged {run.diverged[c]}/{n}"


def traced_phrase(k):
    """The line and band of k traced seeds, counted right."""
    if k == 1:
        return "the one traced seed (no band)"
    return f"median of {k} traced seeds"


def aliasing_warning(spacing):
    lo, hi = spacing
    k = f"{lo}" if lo == hi else f"{lo}–{hi}"
    return (f"record spacing {k} steps: oscillations faster than that are not resolved "
            "(markers only, not joined)")


def is_log_spaced(values):
    """Positive values spanning a decade or more, or in geometric progression."""
    v = np.unique(np.asarray(values, dtype=float))
    if len(v) < 2 or v[0] <= 0:
        return False
    if v[-1] / v[0] >= 10:
        return True
    if len(v) >= 3:
        ld, d = np.diff(np.log(v)), np.diff(v)
        return np.allclose(ld, ld[0], rtol=1e-3) and not np.allclose(d, d[0], rtol=1e-3)
    return False


def mode_colors(r):
    if r <= len(PALETTE):
        return PALETTE[:r]
    return [plt.cm.viridis(x) for x in np.linspace(0.0, 0.92, r)]


def plain_log_ticks(axis):
    """Plain numbers (0.01, 200) instead of 10^k / 2x10^2 on a log axis; minor ticks 2, 3, 5 x 10^k
    are labelled too when the axis spans less than two decades."""
    fmt = FuncFormatter(lambda v, _: f"{v:g}")
    axis.set_major_formatter(fmt)
    lo, hi = axis.get_view_interval()
    def minor(v, _):
        mantissa = round(v / 10 ** np.floor(np.log10(v))) if v > 0 else 0
        return f"{v:g}" if mantissa in (2, 3, 5) else ""
    if lo > 0 and hi / lo < 10:  # under a decade: too few majors, every minor tick is labelled
        axis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    else:
        axis.set_minor_formatter(FuncFormatter(minor) if lo > 0 and hi / lo < 100 else NullFormatter())


def value_ticks(axis, values, log):
    """Ticks exactly at the swept values."""
    axis.set_ticks(values)
    axis.set_ticklabels([f"{v:.3g}" for v in values])
    if log:
        axis.set_minor_locator(NullLocator())


def step_label(run):
    return "step  (time = step × dt)" if run.flow else "step"


def save(fig, run, outdir, name, caption, written):
    """Writes the figure, with its caption beneath, as OUTDIR/<run stem>.<name>: a 256-colour PNG (a
    third of the size of full colour; line art loses nothing visible). Appends (path, caption)."""
    path = os.path.join(outdir, f"{run.stem}.{name}")
    if len(run.selected) < run.cells:
        caption += f" Selected with --cells: {fmt_cells(run.selected)} of the run's {run.cells} cells."
    caption = " ".join(caption.split())
    width = fig.get_size_inches()[0]
    fig.text(0.005, -0.01, textwrap.fill(caption, max(60, int(width * 15.5))), ha="left", va="top",
             fontsize=8, color="0.2", transform=fig.transFigure)
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=DPI, format="png", bbox_inches="tight", pad_inches=0.1)
    plt.close(fig)
    buffer.seek(0)
    with Image.open(buffer) as image:
        image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                                      dither=Image.Dither.NONE).save(path, optimize=True)
    written.append((path, caption))


# ------------------------------------------------------------------------------------------------
# Figures


def _draw_points(ax, x, mid, lo, hi, color, marker="o", ms=3.5, bars=True, **kw):
    """An aliased trajectory: markers at the record steps, not joined (a line between samples
    would draw dynamics the record cannot resolve), 25-75% as bars."""
    if bars and lo is not None:
        ax.errorbar(x, mid, yerr=[np.clip(mid - lo, 0, None), np.clip(hi - mid, 0, None)],
                    fmt=marker, ms=ms, color=color, lw=0.7, capsize=0, **kw)
    else:
        ax.plot(x, mid, ls="", marker=marker, ms=ms, color=color, **kw)


def plot_sv(run, c, outdir, log_time, written):
    band = run.sv_band.get(c)
    if band is None or band.size == 0 or not np.isfinite(band).any():
        return
    steps = run.step
    keep = steps >= 1 if log_time else np.ones_like(steps, dtype=bool)
    x = steps[keep]
    band = band[keep]
    r = band.shape[1]
    many = r > 10  # too many modes to list: a colour bar, no 5-95% bands, thinner lines
    s = run.spectrum[c][: run.modes[c]]
    colors = mode_colors(r)
    k = run.traced_n.get(c, run.traced)
    alias = run.aliased.get(c)

    fig, ax = plt.subplots(figsize=(7.2, 4.6), layout="constrained")
    for i in range(r):
        col = colors[i]
        label = rf"$\sigma_{{{i + 1}}}$" + (rf"  ($s_{{{i + 1}}}$ = {s[i]:.3g})" if i < len(s) else "")
        if alias:
            _draw_points(ax, x, band[:, i, 2], band[:, i, 1], band[:, i, 3], col,
                         ms=2.0 if many else 3.0, bars=not many, label=label)
        else:
            if not many:
                ax.fill_between(x, band[:, i, 0], band[:, i, 4], color=col, alpha=0.12, lw=0)
            ax.fill_between(x, band[:, i, 1], band[:, i, 3], color=col, alpha=0.30, lw=0)
            ax.plot(x, band[:, i, 2], color=col, lw=1.1 if many else 1.6, label=label)
        if i < len(s):
            ax.axhline(s[i], color=col, ls="--", lw=0.7 if many else 1.0, alpha=0.85)

    finite = band[np.isfinite(band)]
    positive = finite[finite > 0]
    spread = np.nanmax(s) / np.nanmin(s) if len(s) and np.nanmin(s) > 0 else 1.0
    above = positive.max() / np.nanmax(s) if len(s) and positive.size else 0.0
    if spread > 20 or above > 3:
        # Targets spanning decades, or sigma far above them: a log axis keeps both the targets and
        # the escaping curves readable. The bottom stays within 4 decades of the smallest target.
        ax.set_yscale("log")
        floor = np.nanmin(s) * 1e-4 if len(s) else positive.min()
        ax.set_ylim(max(positive.min(), floor) / 1.5 if positive.size else floor, None)
    if above > 3:
        # Say what happened in this cell: sigma above the targets is not divergence by itself.
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo, hi * 4)  # headroom for the note
        ax.text(0.01, 0.98, rf"$\sigma_i$ up to {above:.3g}× the largest target (log scale)"
                f"\nthis cell: {outcome_note(run, c)}",
                transform=ax.transAxes, ha="left", va="top", fontsize=8,
                color="#D55E00" if run.diverged[c] else "0.25")
    if log_time:
        ax.set_xscale("log")
        plain_log_ticks(ax.xaxis)
    ax.set_xlabel(step_label(run))
    ax.set_ylabel(r"singular value $\sigma_i(W)$")
    ax.set_title(f"Singular values of W — {cell_title(run, c)}", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)

    what = traced_phrase(k)
    if alias:
        caption = (f"Markers: {what} at each record step"
                   + ("" if many or k == 1 else "; bars: 25–75% over the traced seeds")
                   + r"; dashed: target s_i. Warning: " + aliasing_warning(alias) + ".")
    elif k == 1:
        caption = f"Lines: {what}; dashed: target s_i."
    else:
        caption = (f"Lines: {what}; bands: 25–75%" + ("" if many else " and 5–95%")
                   + r" over the traced seeds; dashed: target s_i.")
    caption += f" Cell {c}, all {run.written[c]} seeds: {outcome_note(run, c)}."
    if many:
        sm = plt.cm.ScalarMappable(cmap=ListedColormap(colors), norm=plt.Normalize(0.5, r + 0.5))
        fig.colorbar(sm, ax=ax, label="mode i (1 = largest)", pad=0.01, aspect=30)
        save(fig, run, outdir, f"sv_cell{c}.png", caption, written)
        return
    # One legend outside the axes: the modes, then what line, bands and dashes mean.
    if alias:
        key = [Line2D([], [], color="0.3", marker="o", ms=3, ls="", label=what),
               Line2D([], [], color="0.3", lw=0.7, label="25–75%")]
    else:
        key = [Line2D([], [], color="0.3", lw=1.6, label=what)]
        if k > 1:
            key += [Patch(color="0.3", alpha=0.45, label="25–75%"),
                    Patch(color="0.3", alpha=0.15, label="5–95%")]
    key.append(Line2D([], [], color="0.3", ls="--", lw=1.0, label=r"target $s_i$"))
    handles, labels = ax.get_legend_handles_labels()
    handles += [Line2D([], [], ls="")] + key
    labels += [""] + [h.get_label() for h in key]
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8,
              frameon=False)
    save(fig, run, outdir, f"sv_cell{c}.png", caption, written)


def _hit_panel(ax, run, cells, overlay):
    """Draws the hitting times of `cells` into one axes. Returns (theory drawn, open markers drawn)."""
    theory_drawn = partial_drawn = False
    n = len(cells)
    for j, c in enumerate(cells):
        col, marker = (PALETTE[j % len(PALETTE)], MARKERS[j % len(MARKERS)]) if overlay \
            else (PALETTE[0], MARKERS[0])
        m = run.modes[c]
        s = run.spectrum[c][:m]
        q = run.hit_q[c][:m]
        frac = run.hit_frac[c][:m]
        ok = np.isfinite(q[:, 1]) & (s > 0)
        jitter = 1.0 + 0.02 * (j - (n - 1) / 2)  # keep overlapping error bars apart
        never = int(np.count_nonzero(frac == 0))
        label = cell_label(run, c) + (f"  ({plural(never, 'mode')} never hit)" if never else "")
        full, part = ok & (frac >= 0.5), ok & (frac < 0.5)
        for sel, face in ((full, col), (part, "white")):
            if sel.any():
                ax.errorbar(s[sel] * jitter, q[sel, 1],
                            yerr=[q[sel, 1] - q[sel, 0], q[sel, 2] - q[sel, 1]],
                            fmt=marker, ms=5 if overlay else 3.5, color=col, mfc=face, mew=1.2,
                            capsize=3 if overlay else 1.5, lw=1.2 if overlay else 0.9, label=label)
                label = None
        partial_drawn |= bool(part.any())
        if run.uniform_theory[c] and np.isfinite(run.lr[c]) and run.lr[c] > 0 and (s > 0).any():
            grid = np.geomspace(s[s > 0].min(), s.max(), 50)
            ax.plot(grid, np.sqrt((1 - run.hit_tolerance[c]) * grid) / run.lr[c], color=col,
                    ls="--", lw=1.0, alpha=0.9)
            theory_drawn = True
        if not overlay:
            ax.set_title(f"cell {c}: {cell_label(run, c)}"
                         + (f"\n{plural(never, 'mode')} of {m} never hit" if never else ""),
                         fontsize=8)
    return theory_drawn, partial_drawn


def plot_hitting_times(run, outdir, written):
    cells = [c for c in run.hit_cells if np.isfinite(run.hit_q[c]).any()]
    if not cells:
        return
    no_hits = [c for c in run.hit_cells if c not in cells]
    overlay = len(cells) <= MAX_HIT_OVERLAY
    ylabel = r"hitting step: first $d_i \geq (1-\delta)\,s_i$"
    xlabel = r"target singular value $s_i$"
    if overlay:
        fig, ax = plt.subplots(figsize=(7.2, 5.6), layout="constrained")
        axs = [ax]
        theory_drawn, partial_drawn = _hit_panel(ax, run, cells, True)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    else:
        ncol = min(4, len(cells))
        nrow = int(np.ceil(len(cells) / ncol))
        fig, grid = plt.subplots(nrow, ncol, figsize=(1.0 + 2.9 * ncol, 1.2 + 2.3 * nrow),
                                 layout="constrained", squeeze=False, sharex=True, sharey=True)
        axs = list(grid.flat)[: len(cells)]
        theory_drawn = partial_drawn = False
        for ax, c in zip(axs, cells):
            t, p = _hit_panel(ax, run, [c], False)
            theory_drawn |= t
            partial_drawn |= p
        for ax in list(grid.flat)[len(cells):]:
            ax.set_visible(False)
        fig.supxlabel(xlabel, fontsize=9)
        fig.supylabel(ylabel, fontsize=9)
    for ax in axs:
        ax.set_xscale("log")
        ax.set_yscale("log")
        plain_log_ticks(ax.xaxis)
        plain_log_ticks(ax.yaxis)
        ax.grid(True, which="both" if overlay else "major", alpha=0.25)
    title = "Mode hitting times: median over the seeds that hit, bars 25–75%"
    handles, labels = axs[0].get_legend_handles_labels() if overlay else ([], [])
    if theory_drawn:
        handles.append(Line2D([], [], color="0.3", ls="--", lw=1.0))
        labels.append(r"theory $\sqrt{(1-\delta)\,s}\,/\,\mathrm{lr}$ (specgd/muon, constant lr)")
    if partial_drawn:
        handles.append(Line2D([], [], marker="o", ls="", color="0.3", mfc="white"))
        labels.append("open marker: fewer than half of the seeds hit")
    if overlay:
        axs[0].set_title(title, fontsize=10)
        if handles:
            axs[0].legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.12),
                          ncols=2, fontsize=8, frameon=False)
    else:  # the caption says what dashes and open markers are
        fig.suptitle(title, fontsize=10)
    seeds = sorted({int(run.written[c]) for c in cells})
    per = plural(seeds[0], "seed") if len(seeds) == 1 else f"{seeds[0]}–{seeds[-1]} seeds"
    caption = (f"Markers: median hitting step of each mode over the seeds that hit it (of {per} "
               "per cell); bars: 25–75% of those seeds."
               + (" Open markers: fewer than half of the seeds hit." if partial_drawn else ""))
    if theory_drawn:
        caption += " Dashed: uniform-growth theory sqrt((1−δ)s)/lr."
    caption += left_out_note(run.hit_cells, run.selected)
    if no_hits:
        caption += (f" {'Cells' if len(no_hits) > 1 else 'Cell'} {fmt_cells(no_hits)}: no seed "
                    "hit any mode (not drawn).")
    save(fig, run, outdir, "hitting_times.png", caption, written)


def plot_loss(run, outdir, log_time, written):
    cells = [c for c in run.loss_cells if c in run.excess_trace
             and np.isfinite(run.excess_trace[c]).any()]
    if not cells:
        return
    steps = run.step
    keep = steps >= 1 if log_time else np.ones_like(steps, dtype=bool)
    x = steps[keep]
    ncol = min(4, len(cells))
    nrow = int(np.ceil(len(cells) / ncol))
    single = len(cells) == 1
    fig, grid = plt.subplots(nrow, ncol, figsize=(7.2, 4.6) if single else
                             (1.0 + 2.9 * ncol, 1.2 + 2.3 * nrow),
                             layout="constrained", squeeze=False, sharex=True)
    counts, aliased_cells, nonpositive = set(), [], False
    ranges = {}  # cell -> (low, high) of what its panel draws
    for ax, c in zip(grid.flat, cells):
        v = run.excess_trace[c][:, keep]  # K x T
        if run.loss_is_excess:
            nonpositive |= bool((v[np.isfinite(v)] <= 0).any())
            v = np.where(v > 0, v, np.nan)  # at or below the optimum: rounding, not drawable
        k = run.traced_n.get(c, v.shape[0])
        counts.add(k)
        q = _nanquantile(v, [0.25, 0.5, 0.75], 0)  # 3 x T
        drawn = q[np.isfinite(q) & (q > 0)]
        if drawn.size:
            ranges[c] = (drawn.min(), drawn.max(), q[1][np.isfinite(q[1])][:1])
        alias = run.aliased.get(c)
        if alias:
            aliased_cells.append(c)
            _draw_points(ax, x, q[1], q[0], q[2], PALETTE[3], ms=3.0)
        else:
            ax.fill_between(x, q[0], q[2], color=PALETTE[0], alpha=0.3, lw=0)
            ax.plot(x, q[1], color=PALETTE[0], lw=1.5)
        ax.set_yscale("log")
        if log_time:
            ax.set_xscale("log")
            plain_log_ticks(ax.xaxis)
        ax.grid(True, which="major", alpha=0.3)
        head = f"cell {c}: {cell_label(run, c)}" if run.axes else f"cell {c}"
        ax.set_title(f"{head}\n{outcome_note(run, c)}" + ("; record too coarse" if alias else ""),
                     fontsize=8 if not single else 9,
                     color="#D55E00" if alias else "black")
    for ax in list(grid.flat)[len(cells):]:
        ax.set_visible(False)
    # One y range for all panels, but for panels that blow up (the loss grows over 1000-fold from
    # its start, as in divergence): they keep their own, or they would flatten the others.
    blown = [c for c, (lo, hi, start) in ranges.items() if start.size and hi > 1e3 * start[0]]
    calm = [ranges[c] for c in ranges if c not in blown]
    if calm and len(cells) > 1:
        lo = min(r[0] for r in calm) / 2
        hi = max(r[1] for r in calm) * 2
        for ax, c in zip(grid.flat, cells):
            if c not in blown:
                ax.set_ylim(lo, hi)
    ylabel = (r"relative excess loss $(f - f^*)\,/\,f(W{=}0)$" if run.loss_is_excess
              else r"loss $f$")
    if single:
        grid[0, 0].set_xlabel(step_label(run))
        grid[0, 0].set_ylabel(ylabel)
    else:
        fig.supxlabel(step_label(run), fontsize=9)
        fig.supylabel(ylabel, fontsize=9)
    what = "Relative excess loss" if run.loss_is_excess else "Loss"
    fig.suptitle(f"{what} of the traced seeds against step", fontsize=10)
    k = sorted(counts)
    seeds = plural(k[0], "traced seed") if len(k) == 1 else f"{k[0]}–{k[-1]} traced seeds"
    if k == [1]:
        caption = "Line: the one traced seed of each cell (no band)."
    else:
        caption = (f"Line: median over the {seeds} of each cell (those with a finite loss at the "
                   "step); band: 25–75%.")
    if run.loss_is_excess:
        caption += (" f* = the optimum of a rank-r product; f(W=0) = 1/2 ||M||_F^2, weighted for"
                    " in-context regression (REFERENCE section 1)."
                    + (" Values at or below f* (rounding) are not drawn." if nonpositive else ""))
    else:
        caption += " The optimum is unknown for this file: the loss itself."
    caption += " Panel titles: the outcome over all of the cell's seeds."
    if blown and len(cells) > 1:
        caption += (f" {'Cells' if len(blown) > 1 else 'Cell'} {fmt_cells(blown)}: the loss grows "
                    "over 1000-fold; own y scale.")
    if aliased_cells:
        spacing = (min(run.aliased[c][0] for c in aliased_cells),
                   max(run.aliased[c][1] for c in aliased_cells))
        caption += (f" Warning: {'cells' if len(aliased_cells) > 1 else 'cell'} "
                    f"{fmt_cells(aliased_cells)}: "
                    + aliasing_warning(spacing).replace("(markers only", "(markers with 25–75% bars")
                    + ".")
    caption += left_out_note(cells, run.selected)
    save(fig, run, outdir, "loss.png", caption, written)


def wilson(k, n, z=1.959964):
    """Wilson 95% score interval of k successes in n trials, (low, high); NaN for n = 0."""
    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        lo = np.where(k == 0, 0.0, centre - half)
        hi = np.where(k == n, 1.0, centre + half)
    return np.where(n > 0, lo, np.nan), np.where(n > 0, hi, np.nan)


def plot_outcomes(run, outdir, written):
    numeric = [a for a in run.axes if a.numeric and len(np.unique(a.values[run.selected])) > 1]
    if not numeric:
        return
    names = short_names(run.axes)
    ncol = len(numeric)
    fig, grid = plt.subplots(3, ncol, figsize=(max(7.2, 2.4 + 3.8 * ncol), 7.4), layout="constrained",
                             squeeze=False, sharex="col")
    capped, never_drawn, gone_drawn = [], False, False
    for j, axis in enumerate(numeric):
        others = [a for a in run.axes if a.name != axis.name]
        series = group_cells(run, others)
        shown = series[:MAX_LR_SERIES]
        if len(series) > len(shown):
            capped.append((axis.name, len(shown), len(series)))
        xlog = is_log_spaced(axis.values[run.selected])
        pending = []
        legend_series = []
        for i, (key, cells) in enumerate(shown):
            col, marker = PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)]
            cells = np.array(sorted(cells, key=lambda c: axis.values[c]))
            x = axis.values[cells]
            label = ", ".join(f"{names[a.name]}={fmt_value(v, a.numeric)}"
                              for a, v in zip(others, key)) or "all cells"
            legend_series.append((col, marker, label))
            # Final relative excess over the non-diverged seeds.
            q = np.where(run.excess_q[cells] > 0, run.excess_q[cells], np.nan)
            ax = grid[0, j]
            ax.fill_between(x, q[:, 0], q[:, 2], color=col, alpha=0.18, lw=0)
            ms = 4 if len(x) <= 40 else 2  # many cells: small markers, the line carries it
            ax.plot(x, q[:, 1], marker=marker, color=col, ms=ms, lw=1.4)
            gone = run.diverged[cells] >= np.maximum(run.written[cells], 1)
            if gone.any():
                gone_drawn = True
                ax.plot(x[gone], np.full(gone.sum(), 0.97 - 0.035 * i), "x", color=col, ms=7, mew=1.8,
                        transform=ax.get_xaxis_transform())
            # Steps to tolerance over all seeds; never = +inf.
            q = run.stt_q[cells]
            ax = grid[1, j]
            finite_hi = np.where(np.isfinite(q[:, 2]), q[:, 2], np.nan)
            ax.fill_between(x, np.where(np.isfinite(q[:, 0]), q[:, 0], np.nan),
                            np.where(np.isfinite(q[:, 1]), finite_hi, np.nan), color=col,
                            alpha=0.18, lw=0)
            # An upper quartile that is "never": a bar up to the top of the panel (drawn below).
            open_top = np.isfinite(q[:, 1]) & ~np.isfinite(q[:, 2])
            pending += [(xv, lo, col) for xv, lo in zip(x[open_top], q[open_top, 1])]
            ax.plot(x, np.where(np.isfinite(q[:, 1]), q[:, 1], np.nan), marker=marker, color=col,
                    ms=ms, lw=1.4)
            never = ~np.isfinite(q[:, 1]) & (run.written[cells] > 0)
            if never.any():
                never_drawn = True
                ax.plot(x[never], np.full(never.sum(), 0.97 - 0.035 * i), marker=marker, ls="",
                        color=col, mfc="white", ms=ms + 1, transform=ax.get_xaxis_transform())
            # Converged fraction, Wilson 95%.
            ax = grid[2, j]
            frac = run.converged_fraction[cells]
            lo, hi = wilson(run.converged[cells], run.written[cells])
            if len(x) <= 25:
                ax.errorbar(x, frac, yerr=[np.clip(frac - lo, 0, None), np.clip(hi - frac, 0, None)],
                            marker=marker, color=col, ms=ms, lw=1.4, capsize=2.5)
            else:  # bars would merge into a block: the interval as a band
                ax.fill_between(x, lo, hi, color=col, alpha=0.18, lw=0)
                ax.plot(x, frac, marker=marker, color=col, ms=ms, lw=1.4)
        for i in range(3):
            ax = grid[i, j]
            if xlog:
                ax.set_xscale("log")
            ax.grid(True, which="major", alpha=0.3)
        values = np.unique(axis.values[run.selected])
        if len(values) <= 8:
            value_ticks(grid[2, j].xaxis, values, xlog)
        elif xlog:
            plain_log_ticks(grid[2, j].xaxis)
        grid[2, j].set_xlabel(axis.name + ("  = dt" if axis.name == "optimizer.lr" and run.flow else ""))
        grid[0, j].set_yscale("log")
        reached = run.stt_q[run.selected]
        reached = reached[np.isfinite(reached) & (reached > 0)]
        if reached.size and reached.max() / reached.min() >= 30:
            grid[1, j].set_yscale("log")
        if not reached.size:
            grid[1, j].set_ylim(0, 1)
            grid[1, j].set_yticks([])
            none = not run.stt_reached[run.selected].any()
            grid[1, j].text(0.5, 0.5, "no seed reached the tolerance" if none else
                            "in every cell, under a quarter\nof the seeds reached the tolerance",
                            transform=grid[1, j].transAxes, ha="center", va="center", fontsize=8,
                            color="0.3")
        top = grid[1, j].get_ylim()[1]
        for xv, lo, col in pending:
            grid[1, j].plot([xv, xv], [lo, top], color=col, lw=5, alpha=0.18, solid_capstyle="butt")
        grid[1, j].set_ylim(None, top)
        grid[2, j].set_ylim(-0.05, 1.05)
        if others:  # each column's own series: the values of the other axes
            handles = [Line2D([], [], color=col, marker=m, ms=4, lw=1.4)
                       for col, m, _ in legend_series]
            grid[2, j].legend(handles, [lab for _, _, lab in legend_series], loc="upper center",
                              bbox_to_anchor=(0.5, -0.22), fontsize=8, frameon=False,
                              ncols=2 if len(legend_series) > 3 else 1)
    grid[0, 0].set_ylabel("final relative excess\n(non-diverged seeds)")
    grid[1, 0].set_ylabel("steps to excess ≤ tolerance\n(all seeds)")
    grid[2, 0].set_ylabel("fraction of seeds\nconverged")
    fig.suptitle("Outcomes against the swept values", fontsize=10)
    seeds = sorted({int(run.written[c]) for c in run.selected})
    per = plural(seeds[0], "seed") if len(seeds) == 1 else f"{seeds[0]}–{seeds[-1]} seeds"
    caption = (f"Each point is one cell ({per} each). Top: median final relative excess over the "
               "cell's non-diverged seeds, band 25–75%. Middle: median step at which the excess "
               "first reached record.loss_tolerance over all seeds (never = ∞), band 25–75%. "
               "Bottom: fraction of the seeds converged, bars (a band where the cells are many) the "
               "Wilson 95% interval."
               + (" ×, top panel: every seed of the cell diverged." if gone_drawn else "")
               + (" Open markers at the top of the middle panel: the median is never (more than "
                  "half of the seeds never reached the tolerance)." if never_drawn else ""))
    for name, n_shown, n_all in capped:
        caption += f" Against {name}: the first {n_shown} of {n_all} series."
    save(fig, run, outdir, "outcomes.png", caption, written)


def _edges(values, log):
    v = np.log10(values) if log else np.asarray(values, dtype=float)
    if len(v) == 1:
        e = np.array([v[0] - 0.5, v[0] + 0.5]) if log else np.array([v[0] * 0.5, v[0] * 1.5 + (v[0] == 0)])
    else:
        mid = (v[1:] + v[:-1]) / 2
        e = np.concatenate([[v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]])
    return 10 ** e if log else e


def plot_basin_map(run, outdir, written):
    numeric = [a for a in run.axes if a.numeric]
    if len(numeric) < 2:
        return
    ax_y, ax_x = numeric[0], numeric[1]
    others = [a for a in run.axes if a.name not in (ax_x.name, ax_y.name)]
    xs, ys = np.unique(ax_x.values[run.selected]), np.unique(ax_y.values[run.selected])
    # One panel per combination of the other axes' values (in the order cells list them).
    combos = group_cells(run, others)
    shown = combos[:MAX_BASIN_PANELS]
    ncol = min(len(shown), 3)
    nrow = int(np.ceil(len(shown) / ncol))
    fig, axs = plt.subplots(nrow, ncol, figsize=(max(5.6, 1.2 + 3.1 * ncol), 1.1 + 2.7 * nrow),
                            layout="constrained", squeeze=False, sharex=True, sharey=True)
    xlog, ylog = is_log_spaced(xs), is_log_spaced(ys)
    names = short_names(run.axes)
    annotate = len(xs) * len(ys) <= 64
    mesh = None
    for k, (key, cells) in enumerate(shown):
        ax = axs.flat[k]
        grid = np.full((len(ys), len(xs)), np.nan)
        for c in cells:
            grid[np.searchsorted(ys, ax_y.values[c]), np.searchsorted(xs, ax_x.values[c])] = \
                run.converged_fraction[c]
        mesh = ax.pcolormesh(_edges(xs, xlog), _edges(ys, ylog), np.ma.masked_invalid(grid),
                             cmap="cividis", vmin=0, vmax=1, shading="flat")
        ax.set_facecolor("0.85")  # cells without data
        if xlog:
            ax.set_xscale("log")
        if ylog:
            ax.set_yscale("log")
        value_ticks(ax.xaxis, xs, xlog)
        value_ticks(ax.yaxis, ys, ylog)
        if annotate:
            for iy, yv in enumerate(ys):
                for ix, xv in enumerate(xs):
                    v = grid[iy, ix]
                    if np.isfinite(v):
                        ax.text(xv, yv, f"{v:.2f}", ha="center", va="center", fontsize=7,
                                color="black" if v > 0.55 else "white")
        if others:
            ax.set_title(", ".join(f"{names[a.name]}={fmt_value(v, a.numeric)}"
                                   for a, v in zip(others, key)), fontsize=9)
        if k % ncol == 0:
            ax.set_ylabel(ax_y.name)
        if k // ncol == nrow - 1:
            ax.set_xlabel(ax_x.name)
    for ax in list(axs.flat)[len(shown):]:
        ax.set_visible(False)
    fig.colorbar(mesh, ax=axs, label="fraction of seeds converged", shrink=0.9)
    seeds = sorted({int(run.written[c]) for c in run.selected})
    per = plural(seeds[0], "seed") if len(seeds) == 1 else f"{seeds[0]}–{seeds[-1]} seeds"
    title = (f"Converged fraction of the {per} per cell\n"
             "(relative excess loss ≤ record.loss_tolerance)")
    if len(combos) > len(shown):
        title += f" — first {len(shown)} of {len(combos)} panels"
    fig.suptitle(title, fontsize=10)
    caption = (f"Colour and number: fraction of the cell's {per} whose final relative excess is at "
               "most record.loss_tolerance; grey: no cell.")
    if len(combos) > len(shown):
        left = [c for _, cells in combos[len(shown):] for c in cells]
        caption += f" Panels left out: {len(combos) - len(shown)} (cells {fmt_cells(left)})."
    save(fig, run, outdir, "basin_map.png", caption, written)


def gd_stability_edges(run, cells):
    """lr = 2 / lambda_max of the GD cells among `cells`: lambda_max, the largest Hessian eigenvalue
    at the balanced global minimum of f, is L s_max^(2 - 2/L) (2 s_max for depth 2, so lr =
    1/s_max). Cells with l2 > 0 or the rk4 flow integrator have another edge and are left out.
    Returns the distinct edges, ascending."""
    edges = set()
    for c in cells:
        if run.kind[c] != "gd" or run.flow or run.l2[c] != 0:
            continue
        s = run.spectrum[c]
        s = s[np.isfinite(s)]
        if s.size == 0 or s.max() <= 0:
            continue
        depth = run.depth[c] if np.isfinite(run.depth[c]) and run.depth[c] >= 2 else 2
        edges.add(float(f"{2 / (depth * s.max() ** (2 - 2 / depth)):.6g}"))
    return sorted(edges)


def plot_loss_vs_lr(run, outdir, written):
    lr_axis = next((a for a in run.axes if a.name == "optimizer.lr" and a.numeric), None)
    if lr_axis is None:
        return
    others = [a for a in run.axes if a.name != "optimizer.lr"]
    series = group_cells(run, others)
    shown = series[:MAX_LR_SERIES]
    names = short_names(run.axes)
    shown_cells = [c for _, cells in shown for c in cells]
    diverging = np.nan_to_num(run.diverged_fraction[shown_cells]) > 0

    if diverging.any():
        fig, (ax, axd) = plt.subplots(2, 1, figsize=(7.6, 5.6), sharex=True, layout="constrained",
                                      gridspec_kw={"height_ratios": [3, 1]})
    else:
        fig, ax = plt.subplots(figsize=(7.6, 4.6), layout="constrained")
        axd = None
    any_all_diverged = False
    for j, (key, cells) in enumerate(shown):
        col, marker = PALETTE[j % len(PALETTE)], MARKERS[j % len(MARKERS)]
        cells = np.array(sorted(cells, key=lambda c: lr_axis.values[c]))
        x = lr_axis.values[cells]
        q = run.loss_q[cells]
        q = np.where(q > 0, q, np.nan)  # log axis: a zero loss cannot be drawn
        label = ", ".join(f"{names[a.name]}={fmt_value(v, a.numeric)}" for a, v in zip(others, key)) \
            or "all cells"
        ax.fill_between(x, q[:, 0], q[:, 2], color=col, alpha=0.18, lw=0)
        ax.plot(x, q[:, 1], marker=marker, color=col, ms=4, lw=1.5, label=label)
        allgone = run.diverged_fraction[cells] >= 1
        if allgone.any():
            any_all_diverged = True
            ax.plot(x[allgone], np.full(allgone.sum(), 0.97), "x", color=col, ms=7, mew=1.8,
                    transform=ax.get_xaxis_transform())
        if axd is not None:
            axd.plot(x, run.diverged_fraction[cells], marker=marker, color=col, ms=3.5, lw=1.2)
    ax.set_xscale("log")
    ax.set_yscale("log")
    edges = gd_stability_edges(run, shown_cells)
    for target in [ax] + ([axd] if axd is not None else []):
        for e in edges:
            target.axvline(e, color="#D55E00", ls=":", lw=1.4)
    lrs = np.unique(lr_axis.values[run.selected])
    if len(lrs) <= 8:
        value_ticks(ax.xaxis, lrs, True)
    else:
        plain_log_ticks(ax.xaxis)
    ax.set_ylabel(r"final loss $\frac{1}{2}\|W-M\|_F^2$ (+ penalty)")
    ax.set_title("Final loss against learning rate: median over non-diverged seeds, band 5–95%",
                 fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if edges:
        handles.append(Line2D([], [], color="#D55E00", ls=":", lw=1.4))
        labels.append(r"GD: 2/λ$_{max}$ at the minimum" + "\n(lr = "
                      + ", ".join(f"{e:.3g}" for e in edges) + ")")
    if any_all_diverged:
        handles.append(Line2D([], [], marker="x", ls="", color="0.3", ms=7, mew=1.8))
        labels.append("all seeds diverged")
    if axd is None:
        handles.append(Line2D([], [], ls=""))
        labels.append("no seed diverged")
    title = None if len(shown) == len(series) else f"first {len(shown)} of {len(series)} series"
    ax.legend(handles, labels, fontsize=8, title=title, title_fontsize=8, loc="upper left",
              bbox_to_anchor=(1.01, 1.0), frameon=False)
    xlabel = "learning rate (optimizer.lr)" + ("  = dt" if run.flow else "")
    if axd is not None:
        axd.set_ylim(-0.05, 1.05)
        axd.set_ylabel("fraction of\nseeds diverged")
        axd.grid(True, which="major", alpha=0.3)
        axd.set_xlabel(xlabel)
    else:
        ax.set_xlabel(xlabel)
    seeds = sorted({int(run.written[c]) for c in shown_cells})
    per = plural(seeds[0], "seed") if len(seeds) == 1 else f"{seeds[0]}–{seeds[-1]} seeds"
    caption = (f"Line: median final loss over each cell's non-diverged seeds (of {per} per cell); "
               "band: 5–95% of them.")
    if axd is not None:
        caption += " Lower panel: fraction of the seeds that diverged."
    if edges:
        caption += (" Dotted: GD: 2/λ_max at the minimum, the step size beyond which GD cannot "
                    "settle at the balanced global minimum (λ_max = 2·s_max(M) for depth 2, so "
                    "lr = 1/s_max).")
    if len(shown) < len(series):
        left = [c for _, cells in series[len(shown):] for c in cells]
        caption += f" Series left out: {len(series) - len(shown)} (cells {fmt_cells(left)})."
    save(fig, run, outdir, "loss_vs_lr.png", caption, written)


# ------------------------------------------------------------------------------------------------

MEASURE_CELLS = 8  # lines in one panel of RUN.measures.png


def plot_measures(run, outdir, log_time, written):
    """RUN.measures.png: the optional record-step measurements, where the run has finite values."""
    cells = pick_cells(run.selected, MEASURE_CELLS)
    if run.traced == 0 or not cells or run.step.size == 0:
        return
    keep = run.step >= 1 if log_time else np.ones_like(run.step, dtype=bool)
    x = run.step[keep]
    panels = []  # (title, ylabel, log y, {cell: [(label suffix, values T, style)]}, reference)
    with h5py.File(run.path, "r") as f:
        def median(name, c, factor=None):
            if name not in f:
                return None
            v = np.asarray(f[name][c], dtype=float)  # K x T [x L]
            v = v[..., factor] if factor is not None else v
            v = v[:, keep]
            return _nanquantile(v, [0.5], 0)[0] if np.isfinite(v).any() else None

        sharp = {}
        for c in cells:
            lines = []
            for name, style in (("trace/sharpness", "-"), ("trace/step_sharpness", ":")):
                m = median(name, c)
                if m is not None:
                    lines.append((name.split("/")[1], run.lr[c] * m, style))
            if lines:
                sharp[c] = lines
        if sharp:
            panels.append(("eta * lambda_max (solid) and eta * curvature along the step (dotted)",
                           r"$\eta\,\lambda$", True, sharp, 2.0))
        orth = {}
        depth = f["trace/orth_error"].shape[3] if "trace/orth_error" in f else 0
        for c in cells:
            lines = []
            for k in range(depth):
                m = median("trace/orth_error", c, k)
                if m is not None:
                    lines.append((f"F{k + 1}", np.where(m > 0, m, np.nan), "-" if k == 0 else "--"))
            if lines:
                orth[c] = lines
        if orth:
            panels.append(("orthogonalizer vs exact polar factor of its input (F1 solid, F2 dashed)",
                           r"$\|O - UV^T\|_F / \sqrt{k}$", True, orth, None))
        sensing = "target/sensing" in f and f["target/sensing"].shape[1] > 0
        recovery = {c: [("", np.where(m > 0, m, np.nan), "-")] for c in cells
                    if sensing and (m := median("trace/recovery_error", c)) is not None}
        if recovery:
            panels.append(("recovery error of matrix sensing", r"$\|W - M\|_F / \|M\|_F$", True,
                           recovery, None))
        entropy = {c: [("", m, "-")] for c in cells
                   if (m := median("trace/spectral_entropy", c)) is not None}
        if entropy:
            panels.append(("spectral entropy of W (energy shares)", "nats", False, entropy, None))
    if not panels:
        return
    fig, axes = plt.subplots(1, len(panels), figsize=(1.0 + 4.2 * len(panels), 3.6),
                             layout="constrained", squeeze=False)
    for ax, (title, ylabel, logy, lines, reference) in zip(axes[0], panels):
        for i, c in enumerate(cells):
            for suffix, values, style in lines.get(c, []):
                ax.plot(x, values, style, color=PALETTE[i % len(PALETTE)], lw=1.3,
                        label=f"cell {c}" if style in ("-",) else None)
        if reference is not None:
            ax.axhline(reference, color="k", ls="--", lw=0.8)
        if logy:
            ax.set_yscale("log")
        if log_time:
            ax.set_xscale("log")
            plain_log_ticks(ax.xaxis)
        ax.set_title(title, fontsize=8)
        ax.set_xlabel(step_label(run))
        ax.set_ylabel(ylabel)
        ax.grid(True, which="major", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if len(cells) > 1 and handles:
        axes[0][-1].legend(handles, [f"{lab}: {cell_label(run, int(lab.split()[1]))}"
                                     if run.axes else lab for lab in labels], fontsize=7)
    fig.suptitle("Record-step measurements of the traced seeds against step", fontsize=10)
    k = run.traced
    caption = (f"Lines: median over the {plural(k, 'traced seed')} of each cell (NaN steps left out: "
               "no step is taken from the last point). eta = optimizer.lr of the cell.")
    caption += left_out_note(cells, run.selected)
    save(fig, run, outdir, "measures.png", caption, written)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="specsweep_plot.py", description="Standard figures of a specsweep run file.")
    parser.add_argument("run", metavar="RUN.h5")
    parser.add_argument("outdir", metavar="OUTDIR")
    parser.add_argument("--log-time", action="store_true",
                        help="log-scaled step axis in the trajectory plots (from step 1)")
    parser.add_argument("--cells", metavar="LIST",
                        help="plot only these cells: indices and ranges, e.g. 0,3,5 or 2-7")
    args = parser.parse_args(argv)
    try:
        run = load_run(args.run, args.cells)
    except (NotARunFile, BadCells) as e:
        print(f"specsweep plot: {e}", file=sys.stderr)
        return 2
    try:
        os.makedirs(args.outdir, exist_ok=True)
    except OSError as e:
        print(f"specsweep plot: cannot create {args.outdir}: {e}", file=sys.stderr)
        return 2

    plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "savefig.dpi": DPI})
    written = []
    try:
        for c in run.sv_cells:
            plot_sv(run, c, args.outdir, args.log_time, written)
        plot_hitting_times(run, args.outdir, written)
        plot_loss(run, args.outdir, args.log_time, written)
        plot_outcomes(run, args.outdir, written)
        plot_basin_map(run, args.outdir, written)
        plot_loss_vs_lr(run, args.outdir, written)
        plot_measures(run, args.outdir, args.log_time, written)
    except OSError as e:  # e.g. a full disk: a runtime failure (exit 3), like specsweep run's
        print(f"specsweep plot: cannot write the figures of {args.run} to {args.outdir}: {e}",
              file=sys.stderr)
        return 3

    if len(run.selected) > len(run.sv_cells):
        print(f"singular-value plots for {len(run.sv_cells)} of {len(run.selected)} cells: "
              + fmt_cells(run.sv_cells))
    for path, caption in written:
        print(f"{path}: {caption}")
    if not written:
        print("nothing to plot (no traced seeds, no modes and no sweep axes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
