"""GRSNN (sheet, Method) and NBFNet-lite in plain PyTorch (`index_add_`), batched over B (head, query) pairs.

GRSNN: each entity is a population of D current-based LIF neurons (SRM with an alpha PSP kernel); one recurrent
weight W (D x D) shared by all edges and steps; an edge's relation type enters only through a query-dependent
synaptic delay d^q_{r,k} = beta * sigmoid(W_d q + b_d)_{r,k}, rounded in the forward pass, with the trace gradient
(delay.py) in the backward pass. Arms: `grsnn` (delays), `nodelay` (every message is the previous-step spike:
relation-blind), `weights` (no delay; query-dependent per-relation weights multiply the spikes: relation via weights).

K1 choice (sheet): the query embedding is over the 24 derived query types, the delay / weight projections over the
8 graph relation types. One forward per (head, query) scores every node.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .delay import DelayPlan, delayed_messages, psp_trace_step

ARMS = ("grsnn", "nodelay", "weights", "nbfnet")


class SpikeFn(torch.autograd.Function):
    """Heaviside forward, sigmoid surrogate backward: dH/dx ~ alpha * sig(alpha x) (1 - sig(alpha x))."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        (x,) = ctx.saved_tensors
        sg = torch.sigmoid(ctx.alpha * x)
        return g * ctx.alpha * sg * (1 - sg), None


def lif_step(I, u, m, W, bound, a: float, gain: float, v_th: float, alpha: float):
    """One current-based LIF step: I <- a I + gain m W^T; u <- a u + I + b; s = H(u - V_th); hard reset."""
    I = a * I + gain * m @ W.T
    u = a * u + I + bound
    s = SpikeFn.apply(u - v_th, alpha)
    return I, u * (1 - s), s


class Scorer(nn.Module):
    """MLP([h_v, q]): 2D -> 2D -> 1."""

    def __init__(self, dim: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(2 * dim, 2 * dim), nn.ReLU(), nn.Linear(2 * dim, 1))

    def forward(self, h: torch.Tensor, q: torch.Tensor) -> torch.Tensor:   # h (B, V, D), q (B, D) -> (B, V)
        return self.mlp(torch.cat([h, q[:, None, :].expand_as(h)], -1)).squeeze(-1)


class Graph:
    """The message graph as index tensors: src, rel, dst of E typed edges over n nodes."""

    def __init__(self, edge, n: int):
        e = torch.as_tensor(edge, dtype=torch.long)
        self.src, self.rel, self.dst, self.n = e[:, 0].contiguous(), e[:, 1].contiguous(), e[:, 2].contiguous(), n


class GRSNN(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        D, self.R = cfg["dim"], cfg["n_graph_rels"]
        self.cfg, self.D = cfg, D
        self.arm = cfg["arm"]
        self.query = nn.Embedding(cfg["n_query_rels"], D)
        nn.init.normal_(self.query.weight)                                   # N(0, 1) (sheet)
        self.W = nn.Parameter(torch.randn(D, D) * cfg["w_gain"] / math.sqrt(D))   # post x pre
        if self.arm == "grsnn":
            self.proj = nn.Linear(D, self.R * D)                             # delays d^q_{r,k}
        elif self.arm == "weights":
            self.proj = nn.Linear(D, self.R * D)                             # weights w^q_{r,k}
        self.scorer = Scorer(D)

    def relation_params(self, q: torch.Tensor) -> torch.Tensor | None:
        """(B, R, D) real delays in [0, beta] (grsnn) or weights (weights arm); None for nodelay."""
        if self.arm == "nodelay":
            return None
        x = self.proj(q).view(-1, self.R, self.D)
        return self.cfg["beta"] * torch.sigmoid(x) if self.arm == "grsnn" else x

    def forward(self, g: Graph, heads: torch.Tensor, qrel: torch.Tensor, record: bool = False):
        """Scores (B, V); with record=True also the spike trains (T, B, V, D), delivered counts and delays."""
        c = self.cfg
        B, V, D, T = len(heads), g.n, self.D, c["T"]
        q = self.query(qrel)                                                  # (B, D)
        bound = torch.zeros(B, V, D)
        bound[torch.arange(B), heads] = q * c["v_th"] / 2 + c["v_th"] / 2      # constant current into the source
        a = math.exp(-1.0 / c["tau"])
        gain = math.e / c["tau"] * c["kappa"]
        rp = self.relation_params(q)
        I = torch.zeros(B, V, D)
        u = torch.zeros(B, V, D)
        spikes: list[torch.Tensor] = []
        beta = int(round(c["beta"]))
        traces = torch.zeros(beta + T, B, V, D) if self.arm == "grsnn" else None
        plan = DelayPlan(rp, g, beta) if self.arm == "grsnn" else None
        filt = (torch.zeros(B, V, D), torch.zeros(B, V, D))
        delivered = []
        h = torch.zeros(B, V, D)
        norm = sum(c["gamma"] ** t for t in range(T))
        for t in range(T):
            if t == 0:
                m = torch.zeros(B, V, D)
            elif self.arm == "grsnn":
                m = delayed_messages(rp, plan, spikes, traces)
            else:
                x = spikes[-1][:, g.src]                                      # (B, E, D) previous-step spikes
                if self.arm == "weights":
                    x = x * rp[:, g.rel]
                m = torch.zeros(B, V, D).index_add_(1, g.dst, x)
            I, u, s = lif_step(I, u, m, self.W, bound, a, gain, c["v_th"], c["alpha"])
            spikes.append(s)
            if self.arm == "grsnn":
                traces[beta + t], filt = psp_trace_step(s.detach(), filt, c["tau"])
            if record:
                delivered.append(m.detach())
            h = h + s * (c["gamma"] ** t / norm)
        score = self.scorer(h, q)
        if not record:
            return score
        return score, {"spikes": torch.stack([s.detach() for s in spikes]), "delivered": torch.stack(delivered),
                       "delays": rp.detach() if (rp is not None and self.arm == "grsnn") else None}


class NBFNetLite(nn.Module):
    """L layers of DistMult messages with query-dependent relation vectors, sum aggregation (boundary included),
    Linear + LayerNorm + ReLU, shortcut; same boundary (query vector at the source), scorer and loss as GRSNN."""

    def __init__(self, cfg: dict):
        super().__init__()
        D, self.R, L = cfg["dim"], cfg["n_graph_rels"], cfg["layers"]
        self.cfg, self.D = cfg, D
        self.query = nn.Embedding(cfg["n_query_rels"], D)
        nn.init.normal_(self.query.weight)
        self.rel = nn.ModuleList(nn.Linear(D, self.R * D) for _ in range(L))
        self.lin = nn.ModuleList(nn.Linear(D, D) for _ in range(L))
        self.norm = nn.ModuleList(nn.LayerNorm(D) for _ in range(L))
        self.scorer = Scorer(D)

    def forward(self, g: Graph, heads: torch.Tensor, qrel: torch.Tensor, record: bool = False):
        B, V, D = len(heads), g.n, self.D
        q = self.query(qrel)
        bound = torch.zeros(B, V, D)
        bound[torch.arange(B), heads] = q
        h = bound
        for rel, lin, norm in zip(self.rel, self.lin, self.norm):
            w = rel(q).view(B, self.R, D)
            msg = h[:, g.src] * w[:, g.rel]                                  # (B, E, D)
            agg = bound.clone().index_add_(1, g.dst, msg)
            h = h + torch.relu(norm(lin(agg)))
        score = self.scorer(h, q)
        return (score, {}) if record else score


def build(cfg: dict) -> nn.Module:
    return NBFNetLite(cfg) if cfg["arm"] == "nbfnet" else GRSNN(cfg)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def params_closed_form(arm: str, D: int, R: int, Q: int, L: int = 6) -> int:
    """Analytic parameter count: R graph relation types (with inverses), Q query types, width D."""
    scorer = 2 * D * 2 * D + 2 * D + 2 * D + 1
    if arm == "nbfnet":
        return Q * D + L * ((D * R * D + R * D) + (D * D + D) + 2 * D) + scorer
    proj = 0 if arm == "nodelay" else D * R * D + R * D
    return Q * D + D * D + proj + scorer
