#!/usr/bin/env python3
"""The muon-mfac authors' own per-seed PyTorch code for Rhee, Simon, Karkada, Fig 1c-d (final loss
against learning rate, Muon vs GD), rewritten to time it: the peer of specsweep's
bench/configs/rhee_fig1c_{muon,gd}.toml in bench/cpu_shapes.py.

Source: github.com/dkarkada/muon-mfac, fig1.ipynb (commit fbec8ed), cells 0-1 (setup, target,
loss), 3 (their `Muon` optimizer) and 5 ("EXPERIMENT 2", the learning-rate sweep).

Taken from their code, unchanged in what it computes:
- N = d = 32, float32, target M* = diag(10 * k^-1), k = 1..32 (built in float64, cast to float32);
- `torch.set_float32_matmul_precision('medium')` and a `torch.Generator` seeded with 64
  (`reseed(64)`) that draws every initialization in sweep order;
- 200 learning rates `np.logspace(log10(0.05 * 0.14), log10(20 * 0.14), 200)` = [0.007, 2.8];
- per run: W1 = randn(d, N) * alpha, W2 = randn(N, d) * alpha with alpha = 0.1, both
  `torch.nn.Parameter`; prediction W2 @ W1; loss 0.5 * ||W2 W1 - M*||_F^2;
- GD is `torch.optim.SGD(lr)` for 2000 steps; Muon is their `Muon(torch.optim.Optimizer)`: the
  exact polar factor U @ Vh of `torch.linalg.svd(G, full_matrices=False)` (no momentum, no rank
  cut, their 1-D branch kept), `p.add_(update, alpha=-lr)`, 500 steps;
- every step: `opt.zero_grad()`, the loss, `loss.item()` twice into the recorded running average
  0.5 * (loss + previous loss) / initial loss, `loss.backward()`, `opt.step()`;
- the loop order: optimizer (muon, then sgd), learning rate, one run at a time in Python.

Changed, and why:
- `@torch.compile` on `_loss` and `_polar` is dropped where PyTorch has no torch.compile (Debian
  12's PyTorch 1.13; kept on PyTorch >= 2). Both wrap one or two library calls, so eager mode
  computes the same thing; the compiled versions would save a little Python overhead per step.
- seeds per rate: they ran one initialization per learning rate; the issue's workload (and
  specsweep's configs) runs 8, so --seeds S runs S initializations per rate, one after the other
  from the same generator (default 8; --seeds 1 is their sweep exactly).
- a subset of rates (--lrs K: K of the 200, evenly spaced in index, default all) and a time
  budget per optimizer (--budget: no new run starts once it is spent), because the full sweep,
  200 x 8 x (500 + 2000) seed-steps, takes hours at this speed. Seed-steps/s are measured on what
  ran; the full sweep's time is estimated from them.
- their `flab.empirics.ExptTrace` store is a plain dict with the same keys; no tqdm, no pickle, no
  plotting. The device is the CPU (they pick CUDA when there is one).
- timing: each run is timed from its initialization to its last step (perf_counter); one short
  untimed run per optimizer first, so PyTorch's one-time initialization is not counted.

Prints one JSON line: per optimizer the seed-steps run, seconds, seed-steps/s and the median final
recorded loss over the runs (a diverged run's NaN counts as +inf, as their plot's nan_to_num does);
and the estimated seconds and seed-steps/s of the whole sweep (200 rates x 8 seeds, both optimizers).

Usage: /usr/bin/python3 bench/peers/muon_mfac_fig1c.py [--lrs 200] [--seeds 8]
           [--optimizers muon,sgd] [--budget SECONDS] [--threads 0]
"""

import argparse
import json
import time

import numpy as np
import torch
import torch.optim as optim

DEVICE = torch.device("cpu")
DTYPE = torch.float32
N = 32
EXPONENT = 1.0
ALPHA = 1e-1
LR_MAX = 0.14
NUM_LRS = 200
STEPS = {"muon": 500, "sgd": 2000}
SWEEP_SEEDS = 8  # the full sweep, whose time is estimated: 200 rates x 8 seeds

compile_ = getattr(torch, "compile", lambda fn: fn)  # PyTorch 1.13: eager

RNG = None


def reseed(seed: int) -> None:
    global RNG
    RNG = torch.Generator(device=DEVICE).manual_seed(seed)


def make_target(n: int, exponent: float) -> torch.Tensor:
    offset = 1
    sv = 10 * torch.arange(offset, n + offset, dtype=torch.float64) ** (-exponent)
    return torch.diag(sv).to(dtype=DTYPE, device=DEVICE)


@compile_
def _loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return 0.5 * (pred - target).pow(2).sum()


@compile_
def _polar(G: torch.Tensor) -> torch.Tensor:
    U, _, Vh = torch.linalg.svd(G, full_matrices=False)
    return U @ Vh


class Muon(optim.Optimizer):

    def __init__(self, params, lr: float = 0.01, ns_steps: int = 5):
        defaults = dict(lr=lr, ns_steps=ns_steps)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            lr = group["lr"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                G = p.grad
                if G.ndim < 2:
                    update = G / (G.norm() + 1e-7)
                else:
                    update = _polar(G)
                p.add_(update, alpha=-lr)


def one_run(opt_name, lr, num_steps, m_star, loss_init, losses, key_lr):
    """Their inner loop for one initialization at one learning rate."""
    d = N
    W1 = torch.nn.Parameter(torch.randn(d, N, generator=RNG, dtype=DTYPE, device=DEVICE) * ALPHA)
    W2 = torch.nn.Parameter(torch.randn(N, d, generator=RNG, dtype=DTYPE, device=DEVICE) * ALPHA)
    if opt_name == "sgd":
        opt = optim.SGD([W1, W2], lr=lr)
    elif opt_name == "muon":
        opt = Muon([W1, W2], lr=lr)
    prev_loss = 0
    for t in range(num_steps):
        opt.zero_grad()
        loss = _loss(W2 @ W1, m_star)
        losses[opt_name, t, key_lr] = 0.5 * (loss.item() + prev_loss) / loss_init
        prev_loss = loss.item()
        loss.backward()
        opt.step()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lrs", type=int, default=NUM_LRS, help="run K of the 200 rates, evenly spaced")
    p.add_argument("--seeds", type=int, default=8, help="initializations per rate (theirs: 1)")
    p.add_argument("--optimizers", default="muon,sgd")
    p.add_argument("--budget", type=float, help="seconds per optimizer; no new run starts after it")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: PyTorch's default)")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    if hasattr(torch, "set_float32_matmul_precision"):
        torch.set_float32_matmul_precision("medium")

    m_star = make_target(N, EXPONENT)
    loss_init = 0.5 * (m_star.pow(2).sum().item())
    lrs = np.logspace(np.log10(5e-2 * LR_MAX), np.log10(20 * LR_MAX), num=NUM_LRS, base=10)
    picked = np.unique(np.round(np.linspace(0, NUM_LRS - 1, min(a.lrs, NUM_LRS))).astype(int))

    out = {"peer": "muon-mfac-fig1c", "torch_version": torch.__version__,
           "threads": torch.get_num_threads(), "seeds_per_lr": a.seeds, "lrs_run_of_200": len(picked)}
    full_seconds = full_seed_steps = 0.0
    reseed(64)
    for opt_name in a.optimizers.split(","):
        num_steps = STEPS[opt_name]
        one_run(opt_name, 0.01, 20, m_star, loss_init, {}, None)  # untimed warm-up
        losses, seconds, runs, lrs_run = {}, 0.0, 0, []
        for i in picked:
            lr = float(lrs[i])
            for _ in range(a.seeds):
                if a.budget is not None and seconds >= a.budget:
                    break
                start = time.perf_counter()
                one_run(opt_name, lr, num_steps, m_star, loss_init, losses, lr)
                seconds += time.perf_counter() - start
                runs += 1
                lrs_run.append(lr)
        final = np.nan_to_num([losses[opt_name, num_steps - 1, lr] for lr in lrs_run], nan=np.inf)
        rate = runs * num_steps / seconds
        out[opt_name] = {"steps": num_steps, "runs": runs, "seed_steps": runs * num_steps,
                         "seconds": seconds, "seed_steps_per_s": rate,
                         "lr_range_run": [min(lrs_run), max(lrs_run)],
                         "median_final_loss": float(np.median(final))}
        full_seed_steps += NUM_LRS * SWEEP_SEEDS * num_steps
        full_seconds += NUM_LRS * SWEEP_SEEDS * num_steps / rate
    out["full_sweep"] = {"seed_steps": full_seed_steps, "estimated_seconds": full_seconds,
                         "seed_steps_per_s": full_seed_steps / full_seconds}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
