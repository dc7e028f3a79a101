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

Any other depth-2 problem is a `Workload` too (`--shape M,N,R` on every peer's command line):
target spectrum a list, `power` (s_i = scale / i^exponent, i = 1..count: specsweep's
`{ kind = "power", scale, exponent, count }`) or `geometric` (specsweep's `{ kind = "geometric",
max, condition, count }`); Haar random or identity bases (`basis = "identity"`: U, V the first
columns of I, as in Rhee et al.'s M* = diag(s)); LoRA init (A = 0, B = scale N(0,1)) or Gaussian
init of both factors (entries scale N(0,1), specsweep's `factors = ["gaussian", "gaussian"]` with
scale_mode absolute); any constant lr. The Gaussian A is drawn after B, so a LoRA workload draws
what it always drew.
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


OPTIMIZERS = ("specgd", "muon", "gd")


def geometric(count, condition=10.0, top=1.0):
    """specsweep's { kind = "geometric", max = top, condition, count }: top down to top/condition."""
    if count == 1:
        return (float(top),)
    return tuple(float(top) * condition ** (-np.arange(count) / (count - 1)))


def power(count, scale=10.0, exponent=1.0):
    """specsweep's { kind = "power", scale, exponent, count }: s_i = scale / i^exponent, i = 1..count."""
    return tuple(float(scale) / np.arange(1, count + 1, dtype=np.float64) ** exponent)


@dataclass(frozen=True)
class Workload:
    m: int
    n: int
    r: int
    spectrum: tuple
    seeds: int  # the issue's size; the peers' CLI defaults are smaller
    steps: int
    init: str = "lora"      # "lora": A = 0, B = scale N(0,1); "gaussian": both scale N(0,1)
    scale: float = GAMMA
    lr: float = LR
    basis: str = "random"   # "random" (Haar) or "identity"
    name: str = ""          # for the JSON record; a custom workload describes itself

    @property
    def label(self):
        if self.name:
            return self.name
        return (f"{self.m}x{self.n} r{self.r} {self.init}({self.scale:g}) lr {self.lr:g} "
                f"{len(self.spectrum)} modes {self.spectrum[0]:.4g}..{self.spectrum[-1]:.4g}"
                + (" identity basis" if self.basis == "identity" else ""))


WORKLOADS = {
    "kang": Workload(60, 70, 5, (5.0, 4.0, 3.0, 2.0, 1.0), 16384, 2000, name="kang"),
    "medium": Workload(256, 256, 16, geometric(16), 4096, 500, name="medium"),
    "large": Workload(1024, 1024, 64, geometric(64), 512, 100, name="large"),
}


def parse_spectrum(text, r, m, n):
    """'power[:SCALE[:EXPONENT[:COUNT]]]', 'geometric[:MAX[:CONDITION[:COUNT]]]' or a list
    '5,4,3,2,1'. COUNT defaults to min(r, m, n)."""
    kind, *args = text.split(":")
    count = min(r, m, n)
    if kind == "power":
        scale, exponent = (float(x) for x in (args + ["10", "1"][len(args):])[:2])
        return power(int(args[2]) if len(args) > 2 else count, scale, exponent)
    if kind == "geometric":
        top, condition = (float(x) for x in (args + ["1", "10"][len(args):])[:2])
        return geometric(int(args[2]) if len(args) > 2 else count, condition, top)
    return tuple(float(x) for x in text.split(","))


def custom(m, n, r, spectrum="geometric", init="lora", scale=GAMMA, lr=LR, basis="random"):
    """A Workload for any depth-2 problem; spectrum as parse_spectrum takes it, or a sequence."""
    s = parse_spectrum(spectrum, r, m, n) if isinstance(spectrum, str) else tuple(map(float, spectrum))
    if len(s) > min(m, n):
        raise ValueError(f"{len(s)} target modes do not fit a {m} x {n} target")
    if init not in ("lora", "gaussian"):
        raise ValueError(f"unknown init {init!r} (lora | gaussian)")
    if basis not in ("random", "identity"):
        raise ValueError(f"unknown basis {basis!r} (random | identity)")
    return Workload(m, n, r, s, 0, 0, init, float(scale), float(lr), basis)


def resolve(workload):
    """A Workload from a name in WORKLOADS or a Workload."""
    return WORKLOADS[workload] if isinstance(workload, str) else workload


@dataclass(frozen=True)
class Problem:
    """Float64 NumPy arrays; each peer converts them to its own dtype and device."""
    target: np.ndarray     # M, m x n
    ut: np.ndarray         # U^T, k x m (k = len(spectrum))
    v: np.ndarray          # V, n x k
    threshold: np.ndarray  # (1 - delta) s: mode i has hit once d_i >= threshold_i
    fb: np.ndarray         # initial B per seed, seeds x r x n
    fa: np.ndarray         # initial A per seed, seeds x m x r (zeros for the LoRA init)
    lr: float              # the workload's constant learning rate


def random_orthonormal(rng, rows, cols):
    """Haar-random orthonormal columns: QR of a Gaussian with diag(R) > 0."""
    q, r = np.linalg.qr(rng.standard_normal((rows, cols)))
    return q * np.sign(np.diag(r))


@functools.lru_cache(maxsize=2)  # repeated runs of one workload (gpu_vs_peers.py) draw once
def problem(workload, seeds, seed):
    """The target and every seed's initial factors: a name in WORKLOADS or a Workload."""
    w = resolve(workload)
    rng = np.random.default_rng(seed)
    k = len(w.spectrum)
    if w.basis == "identity":
        u, v = np.eye(w.m, k), np.eye(w.n, k)
    else:
        u = random_orthonormal(rng, w.m, k)
        v = random_orthonormal(rng, w.n, k)
    s = np.asarray(w.spectrum)
    fb = w.scale * rng.standard_normal((seeds, w.r, w.n))
    if w.init == "gaussian":
        fa = w.scale * rng.standard_normal((seeds, w.m, w.r))
    else:
        fa = np.zeros((seeds, w.m, w.r))
    p = Problem((u * s) @ v.T, u.T, v, (1.0 - HIT_DELTA) * s, fb, fa, w.lr)
    for a in vars(p).values():
        if isinstance(a, np.ndarray):
            a.flags.writeable = False  # shared by cached calls: peers copy, never write
    return p


def add_arguments(parser):
    """The command line every peer shares."""
    parser.add_argument("--workload", choices=tuple(WORKLOADS), default="kang")
    parser.add_argument("--shape", metavar="M,N,R",
                        help="any depth-2 problem instead of --workload (with the options below)")
    parser.add_argument("--spectrum", default="geometric",
                        help="with --shape: power[:SCALE[:EXPONENT[:COUNT]]] (default 10:1), "
                             "geometric[:MAX[:CONDITION[:COUNT]]] (default 1:10) or a list 5,4,3; "
                             "COUNT defaults to min(R, M, N)")
    parser.add_argument("--init", choices=("lora", "gaussian"), default="lora",
                        help="with --shape: A = 0 and B ~ scale N(0,1), or both ~ scale N(0,1)")
    parser.add_argument("--scale", type=float, default=GAMMA, help="with --shape: init scale")
    parser.add_argument("--lr", type=float, default=LR, help="with --shape: constant learning rate")
    parser.add_argument("--basis", choices=("random", "identity"), default="random",
                        help="with --shape: the target's singular vectors")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="specgd")
    parser.add_argument("--seeds", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0, help="RNG seed (target and init)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--curves", action="store_true",
                        help="add the per-step mean loss and every seed's hitting steps to the JSON")


def workload_from_args(a):
    """The Workload (or workload name) the shared command line asks for."""
    if a.shape is None:
        return a.workload
    m, n, r = (int(x) for x in a.shape.split(","))
    return custom(m, n, r, a.spectrum, a.init, a.scale, a.lr, a.basis)


def summarize(peer, workload, optimizer, dtype, seconds, loss, tau, curves=False, **extra):
    """The peers' common JSON record. loss: (steps + 1) x seeds, the loss before each update and
    after the last; tau: seeds x k hitting steps, -1 for never. curves=True adds the per-step
    mean loss and every seed's hitting steps, for check_peers.py."""
    steps, seeds = loss.shape[0] - 1, loss.shape[1]
    marks = [0, steps // 4, steps // 2, 3 * steps // 4, steps]
    median_hit = [float(np.median(col[col >= 0])) if np.any(col >= 0) else None for col in tau.T]
    w = resolve(workload)
    out = {
        "peer": peer,
        "workload": w.label,
        "m": w.m,
        "n": w.n,
        "r": w.r,
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
