"""Binary Lennard-Jones clusters (Kob-Andersen-type mixture, reduced units) and batched FIRE relaxation.

The exact simulator that replaces QM9 / Molecule3D / OC22 (sheet shared/papers/gdb.md, "Simulator"). Everything is
numpy float64 on batches: positions R (B, n, 3), atom types Z (B, n) in {0 = A, 1 = B}. No cut-off (clusters are
small), so energies are exact pair sums. FIRE follows `ase.optimize.FIRE` (Bitzek et al. 2006) step for step with
its defaults (dt 0.1, maxstep 0.2, dtmax 1, Nmin 5, finc 1.1, fdec 0.5, astart 0.1, fa 0.99), one state per
structure; convergence is ASE's: max per-atom force norm < fmax, checked before each step.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Kob-Andersen parameters: index [type_i, type_j]
SIGMA = np.array([[1.0, 0.8], [0.8, 0.88]])
EPS = np.array([[1.0, 1.5], [1.5, 0.5]])


def _pairs(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    I, J = np.triu_indices(n, 1)
    M = np.zeros((n, len(I)))                                      # incidence: +1 at i, -1 at j
    M[I, np.arange(len(I))], M[J, np.arange(len(I))] = 1.0, -1.0
    return I, J, M


def energy_forces(R: np.ndarray, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """R (B, n, 3), Z (B, n) -> energy (B,), forces (B, n, 3) = -dE/dR. Sums over the n(n-1)/2 pairs i < j."""
    I, J, M = _pairs(R.shape[1])
    sig, eps = SIGMA[Z[:, I], Z[:, J]], EPS[Z[:, I], Z[:, J]]      # (B, P)
    d = R[:, I] - R[:, J]                                          # (B, P, 3) r_i - r_j
    r2 = (d * d).sum(-1)
    s6 = (sig * sig / r2) ** 3
    energy = (4 * eps * (s6 * s6 - s6)).sum(-1)
    coef = 24 * eps * (2 * s6 * s6 - s6) / r2                      # force on i along (r_i - r_j): -dE/dr / r
    forces = np.einsum("np,bpk->bnk", M, coef[..., None] * d)
    return energy, forces


def energy(R: np.ndarray, Z: np.ndarray) -> np.ndarray:
    return energy_forces(R, Z)[0]


def fmax(F: np.ndarray) -> np.ndarray:
    """(B, n, 3) -> (B,) max per-atom force norm."""
    return np.sqrt((F ** 2).sum(-1)).max(-1)


@dataclass
class FireResult:
    R: np.ndarray            # (B, n, 3) final positions
    steps: np.ndarray        # (B,) FIRE steps taken
    converged: np.ndarray    # (B,) bool
    path: np.ndarray         # (B, max_steps + 1) cumulative path length in R^{3n} after each step (0 at start)
    frames: np.ndarray | None = None   # (B, K, n, 3) positions at equal cumulative path length, if asked


def fire(R0: np.ndarray, Z: np.ndarray, fmax_tol: float = 1e-4, max_steps: int = 5000, dt0: float = 0.1,
         maxstep: float = 0.2, dtmax: float = 1.0, n_min: int = 5, finc: float = 1.1, fdec: float = 0.5,
         astart: float = 0.1, fa: float = 0.99, frame_fracs: np.ndarray | None = None,
         _targets: np.ndarray | None = None) -> FireResult:
    """Batched FIRE (ase.optimize.FIRE semantics per structure). frame_fracs (K,) in (0, 1): also return positions
    at those fractions of each structure's total path length (a second, identical pass; linear interpolation
    between the two bracketing steps)."""
    R = np.array(R0, dtype=np.float64, copy=True)
    B = len(R)
    v = np.zeros_like(R)
    dt = np.full(B, dt0)
    a = np.full(B, astart)
    nst = np.zeros(B, dtype=np.int64)
    steps = np.zeros(B, dtype=np.int64)
    active = np.ones(B, dtype=bool)
    conv = np.zeros(B, dtype=bool)
    path = np.zeros((B, max_steps + 1))
    frames = None
    if _targets is not None:
        K = _targets.shape[1]
        frames = np.zeros((B, K, R.shape[1], 3))
        done_k = np.zeros((B, K), dtype=bool)
    for it in range(max_steps + 1):
        idx = np.nonzero(active)[0]
        if len(idx) == 0:
            break
        _, F = energy_forces(R[idx], Z[idx])
        ok = fmax(F) < fmax_tol
        conv[idx[ok]] = True
        if it == max_steps:
            break
        go = ~ok
        active[idx[ok]] = False
        idx, F = idx[go], F[go]
        if len(idx) == 0:
            break
        vi = v[idx]
        if it > 0:
            vf = (F * vi).sum((1, 2))
            f2 = (F * F).sum((1, 2))
            v2 = (vi * vi).sum((1, 2))
            up = vf > 0
            ai = a[idx]
            mix = (1 - ai)[:, None, None] * vi + (ai * np.sqrt(v2) / np.sqrt(np.maximum(f2, 1e-300)))[:, None, None] * F
            vi = np.where(up[:, None, None], mix, 0.0)
            grow = up & (nst[idx] > n_min)
            dt[idx] = np.where(grow, np.minimum(dt[idx] * finc, dtmax), np.where(up, dt[idx], dt[idx] * fdec))
            a[idx] = np.where(grow, ai * fa, np.where(up, ai, astart))
            nst[idx] = np.where(up, nst[idx] + 1, 0)
        vi = vi + dt[idx][:, None, None] * F
        dr = dt[idx][:, None, None] * vi
        ndr = np.sqrt((dr ** 2).sum((1, 2)))
        scale = np.where(ndr > maxstep, maxstep / np.maximum(ndr, 1e-300), 1.0)
        dr = dr * scale[:, None, None]
        v[idx] = vi
        prev = R[idx]
        R[idx] = prev + dr
        steps[idx] += 1
        path[idx, it + 1] = path[idx, it] + np.sqrt((dr ** 2).sum((1, 2)))
        if _targets is not None:
            lo, hi = path[idx, it], path[idx, it + 1]                 # (m,)
            tg = _targets[idx]                                        # (m, K)
            hit = (tg > lo[:, None]) & (tg <= hi[:, None]) & ~done_k[idx]
            if hit.any():
                w = (tg - lo[:, None]) / np.maximum(hi - lo, 1e-300)[:, None]
                rows, ks = np.nonzero(hit)
                frames[idx[rows], ks] = prev[rows] + w[rows, ks][:, None, None] * dr[rows]
                done_k[idx[rows], ks] = True
    # structures that stopped: carry the last cumulative length forward
    last = path[np.arange(B), steps]
    path = np.where(np.arange(max_steps + 1)[None] > steps[:, None], last[:, None], path)
    if frame_fracs is not None:
        tg = np.asarray(frame_fracs)[None, :] * last[:, None]
        again = fire(R0, Z, fmax_tol, max_steps, dt0, maxstep, dtmax, n_min, finc, fdec, astart, fa, _targets=tg)
        frames = again.frames
    return FireResult(R, steps, conv, path, frames)
