#!/usr/bin/env python3
"""Standard figures of a specsweep run file (DESIGN sections 3 and 6).

    specsweep_plot.py RUN.h5 OUTDIR [--log-time]

Writes into OUTDIR, as far as the run allows:
  sv_cell<c>.png      sigma_i(W) against step for cell c (at most 16 cells): median, 25-75% and
                      5-95% bands over the traced seeds, dashed lines at the target spectrum s_i.
  hitting_times.png   median hitting step of each mode (25-75% error bars, seeds that never hit
                      excluded) against s_i, at most 8 cells, with the uniform-growth prediction
                      sqrt((1 - delta) s) / lr for constant-rate specgd/muon cells; log-log.
  basin_map.png       fraction of converged seeds over the first two numeric swept axes (one panel
                      per value combination of the other axes, at most 6); needs >= 2 numeric axes.
  loss_vs_lr.png      median final loss (5-95% band) of the non-diverged seeds against
                      optimizer.lr, one series per combination of the other axes, and the fraction
                      of diverged seeds beneath; needs optimizer.lr to be swept.
and prints the paths it wrote. Exit status 0 on success, 2 when RUN.h5 is not a readable specsweep
run file (damaged, or a dataset of the wrong shape) or OUTDIR cannot be created, 3 when writing a
figure fails.

Needs numpy, h5py and matplotlib (Agg backend; no display). Reads the per-cell aggregates from
/summary when the file has them and recomputes what it needs from /outcome and /trace otherwise,
so files written before /summary existed plot too. Large per-seed arrays are read one cell at a
time.
"""
import argparse
import copy
import io
import os
import sys
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
MAX_HIT_CELLS = 8
MAX_LR_SERIES = 8
MAX_BASIN_PANELS = 6
DPI = 120

# Okabe & Ito's colour-blind-safe palette, strongest contrast on white first.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]  # second cue besides colour, per series


class NotARunFile(Exception):
    pass


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
    cells: int                       # C
    seeds: int                       # S
    rank: int                        # r
    axes: list                       # [Axis], in sweep order
    lr: np.ndarray                   # (C) optimizer.lr
    hit_tolerance: np.ndarray        # (C) record.hit_tolerance (delta)
    kind: np.ndarray                 # (C) optimizer.kind
    uniform_theory: np.ndarray       # (C) bool: the sqrt((1-delta) s)/lr prediction applies
    flow: bool                       # rk4 integrator: steps are multiples of dt
    spectrum: np.ndarray             # (C x P) target s_i, NaN padded
    modes: np.ndarray                # (C) min(r, rank M)
    step: np.ndarray                 # (T) record steps
    converged_fraction: np.ndarray   # (C)
    diverged_fraction: np.ndarray    # (C)
    loss_q: np.ndarray               # (C x 3) final-loss 5/50/95% over non-diverged seeds
    sv_cells: list                   # cells whose sigma bands were loaded
    sv_band: dict                    # cell -> (T x r x 5) quantiles 5/25/50/75/95 over traced seeds
    traced: int                      # K
    hit_cells: list                  # cells whose hitting times were loaded
    hit_q: dict = field(default_factory=dict)     # cell -> (r x 3) hitting step 25/50/75% (hits only)
    hit_frac: dict = field(default_factory=dict)  # cell -> (r) fraction of seeds that hit


def pick_cells(count, cap):
    """At most `cap` cell indices spread evenly over range(count)."""
    if count <= cap:
        return list(range(count))
    return sorted({int(round(x)) for x in np.linspace(0, count - 1, cap)})


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
        names = [k for k in group if isinstance(group[k], h5py.Dataset) and k != "config"]
        order = [str(a.decode() if isinstance(a, bytes) else a) for a in group.attrs.get("axes", [])]
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
    check("target/spectrum", ("C", "P"))
    check("trace/step", ("T",))
    check("trace/sv", ("C", "K", "T", "r"))
    check("summary/quantile_levels", ("Q",))
    check("summary/status_fraction", ("C", "4"))
    check("summary/sv_band", ("C", "T", "r", "Q"))


def load_run(path):
    """Reads what the figures need into plain numpy arrays. Raises NotARunFile."""
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
            return _load(path, f)
        except (OSError, KeyError, ValueError, TypeError, IndexError, RuntimeError) as e:
            # h5py raises these for damaged metadata or chunks (a failed checksum or inflate).
            raise NotARunFile(f"{path}: cannot read the run file, it is damaged ({e})")


def _load(path, f):
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
    kind = np.array([str(k) for k in per_cell("optimizer.kind", "?")], dtype=object)
    schedule = np.array([str(k) for k in per_cell("optimizer.schedule.kind", "constant")])
    uniform = np.isin(kind, ["specgd", "muon"]) & (schedule == "constant")
    flow = any(str(v) == "rk4" for v in per_cell("optimizer.integrator", "step"))

    spectrum = np.asarray(f["target/spectrum"][()], dtype=float) if "target/spectrum" in f \
        else np.full((cells, rank), np.nan)
    modes = np.minimum(rank, np.isfinite(spectrum).sum(axis=1)).astype(int)
    step = np.asarray(f["trace/step"][()], dtype=float) if "trace/step" in f else np.zeros(0)
    has_summary = "summary" in f
    levels = _summary_levels(f) if has_summary else None

    # Status fractions and final-loss quantiles, one cell at a time (seeds may be millions).
    conv = np.full(cells, np.nan)
    div = np.full(cells, np.nan)
    loss_q = np.full((cells, 3), np.nan)
    want_loss = any(ax.name == "optimizer.lr" for ax in axes) and "outcome/final_loss" in f
    if has_summary and "summary/status_fraction" in f:  # NaN where not computed (yet)
        frac = np.asarray(f["summary/status_fraction"][()], dtype=float)
        conv, div = frac[:, 0].copy(), frac[:, 2].copy()
    for c in range(cells):
        st = status_ds[c]
        written = st >= 0
        n = int(written.sum())
        if n > 0 and not (np.isfinite(conv[c]) and np.isfinite(div[c])):
            conv[c] = np.count_nonzero(st == 0) / n
            div[c] = np.count_nonzero(st == 2) / n
        if want_loss:
            fl = np.asarray(f["outcome/final_loss"][c], dtype=float)
            keep = written & (st != 2) & np.isfinite(fl)
            if keep.any():
                loss_q[c] = np.quantile(fl[keep], [0.05, 0.5, 0.95])

    # sigma_i bands of the plotted cells.
    sv_cells = pick_cells(cells, MAX_SV_CELLS)
    traced = f["trace/sv"].shape[1] if "trace/sv" in f else 0
    sv_band = {}
    for c in sv_cells:
        if levels is not None and "summary/sv_band" in f:
            sv_band[c] = np.asarray(f["summary/sv_band"][c], dtype=float)[..., levels]
        if traced > 0 and not np.isfinite(sv_band.get(c, np.nan)).any():  # no summary (yet)
            sv = np.asarray(f["trace/sv"][c], dtype=float)  # K x T x r
            sv_band[c] = np.moveaxis(_nanquantile(sv, [0.05, 0.25, 0.5, 0.75, 0.95], 0), 0, -1)

    # Hitting times of the plotted cells (seeds that never hit excluded).
    hit_cells = pick_cells(cells, MAX_HIT_CELLS) if rank and "outcome/hit_step" in f else []
    hit_q, hit_frac = {}, {}
    for c in hit_cells:
        h = np.asarray(f["outcome/hit_step"][c], dtype=float)  # S x r
        n = max(int(np.count_nonzero(status_ds[c] >= 0)), 1)
        q = np.full((rank, 3), np.nan)
        hf = np.zeros(rank)
        for i in range(modes[c]):
            hits = h[:, i][h[:, i] >= 0]
            hf[i] = len(hits) / n
            if len(hits):
                q[i] = np.quantile(hits, [0.25, 0.5, 0.75])
        hit_q[c], hit_frac[c] = q, hf

    return Run(path=path, cells=cells, seeds=seeds, rank=rank, axes=axes, lr=lr,
               hit_tolerance=delta, kind=kind, uniform_theory=uniform, flow=flow,
               spectrum=spectrum, modes=modes, step=step, converged_fraction=conv,
               diverged_fraction=div, loss_q=loss_q, sv_cells=sv_cells, sv_band=sv_band,
               traced=traced, hit_cells=hit_cells, hit_q=hit_q, hit_frac=hit_frac)


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
    """[(values of `axes`, [cells])] in order of first appearance."""
    groups = {}
    for c in range(run.cells):
        groups.setdefault(tuple(a.values[c] for a in axes), []).append(c)
    return list(groups.items())


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
    axis.set_minor_formatter(FuncFormatter(minor) if lo > 0 and hi / lo < 100 else NullFormatter())


def value_ticks(axis, values, log):
    """Ticks exactly at the swept values."""
    axis.set_ticks(values)
    axis.set_ticklabels([f"{v:.3g}" for v in values])
    if log:
        axis.set_minor_locator(NullLocator())


def step_label(run):
    return "step  (time = step × dt)" if run.flow else "step"


def save(fig, outdir, name, written):
    """Writes the figure as a 256-colour PNG (a third of the size of full colour; line art loses
    nothing visible)."""
    path = os.path.join(outdir, name)
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=DPI, format="png")
    plt.close(fig)
    buffer.seek(0)
    with Image.open(buffer) as image:
        image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                                      dither=Image.Dither.NONE).save(path, optimize=True)
    written.append(path)


# ------------------------------------------------------------------------------------------------
# Figures


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

    fig, ax = plt.subplots(figsize=(7.2, 4.6), layout="constrained")
    for i in range(r):
        col = colors[i]
        if not many:
            ax.fill_between(x, band[:, i, 0], band[:, i, 4], color=col, alpha=0.12, lw=0)
        ax.fill_between(x, band[:, i, 1], band[:, i, 3], color=col, alpha=0.30, lw=0)
        ax.plot(x, band[:, i, 2], color=col, lw=1.1 if many else 1.6,
                label=rf"$\sigma_{{{i + 1}}}$" + (rf"  ($s_{{{i + 1}}}$ = {s[i]:.3g})" if i < len(s) else ""))
        if i < len(s):
            ax.axhline(s[i], color=col, ls="--", lw=0.7 if many else 1.0, alpha=0.85)

    finite = band[np.isfinite(band)]
    positive = finite[finite > 0]
    spread = np.nanmax(s) / np.nanmin(s) if len(s) and np.nanmin(s) > 0 else 1.0
    blowup = len(s) > 0 and positive.size > 0 and positive.max() > 3 * np.nanmax(s)
    if spread > 20 or blowup:
        # Targets spanning decades, or a blow-up: a log axis keeps both the targets and the
        # escaping curves readable. The bottom stays within 4 decades of the smallest target.
        ax.set_yscale("log")
        floor = np.nanmin(s) * 1e-4 if len(s) else positive.min()
        ax.set_ylim(max(positive.min(), floor) / 1.5 if positive.size else floor, None)
    if blowup:
        ax.text(0.01, 0.98, r"$\sigma_i$ escapes the targets (divergence): log scale",
                transform=ax.transAxes, ha="left", va="top", fontsize=8, color="#D55E00")
    if log_time:
        ax.set_xscale("log")
        plain_log_ticks(ax.xaxis)
    ax.set_xlabel(step_label(run))
    ax.set_ylabel(r"singular value $\sigma_i(W)$")
    ax.set_title(f"Singular values of W — {cell_title(run, c)}", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)

    if many:
        sm = plt.cm.ScalarMappable(cmap=ListedColormap(colors), norm=plt.Normalize(0.5, r + 0.5))
        fig.colorbar(sm, ax=ax, label="mode i (1 = largest)", pad=0.01, aspect=30)
        fig.text(0.01, 0.005, f"lines: median of {run.traced} traced seeds;  bands: 25–75%;  "
                 r"dashed: target $s_i$", fontsize=8, ha="left", va="bottom", color="0.25")
        fig.get_layout_engine().set(h_pad=0.2)
        save(fig, outdir, f"sv_cell{c}.png", written)
        return
    # One legend outside the axes: the modes, then what line, bands and dashes mean.
    key = [Line2D([], [], color="0.3", lw=1.6, label=f"median of {run.traced} traced seeds"),
           Patch(color="0.3", alpha=0.45, label="25–75%"),
           Patch(color="0.3", alpha=0.15, label="5–95%"),
           Line2D([], [], color="0.3", ls="--", lw=1.0, label=r"target $s_i$")]
    handles, labels = ax.get_legend_handles_labels()
    handles += [Line2D([], [], ls="")] + key
    labels += [""] + [h.get_label() for h in key]
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8,
              frameon=False)
    save(fig, outdir, f"sv_cell{c}.png", written)


def plot_hitting_times(run, outdir, written):
    cells = [c for c in run.hit_cells if np.isfinite(run.hit_q[c]).any()]
    if not cells:
        return
    fig, ax = plt.subplots(figsize=(7.2, 5.6), layout="constrained")
    n = len(cells)
    theory_drawn = partial_drawn = False
    for j, c in enumerate(cells):
        col, marker = PALETTE[j % len(PALETTE)], MARKERS[j % len(MARKERS)]
        m = run.modes[c]
        s = run.spectrum[c][:m]
        q = run.hit_q[c][:m]
        frac = run.hit_frac[c][:m]
        ok = np.isfinite(q[:, 1]) & (s > 0)
        jitter = 1.0 + 0.02 * (j - (n - 1) / 2)  # keep overlapping error bars apart
        never = int(np.count_nonzero(frac == 0))
        label = cell_label(run, c) + (f"  ({never} mode{'s' * (never > 1)} never hit)" if never else "")
        full, part = ok & (frac >= 0.5), ok & (frac < 0.5)
        for sel, face in ((full, col), (part, "white")):
            if sel.any():
                ax.errorbar(s[sel] * jitter, q[sel, 1],
                            yerr=[q[sel, 1] - q[sel, 0], q[sel, 2] - q[sel, 1]],
                            fmt=marker, ms=5, color=col, mfc=face, mew=1.2, capsize=3, lw=1.2,
                            label=label)
                label = None
        partial_drawn |= bool(part.any())
        if run.uniform_theory[c] and np.isfinite(run.lr[c]) and run.lr[c] > 0 and (s > 0).any():
            grid = np.geomspace(s[s > 0].min(), s.max(), 50)
            ax.plot(grid, np.sqrt((1 - run.hit_tolerance[c]) * grid) / run.lr[c], color=col,
                    ls="--", lw=1.0, alpha=0.9)
            theory_drawn = True
    ax.set_xscale("log")
    ax.set_yscale("log")
    plain_log_ticks(ax.xaxis)
    plain_log_ticks(ax.yaxis)
    ax.set_xlabel(r"target singular value $s_i$")
    ax.set_ylabel(r"hitting step: first $d_i \geq (1-\delta)\,s_i$")
    ax.set_title("Mode hitting times: median over the seeds that hit, bars 25–75%", fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    handles, labels = ax.get_legend_handles_labels()
    if theory_drawn:
        handles.append(Line2D([], [], color="0.3", ls="--", lw=1.0))
        labels.append(r"theory $\sqrt{(1-\delta)\,s}\,/\,\mathrm{lr}$ (specgd/muon, constant lr)")
    if partial_drawn:
        handles.append(Line2D([], [], marker="o", ls="", color="0.3", mfc="white"))
        labels.append("open marker: fewer than half of the seeds hit")
    title = None if len(cells) == run.cells else f"{len(cells)} of {run.cells} cells"
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=2, fontsize=8,
              title=title, title_fontsize=8, frameon=False)
    save(fig, outdir, "hitting_times.png", written)


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
    xs, ys = np.unique(ax_x.values), np.unique(ax_y.values)
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
    title = (f"Converged fraction of the {run.seeds} seeds per cell\n"
             "(relative excess loss ≤ record.loss_tolerance)")
    if len(combos) > len(shown):
        title += f" — first {len(shown)} of {len(combos)} panels"
    fig.suptitle(title, fontsize=10)
    save(fig, outdir, "basin_map.png", written)


def plot_loss_vs_lr(run, outdir, written):
    lr_axis = next((a for a in run.axes if a.name == "optimizer.lr" and a.numeric), None)
    if lr_axis is None:
        return
    others = [a for a in run.axes if a.name != "optimizer.lr"]
    series = group_cells(run, others)
    shown = series[:MAX_LR_SERIES]
    names = short_names(run.axes)
    diverging = np.nan_to_num(run.diverged_fraction) > 0

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
    lrs = np.unique(lr_axis.values)
    if len(lrs) <= 8:
        value_ticks(ax.xaxis, lrs, True)
    else:
        plain_log_ticks(ax.xaxis)
    ax.set_ylabel(r"final loss $\frac{1}{2}\|W-M\|_F^2$ (+ penalty)")
    ax.set_title("Final loss against learning rate: median over non-diverged seeds, band 5–95%",
                 fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
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
    save(fig, outdir, "loss_vs_lr.png", written)


# ------------------------------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="specsweep_plot.py", description="Standard figures of a specsweep run file.")
    parser.add_argument("run", metavar="RUN.h5")
    parser.add_argument("outdir", metavar="OUTDIR")
    parser.add_argument("--log-time", action="store_true",
                        help="log-scaled step axis in the singular-value plots (from step 1)")
    args = parser.parse_args(argv)
    try:
        run = load_run(args.run)
    except NotARunFile as e:
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
        plot_basin_map(run, args.outdir, written)
        plot_loss_vs_lr(run, args.outdir, written)
    except OSError as e:  # e.g. a full disk: a runtime failure (exit 3), like specsweep run's
        print(f"specsweep plot: cannot write the figures of {args.run} to {args.outdir}: {e}",
              file=sys.stderr)
        return 3

    if run.cells > len(run.sv_cells):
        print(f"singular-value plots for {len(run.sv_cells)} of {run.cells} cells: "
              + " ".join(map(str, run.sv_cells)))
    if run.cells > len(run.hit_cells) and run.hit_cells:
        print(f"hitting times for {len(run.hit_cells)} of {run.cells} cells: "
              + " ".join(map(str, run.hit_cells)))
    for path in written:
        print(path)
    if not written:
        print("nothing to plot (no traced seeds, no modes and no sweep axes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
