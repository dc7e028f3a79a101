#!/usr/bin/env python3
"""Rhee, Simon, Karkada (arXiv 2606.30509), Fig 1c: final loss against the learning rate.

The loss plotted is the paper's: loss / (1/2 ||M||^2) averaged over the last two steps, the
per-seed /outcome/window_loss with record.loss_window = 2 (both example configs set it): above
lr ~1.2 Muon's loss alternates between two values, so the last step alone depends on the parity of
the step count.

    make_rhee_lr.py GD.h5 MUON.h5 [--out docs/figures/rhee_lr.png]

GD.h5, MUON.h5: runs of examples/rhee_lr_gd.toml and examples/rhee_lr_muon.toml. Prints
- GD: the largest lr at which every seed converged, the smallest at which none did, the lr where
  the diverged fraction first reaches 1/2 and 1 (the "critical rate"), against the prediction
  2 / lambda_max = 2 / (2 s_max) = 0.1 (sharpness of the balanced global minima, see
  docs/REPRODUCTION.md);
- Muon: the number of diverged seeds, and the slope of log(median final loss) against log(lr) over
  the rates where no seed diverged, with a bootstrap 95% interval (seeds resampled within each rate,
  2000 resamples), on [0.007, 0.14] and on the whole range;
and draws both series (median final loss, 5-95% band) with the diverged fraction beneath.
"""
import argparse
import sys
import warnings

import h5py
import numpy as np
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load(path):
    with h5py.File(path, "r") as f:
        lr = np.asarray(f["cells/optimizer.lr"][()], dtype=float)
        st = np.asarray(f["outcome/status"][()])
        fl = np.asarray(f["outcome/window_loss"][()], dtype=float)
    o = np.argsort(lr)
    return lr[o], st[o], fl[o]


def slope_ci(lr, fl, sel, rng, reps=2000):
    x = np.log(lr[sel])
    y = np.log(np.median(fl[sel], axis=1))
    b = np.polyfit(x, y, 1)[0]
    S = fl.shape[1]
    boots = []
    sub = fl[sel]
    for _ in range(reps):
        idx = rng.integers(0, S, size=sub.shape)
        boots.append(np.polyfit(x, np.log(np.median(np.take_along_axis(sub, idx, 1), axis=1)), 1)[0])
    return b, np.percentile(boots, [2.5, 97.5])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gd")
    ap.add_argument("muon")
    ap.add_argument("--out", default="docs/figures/rhee_lr.png")
    a = ap.parse_args()
    rng = np.random.default_rng(0)

    lr, st, fl = load(a.gd)
    S = st.shape[1]
    conv = (st == 0).mean(axis=1)
    div = (st == 2).mean(axis=1)
    all_conv = lr[conv == 1]
    none_conv = lr[(conv == 0) & (lr > all_conv.max())]
    print(f"GD ({S} seeds per rate, {len(lr)} rates):")
    print(f"  all seeds converged (in 2000 steps) for lr {all_conv.min():.4f}..{all_conv.max():.4f}; "
          f"none above, from lr {none_conv.min():.4f}")
    for level in (0.5, 1.0):
        i = np.flatnonzero(div >= level)
        print(f"  diverged fraction first >= {level}: lr {lr[i[0]]:.4f}" if len(i) else
              f"  diverged fraction never reaches {level}")
    band = (lr > 0.095) & (lr < 0.14)
    for x, c, d, m in zip(lr[band], conv[band], div[band], np.median(fl[band], axis=1)):
        print(f"    lr {x:.4f}: converged {c:.2f}, diverged {d:.2f}, median final relative loss {m:.3g}")
    print("  prediction 2/lambda_max = 2/(2 s_max) = 0.1")

    mlr, mst, mfl = load(a.muon)
    ndiv = int(np.sum(mst == 2))
    print(f"Muon ({mst.shape[1]} seeds per rate, {len(mlr)} rates): diverged seeds {ndiv} of {mst.size}")
    stable = ~(mst == 2).any(axis=1)
    for name, sel in (("lr 0.007-0.14", stable & (mlr <= 0.14)), ("all stable rates", stable)):
        b, ci = slope_ci(mlr, mfl, sel, rng)
        print(f"  slope of log median final relative loss vs log lr ({name}): {b:.3f} "
              f"[bootstrap 95%: {ci[0]:.3f}, {ci[1]:.3f}]")

    fig, (ax, axd) = plt.subplots(2, 1, figsize=(6.6, 5.0), sharex=True, layout="constrained",
                                  gridspec_kw={"height_ratios": [3, 1]})
    for name, (x, s, f_), col in (("GD, 2000 steps", (lr, st, fl), "#0072B2"),
                                 ("Muon (exact, no momentum), 500 steps", (mlr, mst, mfl), "#E69F00")):
        keep = np.where(s != 2, f_, np.nan)
        with warnings.catch_warnings():  # all-diverged rates: NaN, not drawn
            warnings.simplefilter("ignore", RuntimeWarning)
            q = np.nanpercentile(keep, [5, 50, 95], axis=1)
        q = np.where(q > 0, q, np.nan)
        ax.fill_between(x, q[0], q[2], color=col, alpha=0.2, lw=0)
        ax.plot(x, q[1], color=col, lw=1.5, label=name)
        axd.plot(x, (s == 2).mean(axis=1), color=col, lw=1.3)
    g = np.geomspace(0.007, 2.8, 10)
    ref = np.median(mfl[0]) * (g / mlr[0]) ** 2
    ax.plot(g, ref, color="0.3", ls=":", lw=1.0, label=r"$\propto \eta^2$")
    for axx in (ax, axd):
        axx.axvline(0.1, color="#D55E00", ls="--", lw=1.0)
    ax.text(0.104, 0.45, r"$2/\lambda_{max} = 0.1$", color="#D55E00", fontsize=8,
            transform=ax.get_xaxis_transform())
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylabel("loss / ½‖M‖², mean of the last 2 steps\n(non-diverged seeds) median, 5–95%")
    ax.set_title("Rhee et al. Fig 1c: N = d = 32, M* = diag(10/k), α = 0.1", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    axd.set_ylim(-0.05, 1.05)
    axd.set_ylabel("diverged\nfraction")
    axd.set_xlabel("learning rate η")
    axd.grid(True, which="major", alpha=0.3)
    fig.savefig(a.out, dpi=110)
    print(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
