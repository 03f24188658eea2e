"""Geometry and metrics (sheet "Metrics (exact)"): centring, Kabsch alignment, C-RMSD, D-MAE / D-RMSE (GTMGC's
pooled definitions), ADwT (FAIR-Chem's average distance within threshold, here after rigid alignment and without
periodic images), energy distance between sample sets. numpy, batched over structures: R (B, n, 3).
"""
from __future__ import annotations

import numpy as np

ADWT_THRESHOLDS = np.arange(0.01, 0.5, 0.001)   # sigma_LJ (OC20: Angstrom)


def center(R: np.ndarray) -> np.ndarray:
    return R - R.mean(-2, keepdims=True)


def kabsch(P: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """Best proper rotation U (B, 3, 3) with center(P) @ U ~ center(Q) (atoms keep identities, no reflection)."""
    P, Q = center(P), center(Q)
    H = np.einsum("bni,bnj->bij", P, Q)
    U, _, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(U @ Vt))
    D = np.ones((len(P), 3))
    D[:, 2] = d
    return (U * D[:, None, :]) @ Vt


def align(P: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """P rigidly moved onto Q (both centred): center(P) @ U, Q's centroid."""
    return center(P) @ kabsch(P, Q) + Q.mean(-2, keepdims=True)


def atom_dist(P: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """(B, n) per-atom distance after Kabsch alignment of P onto Q."""
    return np.sqrt(((align(P, Q) - Q) ** 2).sum(-1))


def c_rmsd(P: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """(B,) RMSD after Kabsch alignment."""
    return np.sqrt((atom_dist(P, Q) ** 2).mean(-1))


def dmat(R: np.ndarray) -> np.ndarray:
    return np.sqrt(((R[:, :, None] - R[:, None]) ** 2).sum(-1))


def d_errors(P: np.ndarray, Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per structure: sum |D - D_hat| and sum (D - D_hat)^2 over the full n x n matrix (pool with `d_mae_rmse`)."""
    e = dmat(P) - dmat(Q)
    return np.abs(e).sum((1, 2)), (e ** 2).sum((1, 2))


def d_mae_rmse(P: np.ndarray, Q: np.ndarray) -> tuple[float, float]:
    """GTMGC: D-MAE = sum |D - D_hat| / #entries, D-RMSE = sqrt(pooled mean squared error), pooled over structures."""
    a, s = d_errors(P, Q)
    m = P.shape[0] * P.shape[1] ** 2
    return float(a.sum() / m), float(np.sqrt(s.sum() / m))


def dwt(mean_dist: np.ndarray, thresholds: np.ndarray = ADWT_THRESHOLDS) -> np.ndarray:
    """(T,) share of structures whose mean per-atom distance is below each threshold."""
    return (np.asarray(mean_dist)[None, :] < thresholds[:, None]).mean(1)


def adwt(mean_dist: np.ndarray, thresholds: np.ndarray = ADWT_THRESHOLDS) -> float:
    return float(dwt(mean_dist, thresholds).mean())


def adwt_per_structure(mean_dist: np.ndarray, thresholds: np.ndarray = ADWT_THRESHOLDS) -> np.ndarray:
    """(B,) each structure's share of thresholds it is under: ADwT is its mean (used for paired differences)."""
    return (np.asarray(mean_dist)[:, None] < thresholds[None, :]).mean(1)


def energy_distance(X: np.ndarray, Y: np.ndarray) -> float:
    """Energy distance 2 E|X - Y| - E|X - X'| - E|Y - Y'| between two sample sets (m, d), (k, d) (V-statistics)."""
    def md(A, B):
        return np.sqrt(((A[:, None] - B[None]) ** 2).sum(-1)).mean()
    return float(2 * md(X, Y) - md(X, X) - md(Y, Y))
