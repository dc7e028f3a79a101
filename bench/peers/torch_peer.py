#!/usr/bin/env python3
"""PyTorch performance peer for specsweep: SpecGD / Muon on LoRA-style matrix factorization.

The experiment as a researcher would write it in PyTorch: every seed's factors stacked along a
leading seed axis, batched matmul (`@` on 3-D tensors is bmm), `torch.linalg.svd` for the exact
polar factor, and optionally `torch.compile` on the step function (PyTorch 2; Debian's 1.13 has
none), 2 intra-op threads by default (--threads). Same workloads (workloads.py, any depth-2 shape
with --shape), optimizers (specgd with the exact polar factor, muon with jordan5 Newton-Schulz and
Nesterov momentum 0.95, gd),
update rules, recorded quantities (loss before each update, hitting times from the core
diagonal) and JSON line as numpy_peer.py; the initial arrays come from the same NumPy draw, so
the loss curves agree with the NumPy peer's (check_peers.py).

Timing: a warm-up of WARMUP_STEPS steps first (CUDA context, cuBLAS/cuSOLVER handles, compilation
with --compile), reported as warmup_s, then the whole run from the initial point, with the device
synchronized before the clock stops. --budget SECONDS shortens the timed run to the steps that
fit at the rate of the warm-up's second step (seed-steps/s stays comparable); "steps" is what
ran, "steps_requested" what was asked.

Usage:  python3 torch_peer.py [--workload kang|medium|large] [--optimizer specgd|muon|gd]
                              [--seeds 1024] [--steps 400] [--seed 0] [--dtype float32|float64]
                              [--shape M,N,R --spectrum S --init lora|gaussian --scale X --lr X
                               --basis random|identity] [--curves]
                              [--device cpu|cuda] [--compile] [--budget SECONDS] [--threads 2]
Prints one JSON line; ``run(...)`` returns the same dict.
"""

import argparse
import json
import time

import torch

from workloads import (MOMENTUM, NS_COEFFS, NS_STEPS, SVD_RTOL, add_arguments, problem, summarize,
                       workload_from_args)

WARMUP_STEPS = 2  # a slow step on the GPU can take seconds: the fewest that give an estimate
RTOL = {getattr(torch, name): rtol for name, rtol in SVD_RTOL.items()}


def polar(g, rtol):
    """Batched polar factor U V^T of the thin SVD, dropping sigma < rtol*sigma_max."""
    u, s, vh = torch.linalg.svd(g, full_matrices=False)
    keep = s > rtol * s[..., :1]  # strict: polar(0) = 0
    return (u * keep.unsqueeze(-2).to(g.dtype)) @ vh


def newton_schulz(g):
    """Batched jordan5 Newton-Schulz, iterating on the small Gram side."""
    a, b, c = NS_COEFFS
    norm = g.square().sum((-2, -1), keepdim=True).sqrt()
    x = g / torch.where(norm > 0, norm, 1.0)  # zero stays zero
    tall = g.shape[-2] > g.shape[-1]
    for _ in range(NS_STEPS):
        if tall:
            gram = x.mT @ x
            x = a * x + x @ (b * gram + c * (gram @ gram))
        else:
            gram = x @ x.mT
            x = a * x + (b * gram + c * (gram @ gram)) @ x
    return x


def measure(fa, fb, tau, t, target, ut, v, threshold):
    """Residual, per-seed loss and updated hitting steps at step t (a 0-d tensor)."""
    resid = fa @ fb - target
    loss = 0.5 * resid.square().sum((1, 2))
    d = ((ut @ fa) * (fb @ v).mT).sum(-1)  # diag of (U^T A)(B V)
    tau = torch.where((d >= threshold) & (tau < 0), t, tau)
    return resid, loss, tau


def specgd_step(fa, fb, ba, bb, tau, t, target, ut, v, threshold, lr):
    resid, loss, tau = measure(fa, fb, tau, t, target, ut, v, threshold)
    rtol = RTOL[fa.dtype]
    fa_new = fa - lr * polar(resid @ fb.mT, rtol)
    fb_new = fb - lr * polar(fa.mT @ resid, rtol)
    return fa_new, fb_new, ba, bb, tau, loss


def muon_step(fa, fb, ba, bb, tau, t, target, ut, v, threshold, lr):
    resid, loss, tau = measure(fa, fb, tau, t, target, ut, v, threshold)
    ga, gb = resid @ fb.mT, fa.mT @ resid
    ba, bb = MOMENTUM * ba + ga, MOMENTUM * bb + gb
    fa_new = fa - lr * newton_schulz(ga + MOMENTUM * ba)  # nesterov
    fb_new = fb - lr * newton_schulz(gb + MOMENTUM * bb)
    return fa_new, fb_new, ba, bb, tau, loss


def gd_step(fa, fb, ba, bb, tau, t, target, ut, v, threshold, lr):
    resid, loss, tau = measure(fa, fb, tau, t, target, ut, v, threshold)
    fa_new = fa - lr * (resid @ fb.mT)
    fb_new = fb - lr * (fa.mT @ resid)
    return fa_new, fb_new, ba, bb, tau, loss


STEPS = {"specgd": specgd_step, "muon": muon_step, "gd": gd_step}
# dynamic=False: one specialized graph per workload shape, as a researcher's single-shape script
# gets; compiled once per process and reused by repeated run() calls. PyTorch < 2 (Debian 12's
# 1.13) has no torch.compile: there --compile is refused and only the eager peer runs.
HAS_COMPILE = hasattr(torch, "compile")
COMPILED = ({name: torch.compile(fn, dynamic=False) for name, fn in STEPS.items()} if HAS_COMPILE
            else {})


def run(optimizer="specgd", seeds=1024, steps=400, dtype="float32", seed=0, workload="kang",
        device="cpu", compile=False, budget=None, curves=False, threads=None):
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # FP32 means FP32 (the SGEMM ceiling too)
    if compile and not HAS_COMPILE:
        raise RuntimeError(f"torch {torch.__version__} has no torch.compile")
    if threads:
        torch.set_num_threads(threads)
    p = problem(workload, seeds, seed)
    dt = getattr(torch, dtype)
    as_t = lambda x: torch.tensor(x, dtype=dt, device=device)  # copies: p is shared
    consts = tuple(as_t(x) for x in (p.target, p.ut, p.v, p.threshold)) + (p.lr,)
    step = (COMPILED if compile else STEPS)[optimizer]
    ts = torch.arange(max(steps, WARMUP_STEPS) + 1, dtype=torch.int32, device=device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def initial_state():
        fa, fb = as_t(p.fa), as_t(p.fb)
        tau = torch.full((seeds, len(p.threshold)), -1, dtype=torch.int32, device=device)
        return fa, fb, torch.zeros_like(fa), torch.zeros_like(fb), tau

    def trajectory(state, n):
        fa, fb, ba, bb, tau = state
        loss = torch.empty(n + 1, seeds, dtype=dt, device=device)
        for t in range(n):
            fa, fb, ba, bb, tau, loss[t] = step(fa, fb, ba, bb, tau, ts[t], *consts)
        _, loss[n], tau = measure(fa, fb, tau, ts[n], *consts[:-1])
        return loss, tau

    state, times = initial_state(), []
    sync()
    start = time.perf_counter()
    for t in range(WARMUP_STEPS):
        began = time.perf_counter()
        state = step(*state, ts[t], *consts)[:5]
        sync()
        times.append(time.perf_counter() - began)
    warmup_s = time.perf_counter() - start
    per_step = times[-1]  # the first step paid for initialization and compilation

    run_steps = steps if budget is None else max(1, min(steps, int(budget / per_step)))
    state = initial_state()
    sync()
    start = time.perf_counter()
    loss, tau = trajectory(state, run_steps)
    sync()
    seconds = time.perf_counter() - start
    return summarize("torch-compile" if compile else "torch", workload, optimizer, dtype, seconds,
                     loss.double().cpu().numpy(), tau.cpu().numpy(), curves, device=device,
                     steps_requested=steps, warmup_s=warmup_s, threads=torch.get_num_threads(),
                     torch_version=torch.__version__)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(p)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--compile", action="store_true", help="torch.compile the step function")
    p.add_argument("--budget", type=float, help="seconds for the timed run (fewer steps if needed)")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (0: PyTorch's default)")
    a = p.parse_args()
    print(json.dumps(run(a.optimizer, a.seeds, a.steps, a.dtype, a.seed, workload_from_args(a),
                         a.device, a.compile, a.budget, a.curves, a.threads)))


if __name__ == "__main__":
    main()
