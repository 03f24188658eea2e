"""The one backbone of every arm: a small EGNN (Satorras et al. 2021) on a fully connected cluster graph that
predicts an endpoint R_hat from a current state x, a condition state c (R_0 or a segment's start frame), the
atom types Z and the bridge time t (sheet "Backbone").

E(3)- and permutation-equivariant by construction: node features are invariant (type embedding + sinusoidal time
embedding), edges see only the distances |x_i - x_j| and |c_i - c_j| (Gaussian RBFs), coordinates move only along
relative vectors. Output
    R_hat_i = x_i^L + sum_j (c_i - c_j) phi_c(m_ij) / (n - 1),
re-centred on the input's centroid, with x^L the EGNN-updated x (x^{l+1}_i = x^l_i + sum_j (x^l_i - x^l_j)
phi_x(m_ij) / (n - 1)). Deviation from the sheet: the sheet's first output term sum_j (x_i - x_j) phi_1 is
realised by the per-layer EGNN coordinate updates. Shapes: B structures, n atoms, H hidden.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def mlp(i: int, h: int, o: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(i, h), nn.SiLU(), nn.Linear(h, o))


class RBF(nn.Module):
    def __init__(self, k: int, r_max: float):
        super().__init__()
        self.register_buffer("mu", torch.linspace(0.0, r_max, k))
        self.gamma = (k / r_max) ** 2 / 2

    def forward(self, d: torch.Tensor) -> torch.Tensor:          # (...,) -> (..., k)
        return torch.exp(-self.gamma * (d[..., None] - self.mu) ** 2)


def pair_dist(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x (B, n, 3) -> relative vectors (B, n, n, 3) x_i - x_j, distances (B, n, n)."""
    rel = x[:, :, None, :] - x[:, None, :, :]
    return rel, torch.sqrt((rel ** 2).sum(-1) + 1e-12)


class Layer(nn.Module):
    def __init__(self, h: int, k: int):
        super().__init__()
        self.src, self.dst = nn.Linear(h, h), nn.Linear(h, h, bias=False)   # first edge layer, factorised:
        self.geo = nn.Linear(2 * k, h, bias=False)                          # W [h_i, h_j, rbf] = A h_i + B h_j + C rbf
        self.edge = nn.Sequential(nn.SiLU(), nn.Linear(h, h), nn.SiLU())
        self.node = mlp(2 * h, h, h)
        self.coord = mlp(h, h, 1)
        nn.init.xavier_uniform_(self.coord[2].weight, gain=1e-3)
        nn.init.zeros_(self.coord[2].bias)
        self.norm = nn.LayerNorm(h)

    def forward(self, h, x, ec, rbf, offdiag):
        B, n, H = h.shape
        rel, d = pair_dist(x)
        e = self.src(h)[:, :, None] + self.dst(h)[:, None] + self.geo(torch.cat([rbf(d), ec], -1))
        m = self.edge(e) * offdiag                                 # (B, n, n, H)
        h = self.norm(h + self.node(torch.cat([h, m.sum(2) / (n - 1)], -1)))
        x = x + (rel * self.coord(m)).sum(2) / (n - 1)
        return h, x, m


class EGNN(nn.Module):
    def __init__(self, hidden: int = 32, layers: int = 4, n_types: int = 2, rbf: int = 12, r_max: float = 3.0):
        super().__init__()
        self.hidden = hidden
        self.type_emb = nn.Embedding(n_types, hidden)
        self.time = mlp(hidden, hidden, hidden)
        self.rbf = RBF(rbf, r_max)
        self.layers = nn.ModuleList(Layer(hidden, rbf) for _ in range(layers))
        self.out_c = mlp(hidden, hidden, 1)
        nn.init.xavier_uniform_(self.out_c[2].weight, gain=1e-3)
        nn.init.zeros_(self.out_c[2].bias)

    def time_features(self, t: torch.Tensor) -> torch.Tensor:    # (B,) -> (B, H)
        half = self.hidden // 2
        f = torch.exp(torch.arange(half, dtype=t.dtype, device=t.device) * (-math.log(1000.0) / max(1, half - 1)))
        a = 100.0 * t[:, None] * f[None]                        # periods from 0.06 to 60 in t
        emb = torch.cat([torch.sin(a), torch.cos(a)], -1)
        if emb.shape[1] < self.hidden:
            emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], -1)
        return self.time(emb)

    def forward(self, x: torch.Tensor, c: torch.Tensor, Z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x, c (B, n, 3), Z (B, n) long, t (B,) -> R_hat (B, n, 3)."""
        B, n, _ = x.shape
        mu = x.mean(1, keepdim=True)
        offdiag = (1.0 - torch.eye(n, dtype=x.dtype, device=x.device))[None, :, :, None]
        h = self.type_emb(Z) + self.time_features(t)[:, None]
        rel_c, d_c = pair_dist(c)
        ec = self.rbf(d_c)                                         # (B, n, n, k) condition-state distances
        xl, m = x, None
        for layer in self.layers:
            h, xl, m = layer(h, xl, ec, self.rbf, offdiag)
        out = xl + (rel_c * self.out_c(m)).sum(2) / (n - 1)
        return out - out.mean(1, keepdim=True) + mu


def build(cfg: dict) -> EGNN:
    return EGNN(hidden=cfg["hidden"], layers=cfg["layers"])


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
