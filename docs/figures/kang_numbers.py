#!/usr/bin/env python3
"""The measured numbers of docs/REPRODUCTION.md for Kang et al. (arXiv 2602.06385).

    python3 docs/figures/kang_numbers.py RUNDIR

reads the run files of the examples/kang_*.toml configs from RUNDIR (kang_uniform_growth.h5,
kang_smooth.h5, ..., whichever exist; made by the "full scale" commands in the configs' comment
blocks) and prints, per claim, the statistics quoted in the table. Intervals: Wilson 95% for
fractions; for medians the 25-75% range over seeds (written "IQR"). Needs numpy and h5py.

The make_kang_*.py figure scripts import the helpers below.
"""
import math
import os
import sys

import numpy as np

try:
    import h5py
except ImportError:  # pragma: no cover
    sys.exit("kang_numbers.py: needs h5py (Debian: python3-h5py)")
import tomllib

Z95 = 1.959963984540054


def wilson(k, n, z=Z95):
    """Wilson score 95% interval of a binomial fraction k/n."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z / den * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (max(0.0, centre - half), min(1.0, centre + half))


def frac(mask):
    """'k/n = p% [lo, hi]' with the Wilson interval."""
    mask = np.asarray(mask, dtype=bool)
    k, n = int(mask.sum()), int(mask.size)
    lo, hi = wilson(k, n)
    return f"{k}/{n} = {100 * k / n:.2f}% [{100 * lo:.2f}, {100 * hi:.2f}]"


def med(x, fmt="{:.3g}"):
    """'median (IQR a-b)' of the finite values of x."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return "n/a"
    q = np.quantile(x, [0.25, 0.5, 0.75])
    return f"{fmt.format(q[1])} (IQR {fmt.format(q[0])}-{fmt.format(q[2])})"


def bootstrap_ci(stat, samples, reps=400, seed=0):
    """95% percentile bootstrap interval of stat(*resampled) where each array in `samples` (seeds
    along axis 0) is resampled with replacement independently."""
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(reps):
        vals.append(stat(*[x[rng.integers(0, len(x), len(x))] for x in samples]))
    return tuple(np.quantile(np.array(vals), [0.025, 0.975], axis=0))


class Run:
    """One run file: per-cell views of what the claims need."""

    def __init__(self, path):
        self.path = path
        self.f = h5py.File(path, "r")
        self.config = tomllib.loads(self.f.attrs["config"])
        self.cells, self.seeds = self.f["outcome/status"].shape
        self.spectrum = np.asarray(self.f["target/spectrum"][()], dtype=float)
        self.axes = {}
        if "cells" in self.f:
            for k, ds in self.f["cells"].items():
                if k == "config":
                    continue
                v = ds[()]
                self.axes[k] = [x.decode() if isinstance(x, bytes) else x for x in v]
        cfgs = self.f["cells/config"].asstr()[()] if "cells/config" in self.f else []
        self.cell_config = [tomllib.loads(t) for t in cfgs] or [self.config]

    def get(self, name, c):
        return np.asarray(self.f[name][c])

    def lr(self, c):
        return float(self.cell_config[c]["optimizer"]["lr"])

    def delta(self, c=0):
        return float(self.cell_config[c]["record"]["hit_tolerance"])

    def depth(self):
        return int(self.config["problem"]["depth"])

    def label(self, c):
        return ", ".join(f"{k.split('.')[-1]}={v[c]}" for k, v in self.axes.items()) or "cell 0"

    def hits(self, c):
        """S x modes hitting steps, never hit = +inf."""
        s = self.spectrum[c]
        modes = min(self.f["outcome/hit_step"].shape[2], int(np.isfinite(s).sum()))
        h = self.get("outcome/hit_step", c)[:, :modes].astype(float)
        h[h < 0] = np.inf
        return h, s[:modes]


def depth_speed_cv(h, s, L, delta):
    """Per seed: CV over the modes of the depth-L speed ((1 - delta) s_i)^(1/L) / tau_i (population
    std, modes that hit), i.e. uniformity_cv in the d^(1/L) coordinates of depth L."""
    v = ((1 - delta) * s[None, :]) ** (1.0 / L) / h
    v[~np.isfinite(h)] = np.nan
    return np.nanstd(v, axis=1) / np.nanmean(v, axis=1)


def loglog_slopes(h, s):
    """Per seed: least-squares slope p of log tau_i against log s_i (seeds where every mode hit)."""
    ok = np.all(np.isfinite(h) & (h > 0), axis=1)
    x = np.log(s) - np.log(s).mean()
    y = np.log(h[ok])
    y = y - y.mean(axis=1, keepdims=True)
    return (y @ x) / (x @ x)


def save_figure(fig, out, dpi=100):
    """Writes a matplotlib figure as a 256-colour PNG (as specsweep plot does: a third of the size,
    nothing visible lost on line art) and closes it."""
    import io

    import matplotlib.pyplot as plt
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=dpi, format="png")
    plt.close(fig)
    buffer.seek(0)
    with Image.open(buffer) as image:
        image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                                      dither=Image.Dither.NONE).save(out, optimize=True)
    print(out)


# ------------------------------------------------------------------------------------------------


def uniform_growth(run, c=0, indent=""):
    h, s = run.hits(c)
    eta, d = run.lr(c), run.delta(c)
    theory = np.sqrt((1 - d) * s) / eta
    print(f"{indent}{run.seeds} seeds; modes s = {s.tolist()}, eta = {eta}")
    for i in range(len(s)):
        print(f"{indent}  mode {i + 1}: tau median {med(h[:, i])}, theory {theory[i]:.1f}, "
              f"median/theory {np.median(h[:, i]) / theory[i]:.4f}, hit {frac(np.isfinite(h[:, i]))}")
    ratio = h / theory[None, :]
    print(f"{indent}  per-seed tau_i/theory over all modes: 5-95% {np.quantile(ratio, 0.05):.4f}-"
          f"{np.quantile(ratio, 0.95):.4f}")
    print(f"{indent}  uniformity_cv {med(run.get('outcome/uniformity_cv', c))}")
    ok = run.get("outcome/order_kendall", c)
    print(f"{indent}  order_kendall {med(ok)}; = +1 in {frac(ok > 0.999)}")


def claim_uniform(rundir):
    run = Run(os.path.join(rundir, "kang_uniform_growth.h5"))
    print("== (1) SpecGD exact, Fig 2 setting")
    uniform_growth(run)


def claim_smooth(rundir):
    run = Run(os.path.join(rundir, "kang_smooth.h5"))
    print(f"== (1b) smooth(eps), {run.seeds} seeds per cell")
    for c in range(run.cells):
        h, s = run.hits(c)
        theory = np.sqrt((1 - run.delta(c)) * s) / run.lr(c)
        ok = run.get("outcome/order_kendall", c)
        print(f"  {run.label(c)}: order_kendall {med(ok)}, = +1 in {frac(ok > 0.999)}, = -1 in "
              f"{frac(ok < -0.999)}; uniformity_cv {med(run.get('outcome/uniformity_cv', c))}; "
              f"median tau/theory per mode {np.round(np.median(h, axis=0) / theory, 3).tolist()}")


def claim_gd(rundir):
    run = Run(os.path.join(rundir, "kang_gd_order.h5"))
    print(f"== (2) GD largest-first, {run.seeds} seeds per cell")
    gammas, medians = [], []
    for c in range(run.cells):
        h, s = run.hits(c)
        eta = run.lr(c)
        ts = h * s[None, :] * eta  # tau_i s_i eta per seed and mode (inf: never hit)
        full = np.all(np.isfinite(ts), axis=1)
        cv = np.std(ts[full], axis=1) / np.mean(ts[full], axis=1)
        ok = run.get("outcome/order_kendall", c)
        gamma = float(run.axes["init.scale"][c])
        gammas.append(gamma)
        medians.append(np.median(ts, axis=0))
        print(f"  gamma={gamma:g}: order_kendall = -1 in {frac(ok < -0.999)}; median tau per mode "
              f"{np.median(h, axis=0).tolist()}; median tau_i s_i eta per mode "
              f"{np.round(np.median(ts, axis=0), 3).tolist()} (ln(1/gamma) = {math.log(1 / gamma):.3f}); "
              f"per-seed CV of tau_i s_i over modes {med(cv)} (seeds with every mode hit: {frac(full)})")
    x = np.log(1 / np.array(gammas))
    m = np.array(medians)  # cells x modes

    def pooled_slope(*ts_cells):  # one slope for all modes: median tau_i s_i eta against ln(1/gamma)
        med_ = np.array([np.median(ts_, axis=0) for ts_ in ts_cells])
        return np.polyfit(np.repeat(x, med_.shape[1]), med_.ravel(), 1)[0]

    ts_all = []
    for c in range(run.cells):
        h, s = run.hits(c)
        ts_all.append(h * s[None, :] * run.lr(c))
    lo, hi = bootstrap_ci(pooled_slope, ts_all, reps=200)
    print(f"  pooled slope over all modes {pooled_slope(*ts_all):.4f} (bootstrap 95% [{lo:.4f}, {hi:.4f}])")
    slopes = [np.polyfit(x, m[:, i], 1)[0] for i in range(m.shape[1])]
    icpt = [np.polyfit(x, m[:, i], 1)[1] for i in range(m.shape[1])]
    print(f"  slope d(median tau_i s_i eta)/d ln(1/gamma) per mode: {np.round(slopes, 4).tolist()} "
          f"(theory 1); intercepts {np.round(icpt, 3).tolist()}")
    ratio_tau = m[-1] / m[0]
    print(f"  tau(gamma={gammas[-1]:g}) / tau(gamma={gammas[0]:g}) per mode: {np.round(ratio_tau, 3).tolist()}"
          f" (pure proportionality to ln(1/gamma) would give {x[-1] / x[0]:.3f})")


def claim_muon(rundir):
    run = Run(os.path.join(rundir, "kang_muon.h5"))
    print(f"== (3) Muon / Newton-Schulz, {run.seeds} seeds per cell")
    for c in range(run.cells):
        h, s = run.hits(c)
        theory = np.sqrt((1 - run.delta(c)) * s) / run.lr(c)
        ok = run.get("outcome/order_kendall", c)
        print(f"  {run.label(c)}: order_kendall {med(ok)}, = +1 in {frac(ok > 0.999)}; uniformity_cv "
              f"{med(run.get('outcome/uniformity_cv', c))}; smallest mode first in "
              f"{frac(np.argmin(h, axis=1) == len(s) - 1)}; median tau/theory "
              f"{np.round(np.median(h, axis=0) / theory, 3).tolist()}")


def claim_rank3(rundir):
    run = Run(os.path.join(rundir, "kang_rank3.h5"))
    print(f"== (4) rank 3 < 5, {run.seeds} seeds per cell")
    for c in range(run.cells):
        e = run.get("outcome/excess", c)
        q = np.quantile(e, [0.05, 0.25, 0.5, 0.75, 0.95])
        st = run.get("outcome/status", c)
        sv = run.get("trace/sv", c)[:, -1, :]  # traced seeds x r at the last record step
        s = run.spectrum[c][: sv.shape[1]]
        print(f"  {run.label(c)}: excess 5/25/50/75/95% {', '.join(f'{v:.3g}' for v in q)}; converged "
              f"{frac(st == 0)}; traced final sigma/s_i max |dev| {np.max(np.abs(sv / s - 1)):.2g}; "
              f"order_kendall = +1 in {frac(run.get('outcome/order_kendall', c) > 0.999)}")


def claim_depth(rundir):
    print("== (5) depth")
    for L in (2, 3, 4):
        path = os.path.join(rundir, f"kang_depth{L}.h5")
        if not os.path.exists(path):
            continue
        run = Run(path)
        h, s = run.hits(0)
        eta, d = run.lr(0), run.delta(0)
        theory = ((1 - d) * s) ** (1.0 / L) / eta
        p = loglog_slopes(h, s)
        mp = np.median(h, axis=0)
        pfit = np.polyfit(np.log(s), np.log(mp), 1)[0]
        lo, hi = bootstrap_ci(lambda hh: np.polyfit(np.log(s), np.log(np.median(hh, axis=0)), 1)[0], [h],
                              reps=200)
        ok = run.get("outcome/order_kendall", 0)
        print(f"  L={L}: slope of log median tau vs log s, bootstrap 95% [{lo:.4f}, {hi:.4f}]")
        print(f"  L={L} ({run.seeds} seeds): median tau {mp.tolist()} vs theory "
              f"{np.round(theory, 1).tolist()}; slope of log median tau vs log s {pfit:.4f} (1/L = "
              f"{1 / L:.4f}); per-seed slope {med(p, '{:.4f}')} over {frac(np.isfinite(h).all(axis=1))} "
              f"seeds with all hits; depth-L speed CV {med(depth_speed_cv(h, s, L, d))}; "
              f"order_kendall = +1 in {frac(ok > 0.999)}")


def claim_basin(rundir):
    run = Run(os.path.join(rundir, "kang_basin.h5"))
    st = run.get("outcome/status", 0)
    conv = st == 0
    probes = int(run.config["basin"]["probes"])
    bc = run.get("outcome/basin_converged", 0)[conv]
    bcl = run.get("outcome/basin_closer", 0)[conv]
    kc = np.rint(bc * probes).astype(int)
    kcl = np.rint(bcl * probes).astype(int)
    n = conv.sum() * probes
    print(f"== (6) basin probe, {run.seeds} seeds, {probes} probes each")
    print(f"  seeds converged {frac(conv)}; excess {med(run.get('outcome/excess', 0))}")
    lo, hi = wilson(kc.sum(), n)
    print(f"  probes converged {kc.sum()}/{n} = {100 * kc.sum() / n:.3f}% [{100 * lo:.3f}, {100 * hi:.3f}]")
    lo, hi = wilson(kcl.sum(), n)
    print(f"  probes ended closer {kcl.sum()}/{n} = {100 * kcl.sum() / n:.3f}% [{100 * lo:.3f}, {100 * hi:.3f}]")
    print(f"  seeds with every probe converged {frac(kc == probes)}, every probe closer {frac(kcl == probes)}")


def final_product_sv(run, c):
    """Singular values of F1...FL from the traced final factors (traced x r)."""
    L = run.depth()
    F = [run.get(f"trace/final/F{k + 1}", c) for k in range(L)]
    out = []
    for t in range(F[0].shape[0]):
        W = F[0][t]
        for k in range(1, L):
            W = W @ F[k][t]
        out.append(np.linalg.svd(W, compute_uv=False)[: F[0].shape[2]])
    return np.array(out)


def claim_l2(rundir):
    run = Run(os.path.join(rundir, "kang_l2.h5"))
    print(f"== (7) l2 regularization, {run.seeds} seeds per cell")
    for c in range(run.cells):
        lam = float(run.cell_config[c]["problem"]["l2"])
        s = run.spectrum[c]
        target = np.maximum(s - lam, 0)
        sv = final_product_sv(run, c)
        st = run.get("outcome/status", c)
        bal = run.get("trace/delta2_norm", c)[:, -1]
        print(f"  {run.label(c)}: converged {frac(st == 0)}; stalled {int((st == 1).sum())}; excess "
              f"{med(run.get('outcome/excess', c))}; traced final sigma(AB) max |sigma - (s-l2)_+| "
              f"{np.max(np.abs(sv - target[None, : sv.shape[1]])):.2g} over {sv.shape[0]} seeds; "
              f"max |A^T A - B B^T|_F {np.max(bal):.2g}")


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    rundir = argv[1]
    for name, fn in (("kang_uniform_growth", claim_uniform), ("kang_smooth", claim_smooth),
                     ("kang_gd_order", claim_gd), ("kang_muon", claim_muon),
                     ("kang_rank3", claim_rank3), ("kang_depth2", claim_depth),
                     ("kang_basin", claim_basin), ("kang_l2", claim_l2)):
        if os.path.exists(os.path.join(rundir, name + ".h5")):
            fn(rundir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
