"""DDPM in pixel space (the official `BUSGen/Diffusion.py`: epsilon-prediction MSE, linear beta schedule) with
classifier-free guidance and a deterministic DDIM sampler (sheet: DDIM or DPM-Solver, 20 steps; the official code
uses DPM-Solver, 50 steps).

q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I);  CFG: eps~ = (1 + w) eps(x, c) - w eps(x, null).
All conditions are dropped together with probability p_drop (pathology and device -> index 0).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


class Schedule:
    def __init__(self, T: int = 500, beta_start: float = 1e-4, beta_end: float = 0.028):
        self.T = T
        self.betas = torch.linspace(beta_start, beta_end, T, dtype=torch.float64)
        self.abar = torch.cumprod(1.0 - self.betas, 0)                       # (T,)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        a = self.abar[t].float()[:, None, None, None]
        return a.sqrt() * x0 + (1 - a).sqrt() * noise


def drop_conditions(path: torch.Tensor, dev: torch.Tensor, p_drop: float, gen: torch.Generator):
    """Replace both conditions by the null index 0 for a Bernoulli(p_drop) subset of the batch."""
    keep = (torch.rand(path.shape[0], generator=gen) >= p_drop).long()
    return path * keep, dev * keep


def ddpm_loss(model, sch: Schedule, x0, path, dev, p_drop: float, gen: torch.Generator) -> torch.Tensor:
    """E_t,eps || eps - eps_theta(x_t, t, c) ||^2 with t ~ U{0..T-1} and condition dropout."""
    B = x0.shape[0]
    t = torch.randint(0, sch.T, (B,), generator=gen)
    noise = torch.randn(x0.shape, generator=gen)
    path, dev = drop_conditions(path, dev, p_drop, gen)
    return F.mse_loss(model(sch.q_sample(x0, t, noise), t, path, dev), noise)


def cfg_eps(eps_c: torch.Tensor, eps_u: torch.Tensor, w: float) -> torch.Tensor:
    return (1 + w) * eps_c - w * eps_u


@torch.inference_mode()
def ddim_sample(model, sch: Schedule, path: torch.Tensor, dev: torch.Tensor, steps: int, w: float,
                gen: torch.Generator, size: int = 16, batch: int = 512) -> torch.Tensor:
    """Deterministic DDIM (eta = 0) with CFG; returns x_0 samples (N, 1, size, size) clipped to [-1, 1]."""
    ts = torch.linspace(sch.T - 1, 0, steps).round().long()
    out = []
    for i in range(0, len(path), batch):
        p, d = path[i:i + batch], dev[i:i + batch]
        n = len(p)
        x = torch.randn((n, 1, size, size), generator=gen)
        pp, dd = torch.cat([p, torch.zeros_like(p)]), torch.cat([d, torch.zeros_like(d)])
        for j, t in enumerate(ts):
            tt = torch.full((2 * n,), int(t), dtype=torch.long)
            e = model(torch.cat([x, x]), tt, pp, dd)
            eps = cfg_eps(e[:n], e[n:], w)
            a = sch.abar[t].float()
            a_prev = sch.abar[ts[j + 1]].float() if j + 1 < len(ts) else torch.tensor(1.0)
            x0 = ((x - (1 - a).sqrt() * eps) / a.sqrt()).clamp(-1, 1)
            eps = (x - a.sqrt() * x0) / (1 - a).sqrt()                           # consistent with the clipped x0
            x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
        out.append(x.clamp(-1, 1))
    return torch.cat(out)
