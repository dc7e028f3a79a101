"""specsweep from Python: run experiments in-process and read their run files as xarray.

    import specsweep
    run = specsweep.run("examples/quickstart.toml", set={"run.seeds": 256}, out="q.h5")
    ds = run.open()                     # /outcome as an xarray Dataset, swept axes as dimensions
    print(run.report())                 # the table `specsweep report` prints

The engine is the command line's (same C++ code, same run files, same resume); docs/python.md
is the reference.
"""

import builtins
import dataclasses
import math
import os
import sys
import typing
import warnings

from . import _core

__all__ = ["run", "open", "report", "validate", "Run", "Progress", "InputError", "RunError", "Interrupted"]
__version__ = _core.version

#: Bad input, raised before any work: a config key or value (the message names the key), a
#: file that must not be replaced, a resume with nothing to continue. `exit 2` on the command line.
InputError = _core.InputError
#: A failure while running (I/O, memory, a backend). `exit 3` on the command line.
RunError = _core.RunFailure


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM, SIGUSR1) stopped a run. As on the command line, the batch in flight
    is abandoned, every finished unit is kept in ``partial``, and ``run(..., resume=True)`` with
    the same config and ``out`` continues to the file an uninterrupted run writes."""

    def __init__(self, message, partial, signal):
        super().__init__(message)
        self.partial = partial
        self.signal = signal


@dataclasses.dataclass(frozen=True)
class Progress:
    """How far a run is, passed to a ``progress`` callable after every batch. Resumed units count
    as done; the rate and times are this call's."""

    units_done: int
    units_total: int
    elapsed_seconds: float
    eta_seconds: typing.Optional[float]  # weighed by modelled cost; None before the first batch
    seed_steps_per_second: float

    @classmethod
    def _of(cls, done, total, elapsed, eta, rate):
        return cls(done, total, elapsed, None if eta < 0 else eta, rate)


class Run:
    """A finished run: its file, and what this call computed."""

    def __init__(self, summary):
        self.path = summary["out"]
        self.backend = summary["backend"]
        self.seconds = summary["seconds"]
        self.seed_steps = summary["seed_steps"]
        self.units_run = summary["units_run"]
        self.units_resumed = summary["units_resumed"]
        #: True when ``resume=True`` found the file already complete and ran nothing.
        self.already_complete = summary["already_complete"]

    def open(self, group="outcome"):
        return open(self.path, group)

    def report(self, format="table"):
        return report(self.path, format)

    def __repr__(self):
        if self.already_complete:
            return f"Run({self.path!r}, already complete)"
        rate = self.seed_steps / self.seconds if self.seconds > 0 else 0.0
        return (f"Run({self.path!r}, backend={self.backend!r}, {self.seconds:.3g} s, "
                f"{rate:.3g} seed-steps/s, {self.units_run} units run, {self.units_resumed} resumed)")


def _config_source(config):
    """(toml_text, source name, config path or "") for a path, TOML text or dict."""
    if isinstance(config, dict):
        return _core.toml_text_of(config), "<dict>", ""
    if isinstance(config, os.PathLike) or (isinstance(config, str) and "\n" not in config and "=" not in config):
        path = os.fspath(config)
        try:
            with builtins.open(path, encoding="utf-8") as f:
                return f.read(), path, path
        except OSError as e:
            raise InputError(f"{path}: cannot read the config: {e.strerror}") from None
    if isinstance(config, str):
        return config, "<string>", ""
    raise TypeError(f"config: a path, TOML text or a dict, not {type(config).__name__}")


def _progress_reporter(progress):
    """(callable or None, close) for run(progress=...)."""
    if callable(progress):
        return (lambda *values: progress(Progress._of(*values))), (lambda: None)
    if not progress:
        return None, (lambda: None)
    try:
        # A widget in Jupyter when ipywidgets is there; without it tqdm falls back to text, and
        # its warning says only that.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "IProgress not found")
            from tqdm.auto import tqdm
    except ImportError:
        tqdm = None
    if tqdm is None:
        def line(*values):
            p = Progress._of(*values)
            eta = "?" if p.eta_seconds is None else f"{p.eta_seconds:.0f} s"
            print(f"\runits {p.units_done}/{p.units_total}  {p.seed_steps_per_second:.3g} seed-steps/s  "
                  f"ETA {eta}   ", end="", file=sys.stderr, flush=True)
        return line, (lambda: print(file=sys.stderr))
    bar = None

    def update(*values):
        nonlocal bar
        p = Progress._of(*values)
        if bar is None:
            bar = tqdm(total=p.units_total, initial=0, unit="unit", desc="specsweep", dynamic_ncols=True)
        bar.n = p.units_done
        bar.set_postfix_str(f"{p.seed_steps_per_second:.3g} seed-steps/s", refresh=False)
        bar.refresh()

    return update, (lambda: bar is not None and bar.close())


def run(config, *, set=None, out=None, backend="auto", threads=0, resume=False, force=False, progress=True):
    """Runs an experiment in this process and returns a :class:`Run`.

    config: a path to a TOML config, TOML text (a str holding "=" or a newline) or a dict of
        tables, as a config file would hold them.
    set: overrides, {"optimizer.lr": 0.1, ...}, as ``--set`` on the command line.
    out: the run file; a config file's default is its stem with .h5 in the current directory, a
        config given as text or a dict needs one.
    backend, threads, resume, force: as the command line's --backend, --threads, --resume, --force.
        An existing ``out`` is never replaced without force=True.
    progress: True for a progress bar (tqdm, in a terminal or Jupyter), False for none, or a
        callable taking a :class:`Progress` after every batch.

    Raises InputError (bad config, naming the key; an output it must not replace), RunError, or
    Interrupted on Ctrl-C, with every finished unit kept for resume=True.
    """
    toml_text, source, config_path = _config_source(config)
    if out is None:
        if not config_path:
            raise InputError("out: give the run file to write (a config given as text or a dict has no default)")
        out = os.path.splitext(os.path.basename(config_path))[0] + ".h5"
    out = os.fspath(out)
    overrides = dict(set or {})
    callback, close = _progress_reporter(progress)
    try:
        summary = _core.run(toml_text, source, config_path, overrides, out, backend, int(threads), bool(resume),
                            bool(force), not progress, callback)
    finally:
        close()
    if summary["interrupted_by"]:
        partial = out + ".partial"
        units = summary["units_run"] + summary["units_resumed"]
        raise Interrupted(f"interrupted by signal {summary['interrupted_by']}; {units} units written to {partial}; "
                          f"to continue, call run() again with the same config and out={out!r}, resume=True",
                          partial, summary["interrupted_by"])
    return Run(summary)


def validate(config, *, set=None):
    """The resolved config (every key with its value, as ``specsweep validate`` prints it) and the
    number of cells; raises InputError naming the key of a bad value."""
    toml_text, source, _ = _config_source(config)
    return _core.resolved_config(toml_text, source, dict(set or {}))


def report(path, format="table"):
    """The report ``specsweep report`` prints: format "table", "wide", "csv" or "json"."""
    return _core.report(os.fspath(path), format)


def open(path, group="outcome"):
    """A run file's group as an xarray Dataset (engine h5netcdf), read into memory (a group of
    1e6 seeds x 10 cells is about 1 GB: xarray.open_dataset(path, group=..., engine="h5netcdf")
    reads lazily, with the same names but ``cell`` not unstacked).

    The swept config keys become dimensions in place of ``cell`` (a run without a sweep keeps
    ``cell``, and so does a merged file whose cells repeat or miss combinations), and the run's root attributes
    (config, backend, versions) are the Dataset's attributes. Groups: outcome, summary, trace,
    trace/init, trace/final, target, cells, progress.
    """
    import h5py
    import xarray as xr

    path = os.fspath(path)
    with h5py.File(path, "r") as f:
        if group.strip("/") not in f:
            raise InputError(f"{path}: no group {group!r} (groups: {', '.join(sorted(f))})")
        axes = [a.decode() if isinstance(a, bytes) else str(a) for a in f["cells"].attrs.get("axes", [])]
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    # Read into memory and closed: HDF5 refuses a second open of a file that one library in the
    # process holds with other settings (report() after a lazy open failed so), and a rerun with
    # force=True replaces the file under a lazy reader.
    with xr.open_dataset(path, group=group, engine="h5netcdf") as lazy:
        ds = lazy.load()
    ds.attrs = {**attrs, **ds.attrs}
    if len(axes) == 1 and "cell" in ds.dims and axes[0] in ds.coords:
        # One axis: its values label the cells directly (set_index would give a plain index, which
        # unstack refuses), in the config's order already.
        if len(set(ds[axes[0]].values.tolist())) == ds.sizes["cell"]:
            ds = ds.swap_dims({"cell": axes[0]})
    elif axes and "cell" in ds.dims and all(a in ds.coords for a in axes):
        stacked = ds.set_index(cell=axes)
        # unstack sorts each axis; the config's order is the one a reader expects.
        order = {a: list(dict.fromkeys(ds[a].values.tolist())) for a in axes}
        if stacked.indexes["cell"].is_unique and ds.sizes["cell"] == math.prod(len(v) for v in order.values()):
            # Every combination is a cell, so nothing is filled; xarray still casts its NaN fill
            # value to the integer variables' types, which NumPy warns about.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "invalid value encountered in cast", RuntimeWarning)
                ds = stacked.unstack("cell").reindex(order)
    return ds

