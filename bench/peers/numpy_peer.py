#!/usr/bin/env python3
"""NumPy performance peer for specsweep: SpecGD / Muon on LoRA-style matrix factorization.

This is the experiment a researcher would write by hand in NumPy (batched
``np.matmul`` over a leading seed axis, batched ``np.linalg.svd``), used as a
CPU performance peer and numerical cross-check of the C++/CUDA engine
(DESIGN.md sections 1-3 and 9). Workload ("Kang setting", arXiv 2602.06385,
Fig. 2): target M = U diag(5,4,3,2,1) V^T with m=60, n=70 and random
orthonormal U, V shared by all seeds; W = A B with r=5, A = 0 and
B = 1e-3 * N(0,1) per seed; loss 1/2 ||AB - M||_F^2; constant lr 0.01.
Every step and for every seed it records the loss (before the update) and the
core diagonal d_i = (U^T W V)_ii, from which the hitting times
tau_i = first t with d_i >= 0.95 s_i are taken, as the engine does.

The FLOP model used to turn seed-steps/s into FLOP/s lives in bench/FLOP_MODEL.md.

Usage:  python3 numpy_peer.py [--optimizer specgd|muon] [--seeds 1024]
                              [--steps 400] [--seed 0] [--dtype float32|float64]
Prints one JSON line; ``run(...)`` returns the same dict.
"""

import argparse
import json
import time

import numpy as np

M_ROWS, N_COLS, RANK = 60, 70, 5
SPECTRUM = (5.0, 4.0, 3.0, 2.0, 1.0)
GAMMA = 1e-3
LR = 0.01
HIT_DELTA = 0.05
MOMENTUM = 0.95
NS_COEFFS = (3.4445, -4.7750, 2.0315)  # "jordan5"
NS_STEPS = 5
SVD_RTOL = {np.float32: 1e-7, np.float64: 1e-14}


def random_orthonormal(rng, rows, cols):
    """Haar-random orthonormal columns: QR of a Gaussian with diag(R) > 0."""
    q, r = np.linalg.qr(rng.standard_normal((rows, cols)))
    return q * np.sign(np.diag(r))


def polar(g, rtol):
    """Batched polar factor U V^T of the thin SVD, dropping sigma < rtol*sigma_max."""
    u, s, vh = np.linalg.svd(g, full_matrices=False)
    keep = s > rtol * s[..., :1]  # strict: polar(0) = 0
    return (u * keep[..., None, :].astype(g.dtype)) @ vh


def newton_schulz(g):
    """Batched jordan5 Newton-Schulz, iterating on the small Gram side."""
    a, b, c = NS_COEFFS
    norm = np.sqrt(np.sum(g * g, axis=(-2, -1), keepdims=True))
    x = np.divide(g, norm, out=np.zeros_like(g), where=norm > 0)
    tall = g.shape[-2] > g.shape[-1]
    for _ in range(NS_STEPS):
        if tall:
            gram = np.swapaxes(x, -1, -2) @ x
            x = a * x + x @ (b * gram + c * (gram @ gram))
        else:
            gram = x @ np.swapaxes(x, -1, -2)
            x = a * x + (b * gram + c * (gram @ gram)) @ x
    return x


def run(optimizer="specgd", seeds=1024, steps=400, dtype="float32", seed=0):
    dt = np.dtype(dtype).type
    rng = np.random.default_rng(seed)

    # Setup (not timed): target shared by all seeds, LoRA init per seed.
    u = random_orthonormal(rng, M_ROWS, RANK)
    v = random_orthonormal(rng, N_COLS, RANK)
    s = np.asarray(SPECTRUM)
    target = ((u * s) @ v.T).astype(dt)
    ut, vv = u.T.astype(dt), v.astype(dt)
    threshold = ((1.0 - HIT_DELTA) * s).astype(dt)

    fa = np.zeros((seeds, M_ROWS, RANK), dtype=dt)
    fb = (GAMMA * rng.standard_normal((seeds, RANK, N_COLS))).astype(dt)

    if optimizer == "specgd":
        rtol = SVD_RTOL[dt]
        direction = lambda g, _buf: polar(g, rtol)
    elif optimizer == "muon":
        def direction(g, buf):
            buf *= MOMENTUM
            buf += g
            return newton_schulz(g + MOMENTUM * buf)  # nesterov
    else:
        raise ValueError(f"unknown optimizer {optimizer!r}")
    buf_a, buf_b = np.zeros_like(fa), np.zeros_like(fb)

    loss = np.empty((steps + 1, seeds), dtype=np.float64)
    tau = np.full((seeds, RANK), -1, dtype=np.int64)

    def measure(t, resid):
        loss[t] = 0.5 * np.sum(resid * resid, axis=(1, 2))
        # d_i = (U^T A B V)_ii through the r x r projections of the factors.
        d = np.einsum("sik,ski->si", ut @ fa, fb @ vv)
        newly = (d >= threshold) & (tau < 0)
        tau[newly] = t

    start = time.perf_counter()
    for t in range(steps):
        resid = fa @ fb - target
        measure(t, resid)
        grad_a = resid @ np.swapaxes(fb, 1, 2)
        grad_b = np.swapaxes(fa, 1, 2) @ resid
        fa -= dt(LR) * direction(grad_a, buf_a)
        fb -= dt(LR) * direction(grad_b, buf_b)
    measure(steps, fa @ fb - target)
    seconds = time.perf_counter() - start

    marks = [0, steps // 4, steps // 2, 3 * steps // 4, steps]
    median_hit = [float(np.median(col[col >= 0])) if np.any(col >= 0) else None
                  for col in tau.T]
    return {
        "peer": "numpy",
        "optimizer": optimizer,
        "dtype": np.dtype(dt).name,
        "seeds": seeds,
        "steps": steps,
        "seconds": seconds,
        "seed_steps_per_s": seeds * steps / seconds,
        "median_loss": [float(np.median(loss[t])) for t in marks],
        "median_hit": median_hit,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--optimizer", choices=("specgd", "muon"), default="specgd")
    p.add_argument("--seeds", type=int, default=1024)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--seed", type=int, default=0, help="RNG seed (target and init)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    a = p.parse_args()
    print(json.dumps(run(a.optimizer, a.seeds, a.steps, a.dtype, a.seed)))


if __name__ == "__main__":
    main()
