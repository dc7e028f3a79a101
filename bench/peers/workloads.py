"""The benchmark workloads (issue 4) and what every peer shares: the problem, its random draw and
the JSON summary.

All workloads are LoRA-style factorizations W = A B, loss 1/2 ||AB - M||_F^2, with A (m x r) = 0
and B (r x n) = 1e-3 * N(0,1) per seed, a target M = U diag(s) V^T shared by all seeds with Haar
random orthonormal U, V, and constant lr 0.01:

- kang:   m=60,   n=70,   r=5,  s = (5, 4, 3, 2, 1)  (Kang et al., arXiv 2602.06385, Fig. 2);
- medium: m=256,  n=256,  r=16, s geometric from 1 down to 1/10 (s_i = 10^(-i/(r-1)), i = 0..r-1);
- large:  m=1024, n=1024, r=64, s geometric from 1 down to 1/10, likewise.

The geometric spectra are the throughput driver's `{ kind = "geometric", max = 1.0,
condition = 10.0, count = r }`, so every implementation solves the same kind of problem.
With s_1 = 1 and lr 0.01 SpecGD hits mode i after about sqrt(s_i)/lr <= 100 steps, so the
100-step large workload still exercises the whole growth phase.

The target and the initial factors come from one NumPy Generator in a fixed order (U, V, then B),
so the NumPy, PyTorch and JAX peers start from identical arrays and their loss curves can be
compared step by step (check_peers.py). specsweep draws its own target with Philox: same
spectrum, different bases, the same statistics.
"""

import functools
from dataclasses import dataclass

import numpy as np

GAMMA = 1e-3
LR = 0.01
HIT_DELTA = 0.05
MOMENTUM = 0.95
NS_COEFFS = (3.4445, -4.7750, 2.0315)  # "jordan5"
NS_STEPS = 5
# Singular values below rtol * sigma_max count as zero in the exact polar factor (DESIGN section 2).
SVD_RTOL = {"float32": 1e-7, "float64": 1e-14}


def geometric(count, condition=10.0):
    return tuple(condition ** (-np.arange(count) / (count - 1)))


@dataclass(frozen=True)
class Workload:
    m: int
    n: int
    r: int
    spectrum: tuple
    seeds: int  # the issue's size; the peers' CLI defaults are smaller
    steps: int


WORKLOADS = {
    "kang": Workload(60, 70, 5, (5.0, 4.0, 3.0, 2.0, 1.0), 16384, 2000),
    "medium": Workload(256, 256, 16, geometric(16), 4096, 500),
    "large": Workload(1024, 1024, 64, geometric(64), 512, 100),
}


@dataclass(frozen=True)
class Problem:
    """Float64 NumPy arrays; each peer converts them to its own dtype and device."""
    target: np.ndarray     # M, m x n
    ut: np.ndarray         # U^T, k x m (k = len(spectrum))
    v: np.ndarray          # V, n x k
    threshold: np.ndarray  # (1 - delta) s: mode i has hit once d_i >= threshold_i
    fb: np.ndarray         # initial B per seed, seeds x r x n (A starts at zero)


def random_orthonormal(rng, rows, cols):
    """Haar-random orthonormal columns: QR of a Gaussian with diag(R) > 0."""
    q, r = np.linalg.qr(rng.standard_normal((rows, cols)))
    return q * np.sign(np.diag(r))


@functools.lru_cache(maxsize=2)  # repeated runs of one workload (gpu_vs_peers.py) draw once
def problem(workload, seeds, seed):
    w = WORKLOADS[workload]
    rng = np.random.default_rng(seed)
    k = len(w.spectrum)
    u = random_orthonormal(rng, w.m, k)
    v = random_orthonormal(rng, w.n, k)
    s = np.asarray(w.spectrum)
    fb = GAMMA * rng.standard_normal((seeds, w.r, w.n))
    p = Problem((u * s) @ v.T, u.T, v, (1.0 - HIT_DELTA) * s, fb)
    for a in vars(p).values():
        a.flags.writeable = False  # shared by cached calls: peers copy, never write
    return p


def add_arguments(parser):
    """The command line every peer shares."""
    parser.add_argument("--workload", choices=tuple(WORKLOADS), default="kang")
    parser.add_argument("--optimizer", choices=("specgd", "muon"), default="specgd")
    parser.add_argument("--seeds", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0, help="RNG seed (target and init)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")


def summarize(peer, workload, optimizer, dtype, seconds, loss, tau, curves=False, **extra):
    """The peers' common JSON record. loss: (steps + 1) x seeds, the loss before each update and
    after the last; tau: seeds x k hitting steps, -1 for never. curves=True adds the per-step
    mean loss and every seed's hitting steps, for check_peers.py."""
    steps, seeds = loss.shape[0] - 1, loss.shape[1]
    marks = [0, steps // 4, steps // 2, 3 * steps // 4, steps]
    median_hit = [float(np.median(col[col >= 0])) if np.any(col >= 0) else None for col in tau.T]
    out = {
        "peer": peer,
        "workload": workload,
        "optimizer": optimizer,
        "dtype": dtype,
        "seeds": seeds,
        "steps": steps,
        **extra,
        "seconds": seconds,
        "seed_steps_per_s": seeds * steps / seconds,
        "median_loss": [float(np.median(loss[t])) for t in marks],
        "median_hit": median_hit,
    }
    if curves:
        out["mean_loss"] = [float(x) for x in loss.mean(axis=1)]
        out["hit_steps"] = tau.tolist()
    return out
