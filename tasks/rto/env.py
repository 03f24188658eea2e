"""The toy RLHF world "TopicBigram" (sheet, Environment): prompts, a hidden token-additive true reward, the
SFT demonstrator and the Bradley-Terry label generator.

Tokens 0..V-1 are content tokens, token V is BOS. A sequence is [BOS, x_1..x_P, y_1..y_H] (fixed lengths, so
no length bias). Topic c(x) = x_1 mod C. The hidden reward is r*(x, y) = (1/H) sum_h W[c, y_(h-1), y_h] with
y_0 = x_P; W[c, p] has `n_good` next tokens at +1, `n_bad` at -1, the rest 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class World:
    W: torch.Tensor          # (C, V, V) float: W[c, prev, next] in {-1, 0, +1}
    V: int                   # content tokens (BOS = V)
    C: int                   # topics
    P: int                   # prompt length
    H: int                   # response length

    @property
    def bos(self) -> int:
        return self.V

    @property
    def lp(self) -> int:
        """Length of the prompt part [BOS, x]."""
        return 1 + self.P

    @property
    def seq_len(self) -> int:
        return 1 + self.P + self.H

    @classmethod
    def from_arrays(cls, d: dict, H: int) -> "World":
        W = torch.as_tensor(np.asarray(d["W"]), dtype=torch.float32)
        return cls(W, W.shape[1], W.shape[0], int(d["P"]), int(H))


def make_W(V: int, C: int, n_good: int, n_bad: int, rng: np.random.Generator) -> np.ndarray:
    """(C, V, V) sparse reward table: per (topic, previous token) n_good tokens +1 and n_bad tokens -1."""
    W = np.zeros((C, V, V), np.float32)
    perm = np.argsort(rng.random((C, V, V)), axis=-1)                 # a random permutation per (c, p)
    np.put_along_axis(W, perm[..., :n_good], 1.0, axis=-1)
    np.put_along_axis(W, perm[..., n_good:n_good + n_bad], -1.0, axis=-1)
    return W


def topic(world: World, prompts: torch.Tensor) -> torch.Tensor:
    """prompts (N, P) -> (N,) topic index."""
    return prompts[:, 0] % world.C


def token_rewards(world: World, prompts: torch.Tensor, resp: torch.Tensor) -> torch.Tensor:
    """True per-token reward W[c, y_(h-1), y_h] / H: prompts (N, P), resp (N, H) -> (N, H)."""
    prev = torch.cat([prompts[:, -1:], resp[:, :-1]], 1)              # (N, H)
    c = topic(world, prompts)[:, None].expand_as(resp)                 # (N, H)
    return world.W[c, prev, resp] / world.H


def true_reward(world: World, prompts: torch.Tensor, resp: torch.Tensor) -> torch.Tensor:
    """r*(x, y): (N,)."""
    return token_rewards(world, prompts, resp).sum(1)


def demo_probs(world: World, tau: float, eps: float) -> torch.Tensor:
    """(C, V, V) demonstrator next-token probabilities: (1 - eps) softmax(W / tau) + eps uniform."""
    return (1 - eps) * torch.softmax(world.W / tau, -1) + eps / world.V


def sample_demos(world: World, prompts: torch.Tensor, tau: float, eps: float, gen: torch.Generator) -> torch.Tensor:
    """Responses (N, H) of the demonstrator, vectorised over samples (a loop over the H positions only)."""
    probs = demo_probs(world, tau, eps)
    c = topic(world, prompts)
    prev, out = prompts[:, -1], []
    for _ in range(world.H):
        nxt = torch.multinomial(probs[c, prev], 1, generator=gen).squeeze(1)   # (N,)
        out.append(nxt)
        prev = nxt
    return torch.stack(out, 1)


def with_bos(world: World, prompts: torch.Tensor, resp: torch.Tensor | None = None) -> torch.Tensor:
    """[BOS, x, (y)]: (N, 1 + P (+ H)) long."""
    bos = torch.full((prompts.shape[0], 1), world.bos, dtype=torch.long)
    parts = [bos, prompts] + ([resp] if resp is not None else [])
    return torch.cat(parts, 1)


def bt_labels(r_a: torch.Tensor, r_b: torch.Tensor, kappa: float, H: int, gen: torch.Generator) -> torch.Tensor:
    """1 where y_a is preferred: Bernoulli(sigmoid(kappa * H * (r*(y_a) - r*(y_b))))."""
    p = torch.sigmoid(kappa * H * (r_a - r_b))
    return (torch.rand(p.shape, generator=gen) < p).long()


def expected_agreement(r_a: torch.Tensor, r_b: torch.Tensor, kappa: float, H: int) -> float:
    """Expected share of BT labels that agree with the true order, over the pairs that have one (no tie)."""
    d = (r_a - r_b).abs()
    d = d[d > 0]
    return float(torch.sigmoid(kappa * H * d).mean()) if d.numel() else float("nan")


def calibrate_kappa(r_a: torch.Tensor, r_b: torch.Tensor, H: int, target: float) -> float:
    """kappa whose expected agreement with the true order is `target` (bisection in log kappa)."""
    lo, hi = 1e-3, 1e3
    for _ in range(60):
        mid = (lo * hi) ** 0.5
        lo, hi = (mid, hi) if expected_agreement(r_a, r_b, mid, H) < target else (lo, mid)
    return (lo * hi) ** 0.5
