#!/usr/bin/env python3
"""Figure for examples/kang_smooth.toml: order and uniformity of SpecGD with the smoothed
orthogonalizer O_eps(G) = G (G^T G + eps I)^(-1/2) against eps.

    python3 docs/figures/make_kang_smooth.py kang_smooth.h5 OUT.png
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kang_numbers import Run, save_figure, wilson  # noqa: E402

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(path, out):
    run = Run(path)
    eps = np.array(run.axes["optimizer.smooth_eps"], dtype=float)
    order = np.argsort(eps)
    kq, cq, fp, fm = [], [], [], []
    for c in order:
        k = run.get("outcome/order_kendall", c)
        cv = run.get("outcome/uniformity_cv", c)
        kq.append(np.nanquantile(k, [0.25, 0.5, 0.75]))
        cq.append(np.nanquantile(cv, [0.25, 0.5, 0.75]))
        n = np.isfinite(k).sum()
        fp.append((np.mean(k > 0.999), *wilson(int((k > 0.999).sum()), n)))
        fm.append((np.mean(k < -0.999), *wilson(int((k < -0.999).sum()), n)))
    e = eps[order]
    kq, cq, fp, fm = map(np.array, (kq, cq, fp, fm))

    fig, (a, b) = plt.subplots(1, 2, figsize=(8.4, 3.3), layout="constrained")
    a.fill_between(e, kq[:, 0], kq[:, 2], color="#0072B2", alpha=0.25, lw=0)
    a.plot(e, kq[:, 1], "o-", color="#0072B2", label="median order_kendall (band 25–75%)")
    a.errorbar(e, fp[:, 0], yerr=np.clip([fp[:, 0] - fp[:, 1], fp[:, 2] - fp[:, 0]], 0, None), fmt="s--", ms=4,
               color="#009E73", capsize=2, lw=1, label="fraction = +1 (smallest-first)")
    a.errorbar(e, fm[:, 0], yerr=np.clip([fm[:, 0] - fm[:, 1], fm[:, 2] - fm[:, 0]], 0, None), fmt="v--", ms=4,
               color="#D55E00", capsize=2, lw=1, label="fraction = −1 (largest-first)")
    a.set_xscale("log")
    a.set_ylim(-1.1, 1.1)
    a.set_xlabel(r"smoothing $\varepsilon$")
    a.set_ylabel(r"Kendall $\tau_b(\tau_i, s_i)$  /  fraction of seeds")
    a.axhline(0, color="0.6", lw=0.6)
    a.legend(fontsize=7, loc="lower left")
    a.set_title("Learning order", fontsize=9)
    a.grid(alpha=0.3)

    b.fill_between(e, cq[:, 0], cq[:, 2], color="#E69F00", alpha=0.3, lw=0)
    b.plot(e, cq[:, 1], "o-", color="#E69F00", label="median uniformity_cv (band 25–75%)")
    b.set_xscale("log")
    b.set_yscale("log")
    b.set_xlabel(r"smoothing $\varepsilon$")
    b.set_ylabel(r"CV of speeds $\sqrt{d_i(\tau_i)}/\tau_i$")
    b.set_title("Uniformity of growth (exact polar: ~1e-3)", fontsize=9)
    b.legend(fontsize=7, loc="upper left")
    b.grid(alpha=0.3, which="both")
    fig.suptitle(rf"SpecGD with $O_\varepsilon(G)=G(G^TG+\varepsilon I)^{{-1/2}}$, Fig. 2 setting, "
                 f"{run.seeds} seeds per ε", fontsize=10)
    save_figure(fig, out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
