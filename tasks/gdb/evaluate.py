"""Scoring and symmetry checks used by `sample_eval` and `g5_coupling` (sheet "Metrics (exact)", "Tests").

Per structure: C-RMSD (Kabsch, identities kept), mean per-atom aligned distance (ADwT), distance-matrix errors
(pooled into D-MAE / D-RMSE), energy gap E(R_hat) - E(R_T), basin success (FIRE on R_hat, aligned RMSD to R_T <
basin_rmsd). Equivariance: a random orthogonal matrix with det -1 (rotation + reflection), a translation and an atom
permutation applied to the inputs (and to the sampler noise), relative error of the outputs, for the network and
the full sampler.
"""
from __future__ import annotations

import numpy as np
import torch

from . import geometry as G
from . import lj
from .bridge import n_noise, noise, sample
from .params import SampleEvalParams

SPLITS = ("val", "test", "ood")


def predict(model, cfg: dict, R0: torch.Tensor, Z: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return sample(model, cfg["arm"], R0, Z, cfg["steps"], cfg["sigma_b"], cfg["s0"], cfg["n_seg"], gen=gen)


def score(R_hat: np.ndarray, RT: np.ndarray, Z: np.ndarray, p: SampleEvalParams) -> dict[str, np.ndarray]:
    R_hat, RT = R_hat.astype(np.float64), RT.astype(np.float64)
    d_abs, d_sq = G.d_errors(R_hat, RT)
    relaxed = lj.fire(R_hat, Z, p.basin_fmax, p.basin_steps)
    e_hat = lj.energy(R_hat, Z)
    return {"crmsd": G.c_rmsd(R_hat, RT), "mean_dist": G.atom_dist(R_hat, RT).mean(-1), "d_abs": d_abs,
            "d_sq": d_sq, "egap": e_hat - lj.energy(RT, Z),
            "basin": G.c_rmsd(relaxed.R, RT) < p.basin_rmsd}


def random_symmetry(n: int, gen: torch.Generator):
    """An orthogonal Q with det -1, a translation (1, 1, 3) and a permutation of n atoms."""
    Q, _ = torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=torch.float64))
    if torch.det(Q) > 0:
        Q = Q @ torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64))
    return Q.float(), 3.0 * torch.randn(1, 1, 3, generator=gen), torch.randperm(n, generator=gen)


def equivariance_errors(model, cfg: dict, R0: torch.Tensor, Z: torch.Tensor, gen: torch.Generator) -> dict:
    """Relative errors |f(g x) - g f(x)| / |f(x)| of the network (at random t, x, c) and of the full sampler."""
    B, n, _ = R0.shape
    Q, sh, perm = random_symmetry(n, gen)

    def g(x):  # group action on (..., n, 3) tensors: permute atoms, rotate/reflect, translate
        return x[..., perm, :] @ Q.T + sh

    def rel(gf, fg, f):  # |g f(x) - f(g x)| / |f(x)| (f(x) is centred: R0 is)
        return float((gf - fg).norm() / f.norm())

    arm, steps, sb, s0, n_seg = cfg["arm"], cfg["steps"], cfg["sigma_b"], cfg["s0"], cfg["n_seg"]
    with torch.inference_mode():
        x = R0 + 0.1 * torch.randn(R0.shape, generator=gen)
        t = torch.rand(B, generator=gen)
        f = model(x, R0, Z, t)
        net = rel(g(f), model(g(x), g(R0), Z[:, perm], t), f)
        eps = noise((n_noise(arm, steps, n_seg), B, n, 3), gen)
        a = sample(model, arm, R0, Z, steps, sb, s0, n_seg, eps=eps)
        b = sample(model, arm, g(R0), Z[:, perm], steps, sb, s0, n_seg, eps=eps[..., perm, :] @ Q.T)
        samp = rel(g(a), b, a)
    return {"net": net, "sampler": samp}
