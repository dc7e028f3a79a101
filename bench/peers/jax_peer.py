#!/usr/bin/env python3
"""JAX performance peer for specsweep: SpecGD / Muon on LoRA-style matrix factorization.

The experiment as a researcher would write it in JAX: a step function for one seed, `jax.vmap`
over seeds, `lax.scan` over steps, the whole trajectory under `jax.jit`; `jnp.linalg.svd` for the
exact polar factor. Same workloads (workloads.py, any depth-2 shape with --shape), optimizers
(specgd with the exact polar factor, muon with jordan5 Newton-Schulz and Nesterov momentum 0.95,
gd), update rules, recorded quantities (loss before
each update, hitting times from the core diagonal) and JSON line as numpy_peer.py; the initial
arrays come from the same NumPy draw, so the loss curves agree with the NumPy peer's
(check_peers.py). Matmuls run at "highest" precision: on a GPU JAX's default lets float32 dots
use TF32, which would be a different (and cheaper) computation from everyone else's.

Timing: the scan length is part of the compiled program, so the warm-up (warmup_s) compiles and
runs a one-step trajectory, times a second run of it to estimate a step, and compiles the
full-length program; then that program runs once, timed until its results are ready.
--budget SECONDS shortens the timed run to the steps the estimate says fit (seed-steps/s stays
comparable); "steps" is what ran, "steps_requested" what was asked. Compiled programs are kept,
so repeated run() calls in one process compile once.

Threads: XLA's CPU runtime uses every core it sees (2 on the project's build machine); no flag.

Usage:  python3 jax_peer.py [--workload kang|medium|large] [--optimizer specgd|muon|gd]
                            [--seeds 1024] [--steps 400] [--seed 0] [--dtype float32|float64]
                            [--shape M,N,R --spectrum S --init lora|gaussian --scale X --lr X
                             --basis random|identity] [--curves]
                            [--device cpu|cuda] [--budget SECONDS]
Prints one JSON line; ``run(...)`` returns the same dict.
"""

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from workloads import (MOMENTUM, NS_COEFFS, NS_STEPS, SVD_RTOL, add_arguments, problem, summarize,
                       workload_from_args)

jax.config.update("jax_enable_x64", True)  # for --dtype float64; every array's dtype is explicit
jax.config.update("jax_default_matmul_precision", "highest")


def polar(g, rtol):
    """Polar factor U V^T of the thin SVD of one matrix, dropping sigma < rtol*sigma_max."""
    u, s, vh = jnp.linalg.svd(g, full_matrices=False)
    keep = s > rtol * s[0]  # strict: polar(0) = 0
    return (u * keep.astype(g.dtype)) @ vh


def newton_schulz(g):
    """jordan5 Newton-Schulz on one matrix, iterating on the small Gram side."""
    a, b, c = NS_COEFFS
    norm = jnp.sqrt(jnp.sum(g * g))
    x = g / jnp.where(norm > 0, norm, 1.0)  # zero stays zero
    for _ in range(NS_STEPS):
        if g.shape[0] > g.shape[1]:
            gram = x.T @ x
            x = a * x + x @ (b * gram + c * (gram @ gram))
        else:
            gram = x @ x.T
            x = a * x + (b * gram + c * (gram @ gram)) @ x
    return x


def trajectory(state, ts, target, ut, v, threshold, lr, optimizer):
    """All seeds' trajectories over steps ts[:-1]; the loss is recorded before every update and
    once more at ts[-1]. Returns (loss: len(ts) x seeds, hitting steps: seeds x k)."""
    rtol = SVD_RTOL[target.dtype.name]

    def measure(fa, fb, tau, t):
        resid = fa @ fb - target
        d = jnp.sum((ut @ fa) * (fb @ v).T, axis=1)  # diag of (U^T A)(B V)
        return resid, 0.5 * jnp.sum(resid * resid), jnp.where((d >= threshold) & (tau < 0), t, tau)

    def step(seed_state, t):  # one seed
        fa, fb, ba, bb, tau = seed_state
        resid, loss, tau = measure(fa, fb, tau, t)
        ga, gb = resid @ fb.T, fa.T @ resid
        if optimizer == "specgd":
            da, db = polar(ga, rtol), polar(gb, rtol)
        elif optimizer == "gd":
            da, db = ga, gb
        else:
            ba, bb = MOMENTUM * ba + ga, MOMENTUM * bb + gb
            da = newton_schulz(ga + MOMENTUM * ba)  # nesterov
            db = newton_schulz(gb + MOMENTUM * bb)
        return (fa - lr * da, fb - lr * db, ba, bb, tau), loss

    state, loss = lax.scan(jax.vmap(step, in_axes=(0, None)), state, ts[:-1])
    fa, fb, _, _, tau = state
    _, last, tau = jax.vmap(measure, in_axes=(0, 0, 0, None))(fa, fb, tau, ts[-1])
    return jnp.concatenate([loss, last[None]]), tau


_jitted = jax.jit(trajectory, static_argnames="optimizer")
_compiled = {}


def compiled(args, optimizer):
    """The compiled program for these argument shapes, compiling it on first use."""
    leaves = jax.tree_util.tree_leaves(args)
    key = (optimizer,) + tuple((a.shape, a.dtype.name, a.sharding) for a in leaves)
    if key not in _compiled:
        _compiled[key] = _jitted.lower(*args, optimizer=optimizer).compile()
    return _compiled[key]


def run(optimizer="specgd", seeds=1024, steps=400, dtype="float32", seed=0, workload="kang",
        device="cpu", budget=None, curves=False):
    dev = jax.devices("gpu" if device == "cuda" else "cpu")[0]
    p = problem(workload, seeds, seed)
    put = lambda x, dt=dtype: jax.device_put(np.asarray(x, dtype=dt), dev)
    consts = tuple(put(x) for x in (p.target, p.ut, p.v, p.threshold, p.lr))
    tau = np.full((seeds, len(p.threshold)), -1)
    state = (put(p.fa), put(p.fb), put(np.zeros_like(p.fa)), put(np.zeros_like(p.fb)),
             put(tau, "int32"))
    ts = lambda n: put(np.arange(n + 1), "int32")

    def timed(args):
        start = time.perf_counter()
        out = jax.block_until_ready(compiled(args, optimizer)(*args))
        return out, time.perf_counter() - start

    start = time.perf_counter()
    probe = (state, ts(1)) + consts  # one step: a slow step on the GPU can take seconds
    timed(probe)
    per_step = timed(probe)[1]
    run_steps = steps if budget is None else max(1, min(steps, int(budget / per_step)))
    args = (state, ts(run_steps)) + consts
    compiled(args, optimizer)
    warmup_s = time.perf_counter() - start

    (loss, tau), seconds = timed(args)
    loss, tau = jax.device_get((loss, tau))
    return summarize("jax", workload, optimizer, dtype, seconds, loss.astype("float64"), tau, curves,
                     device=device, steps_requested=steps, warmup_s=warmup_s,
                     jax_version=jax.__version__)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(p)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--budget", type=float, help="seconds for the timed run (fewer steps if needed)")
    a = p.parse_args()
    print(json.dumps(run(a.optimizer, a.seeds, a.steps, a.dtype, a.seed, workload_from_args(a),
                         a.device, a.budget, a.curves)))


if __name__ == "__main__":
    main()
