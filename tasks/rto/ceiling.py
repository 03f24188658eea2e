"""The Bradley-Terry reference for the reward learners (issue 13): a bigram-table BT model fitted on the same
preference pairs as the RM and DPO, r(x, y) = sum_h w[c(x), y_(h-1), y_h] with one free weight per (topic, previous
token, next token), i.e. the true reward's own form with nothing else known. Its held-out accuracy against the true
order is the accuracy a reward learner that knows the form of r* but nothing of pi_ref reaches on these pairs.

It is fitted by L-BFGS on the BT loss plus an L2 penalty; the reported value is the best held-out accuracy over the
fixed grid L2_GRID (an optimistic reference, not a tuned model; the RM and DPO can exceed it because their trunk
was pre-trained by SFT on the demonstrations). Not a stage: `reward_model` calls `bt_table_accuracy`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .env import World, topic

L2_GRID = (1e-4, 1e-3, 1e-2)


def bigram_counts(world: World, prompts: torch.Tensor, resp: torch.Tensor) -> torch.Tensor:
    """Counts of (topic, previous token, token) along each response: (N, P), (N, H) -> (N, C * V * V)."""
    prev = torch.cat([prompts[:, -1:], resp[:, :-1]], 1)                       # (N, H)
    c = topic(world, prompts)[:, None].expand_as(resp)                          # (N, H)
    idx = (c * world.V + prev) * world.V + resp                                 # (N, H) flat table index
    out = torch.zeros(len(prompts), world.C * world.V * world.V)
    return out.scatter_add_(1, idx, torch.ones(idx.shape))


def fit_table(world: World, tr: dict, l2: float, max_iter: int = 100) -> torch.Tensor:
    """BT fit of the table weights (C * V * V,) on pairs {x, yw, yl} (yw preferred)."""
    dx = bigram_counts(world, tr["x"], tr["yw"]) - bigram_counts(world, tr["x"], tr["yl"])   # (N, CVV)
    w = torch.zeros(dx.shape[1], requires_grad=True)
    opt = torch.optim.LBFGS([w], max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = -F.logsigmoid(dx @ w).mean() + l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach()


def pair_accuracy(margin: torch.Tensor, rw: torch.Tensor, rl: torch.Tensor) -> float:
    """Share of held-out pairs with a true order (no tie) on which sign(margin) matches it."""
    order = rw != rl
    return float(((margin > 0) == (rw > rl))[order].float().mean())


def bt_table_accuracy(world: World, tr: dict, ho: dict) -> tuple[float, float]:
    """(best held-out accuracy vs the true order over L2_GRID, its L2)."""
    dh = bigram_counts(world, ho["x"], ho["yw"]) - bigram_counts(world, ho["x"], ho["yl"])
    accs = [(pair_accuracy(dh @ fit_table(world, tr, l2), ho["rw"], ho["rl"]), l2) for l2 in L2_GRID]
    return max(accs)
