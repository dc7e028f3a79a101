#!/usr/bin/env python3
"""How accurate must the exact polar factor be? Along SpecGD trajectories, the polar factor of the
gradient as an fp32 run forms it, against the exact gradient's, beside what a backward-stable
iteration (QDWH, eps * kappa accurate) would add.

At checkpoints of an fp64 SpecGD trajectory the factors are rounded to fp32 and the gradient
G1 = (F1 F2 - M) F2^T is formed twice from them: in fp32 (as the engine does) and in fp64 (the
exact gradient of those factors, to ~1e-16). Printed per checkpoint, as ||P - P_exact||_F / sqrt(r):
  fp32 gradient: the fp64 SVD's polar factor of the fp32 gradient. This is what an algorithm exact
                 on its input (the engine's QR + one-sided Jacobi, 2e-7 from exact on its input,
                 bench/RESULTS.md) delivers: the error of forming the gradient in fp32 alone.
  QDWH fp32:     QDWH (Nakatsukasa, Bai and Gygi 2010: dynamically weighted Halley, QR-based while
                 c > 100, then Cholesky-based; l0 the true sigma_min / sigma_max, its best case) run
                 in fp32 on the fp32 gradient.
  eps * kappa:   the bound that QDWH's backward stability gives.
If the first column is far below the second, the gradient's rounding error is structured (it is
dD F2^T, graded as G is), the relative accuracy of the Jacobi SVD carries through to the step, and
an eps * kappa algorithm would make the step less accurate than forming the gradient does.

Usage: /usr/bin/python3 bench/polar_accuracy.py     (NumPy only; about 30 s)
"""
import numpy as np

EPS32 = float(np.finfo(np.float32).eps)


def polar_exact(G, cut=1e-14):
    """The fp64 polar factor with the engine's rank cut (a zero gradient gives zero)."""
    U, s, Vt = np.linalg.svd(G.astype(np.float64), full_matrices=False)
    keep = s > cut * s[0]
    return U[:, keep] @ Vt[keep], s


def qdwh(G, l0, dtype=np.float32):
    """QDWH in `dtype` for a full-rank tall or square G, l0 <= sigma_min / sigma_max."""
    X = (G / np.linalg.norm(G, 2)).astype(dtype)
    n = X.shape[1]
    eye = np.eye(n, dtype=dtype)
    ell = float(l0)
    for _ in range(20):
        d = (4.0 * (1.0 - ell**2) / ell**4) ** (1.0 / 3.0)
        a = np.sqrt(1.0 + d) + 0.5 * np.sqrt(8.0 - 4.0 * d + 8.0 * (2.0 - ell**2) / (ell**2 * np.sqrt(1.0 + d)))
        b = (a - 1.0) ** 2 / 4.0
        c = a + b - 1.0
        if c > 100:
            Q, _ = np.linalg.qr(np.vstack([np.sqrt(c) * X, eye]).astype(dtype))
            Q1, Q2 = Q[: X.shape[0]], Q[X.shape[0]:]
            X = (b / c) * X + (1.0 / np.sqrt(c)) * (a - b / c) * (Q1 @ Q2.T)
        else:
            Z = (eye + c * (X.T @ X)).astype(dtype)
            X = (b / c) * X + (a - b / c) * np.linalg.solve(Z, X.T).T
        X = X.astype(dtype)
        ell = ell * (a + b * ell**2) / (1.0 + c * ell**2)
        if abs(1.0 - ell) < 10 * EPS32:
            break
    return X


def random_orthonormal(k, rng):
    q, r = np.linalg.qr(rng.standard_normal((k, k)))
    return q * np.sign(np.diag(r))


def trajectory(label, M, r, factors, scale, lr, steps, checkpoints, rng):
    """SpecGD (the exact polar factor of each factor's gradient) in fp64; lr(t) a function."""
    m, n = M.shape
    F1 = np.zeros((m, r)) if factors[0] == "zero" else rng.standard_normal((m, r)) * scale
    F2 = rng.standard_normal((r, n)) * scale
    print(f"\n{label}")
    print(f"{'step':>6} {'kappa(G1)':>10} {'fp32 gradient':>14} {'QDWH fp32':>10} {'eps*kappa':>10}")
    for t in range(steps + 1):
        D = F1 @ F2 - M
        G1, G2 = D @ F2.T, F1.T @ D
        if t in checkpoints:
            f1, f2, m32 = F1.astype(np.float32), F2.astype(np.float32), M.astype(np.float32)
            g32 = (f1 @ f2 - m32) @ f2.T
            g64 = (f1.astype(np.float64) @ f2.astype(np.float64) - M) @ f2.astype(np.float64).T
            P_exact, s = polar_exact(g64)
            P_g32, s32 = polar_exact(g32)
            P_q = qdwh(g32, s32[-1] / s32[0])
            scale_r = np.sqrt(P_exact.shape[1])
            print(f"{t:6d} {s[0] / s[-1]:10.3g} {np.linalg.norm(P_g32 - P_exact) / scale_r:14.2g} "
                  f"{np.linalg.norm(P_q - P_exact) / scale_r:10.2g} {EPS32 * s[0] / s[-1]:10.2g}")
        P1, _ = polar_exact(G1)
        P2, _ = polar_exact(G2.T)
        F1, F2 = F1 - lr(t) * P1, F2 - lr(t) * P2.T


def synthetic(label, k, condition, rng):
    """G = U diag(geometric 1 .. 1/condition) V^T with random orthonormal U, V, rounded to fp32:
    many small singular values, the case QDWH's eps * kappa bound describes."""
    sigma = np.geomspace(1.0, 1.0 / condition, k)
    g32 = ((random_orthonormal(k, rng) * sigma) @ random_orthonormal(k, rng).T).astype(np.float32)
    P_exact, s = polar_exact(g32)
    P_q = qdwh(g32, s[-1] / s[0])
    print(f"\n{label}: QDWH fp32 {np.linalg.norm(P_q - P_exact) / np.sqrt(k):.2g} against the polar factor"
          f" of the same fp32 matrix (eps * kappa = {EPS32 * condition:.2g})")


def main():
    rng = np.random.default_rng(0)
    power = np.diag(10.0 / np.arange(1, 33))
    trajectory("32x32, r = 32 (the sq32-specgd row: target 10/i, Gaussian init 0.005, lr 0.005)",
               power, 32, ("gaussian", "gaussian"), 0.005, lambda t: 0.005, 3000,
               {0, 10, 100, 200, 300, 400, 1000, 2000, 3000}, rng)
    kang = np.zeros((60, 70))
    kang[np.arange(5), np.arange(5)] = [5.0, 4.0, 3.0, 2.0, 1.0]
    trajectory("60x70, r = 5 (Kang: LoRA init 1e-3, s = 5..1, lr 0.01)", kang, 5, ("zero", "gaussian"),
               1e-3, lambda t: 0.01, 1500, {1, 10, 100, 200, 300, 400, 600, 1000, 1500}, rng)
    ma = (random_orthonormal(32, rng)[:, :8] * np.geomspace(1.0, 1e-4, 8)) @ random_orthonormal(32, rng)[:8]
    trajectory("32x32, r = 8, kappa(M) = 1e4 (examples/ma_kappa_muon.toml's last cell: random bases, "
               "init 1e-3, lr 0.2 * 0.95^t)", ma, 8, ("gaussian", "gaussian"), 1e-3, lambda t: 0.2 * 0.95**t,
               300, {0, 5, 20, 50, 100, 150, 200, 300}, rng)
    synthetic("synthetic 32x32, kappa 1e6", 32, 1e6, rng)
    synthetic("synthetic 32x32, kappa 1e4", 32, 1e4, rng)


if __name__ == "__main__":
    main()
