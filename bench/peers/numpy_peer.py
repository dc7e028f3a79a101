#!/usr/bin/env python3
"""NumPy performance peer for specsweep: SpecGD / Muon on LoRA-style matrix factorization.

This is the experiment a researcher would write by hand in NumPy (batched ``np.matmul`` over a
leading seed axis, batched ``np.linalg.svd``), used as a CPU performance peer and numerical
cross-check of the C++/CUDA engine (DESIGN.md sections 1-3 and 9). The workloads (the Kang
setting by default; workloads.py describes them) are shared with the PyTorch and JAX peers.
Every step and for every seed it records the loss (before the update) and the core diagonal
d_i = (U^T W V)_ii, from which the hitting times tau_i = first t with d_i >= 0.95 s_i are taken,
as the engine does.

The FLOP model used to turn seed-steps/s into FLOP/s lives in bench/FLOP_MODEL.md.

Usage:  python3 numpy_peer.py [--workload kang|medium|large] [--optimizer specgd|muon|gd]
                              [--seeds 1024] [--steps 400] [--seed 0] [--dtype float32|float64]
                              [--shape M,N,R --spectrum S --init lora|gaussian --scale X --lr X
                               --basis random|identity] [--curves]
Prints one JSON line; ``run(...)`` returns the same dict.
"""

import argparse
import json
import time

import numpy as np

from workloads import (MOMENTUM, NS_COEFFS, NS_STEPS, SVD_RTOL, add_arguments, problem, summarize,
                       workload_from_args)


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


def run(optimizer="specgd", seeds=1024, steps=400, dtype="float32", seed=0, workload="kang",
        curves=False):
    dt = np.dtype(dtype).type
    p = problem(workload, seeds, seed)
    target, ut, vv, threshold = (x.astype(dt) for x in (p.target, p.ut, p.v, p.threshold))
    fb = p.fb.astype(dt)
    fa = p.fa.astype(dt)
    lr = dt(p.lr)

    if optimizer == "specgd":
        rtol = SVD_RTOL[dtype]
        direction = lambda g, _buf: polar(g, rtol)
    elif optimizer == "muon":
        def direction(g, buf):
            buf *= MOMENTUM
            buf += g
            return newton_schulz(g + MOMENTUM * buf)  # nesterov
    elif optimizer == "gd":
        direction = lambda g, _buf: g
    else:
        raise ValueError(f"unknown optimizer {optimizer!r}")
    buf_a, buf_b = np.zeros_like(fa), np.zeros_like(fb)

    loss = np.empty((steps + 1, seeds), dtype=np.float64)
    tau = np.full((seeds, len(threshold)), -1, dtype=np.int64)

    def measure(t, resid):
        loss[t] = 0.5 * np.sum(resid * resid, axis=(1, 2))
        # d_i = (U^T A B V)_ii through the k x r and r x k projections of the factors.
        d = np.einsum("sik,ski->si", ut @ fa, fb @ vv)
        newly = (d >= threshold) & (tau < 0)
        tau[newly] = t

    start = time.perf_counter()
    for t in range(steps):
        resid = fa @ fb - target
        measure(t, resid)
        grad_a = resid @ np.swapaxes(fb, 1, 2)
        grad_b = np.swapaxes(fa, 1, 2) @ resid
        fa -= lr * direction(grad_a, buf_a)
        fb -= lr * direction(grad_b, buf_b)
    measure(steps, fa @ fb - target)
    seconds = time.perf_counter() - start
    return summarize("numpy", workload, optimizer, dtype, seconds, loss, tau, curves, device="cpu")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(p)
    a = p.parse_args()
    print(json.dumps(run(a.optimizer, a.seeds, a.steps, a.dtype, a.seed, workload_from_args(a),
                         a.curves)))


if __name__ == "__main__":
    main()
