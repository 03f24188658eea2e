"""Tensors, losses and length-bucketed batch draws for both models (one length per batch: no padding in training
except where a chain's length differs from the ground truth, e.g. a looped model's imperfect Stage-II chain).

- `ARData`: sequences grouped by #ops, right-padded per batch; loss on every token after the prompt (CoT, answer,
  <eos>), never on the problem.
- `LoopData`: per length, inputs (m, n), round targets (m, k-1, n), masks M_t and answers.
- `draw(gen)`: a length with probability proportional to its group size (`by="size"`: a data mixture, e.g. the
  fine-tuning sets) or to its number of operators (`by="ops"`: the training length distribution of Feng et al.,
  which the unique problems cannot follow at k = 1, 2 where the problem space is tiny), then a uniform batch.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from . import data as D


def pad_right(seqs: list[list[int]]) -> torch.Tensor:
    L = max(len(s) for s in seqs)
    out = torch.full((len(seqs), L), D.PAD, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = torch.as_tensor(s)
    return out


def length_probs(keys: list[int], sizes: list[int], by: str) -> torch.Tensor:
    w = np.array(sizes if by == "size" else keys, float)
    return torch.as_tensor(w / w.sum())


class ARData:
    def __init__(self, seqs: list[list[int]], ks: list[int], by: str = "size"):
        self.groups: dict[int, list[list[int]]] = {}
        for s, k in zip(seqs, ks):
            self.groups.setdefault(int(k), []).append(list(s))
        self.keys = sorted(self.groups)
        self.probs = length_probs(self.keys, [len(self.groups[k]) for k in self.keys], by)

    def __len__(self) -> int:
        return sum(len(g) for g in self.groups.values())

    def draw(self, gen: torch.Generator, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        k = self.keys[int(torch.multinomial(self.probs, 1, generator=gen))]
        g = self.groups[k]
        idx = torch.randint(len(g), (batch,), generator=gen).tolist()
        seqs = [g[i] for i in idx]
        return pad_right(seqs), torch.as_tensor([D.prompt_len(k)] * batch)


def ar_loss(model, tokens: torch.Tensor, plen: torch.Tensor) -> torch.Tensor:
    """Mean CE of next-token predictions on tokens after the prompt (pads excluded). tokens (B, L), plen (B,)."""
    logits, _ = model(tokens[:, :-1])  # (B, L-1, V)
    tgt = tokens[:, 1:]
    pos = torch.arange(1, tokens.shape[1])[None]
    m = (pos >= plen[:, None]) & (tgt != D.PAD)
    ce = F.cross_entropy(logits.transpose(1, 2), tgt, reduction="none")  # (B, L-1)
    return (ce * m).sum() / m.sum()


class LoopData:
    def __init__(self, exprs: list[list[int]], ks: list[int], mod: int = D.P_MOD, by: str = "ops",
                 align: str = "right"):
        groups: dict[int, list] = {}
        for e, k in zip(exprs, ks):
            groups.setdefault(int(k), []).append(D.looped_example(*D.split_expr(e), mod, align))
        self.groups = {}
        for k, ex in groups.items():
            x = torch.as_tensor([[D.BOS] + e[0] for e in ex])             # (m, n + 1): <bos> = left anchor
            r = np.array([e[1] for e in ex], dtype=np.int64).reshape(len(ex), k - 1, 2 * k + 2)
            m = D.round_mask(r, align)
            r = np.concatenate([np.full(r.shape[:2] + (1,), D.PAD), r], -1)   # the <bos> slot: pad, not scored
            m = np.concatenate([np.zeros(m.shape[:2] + (1,), bool), m], -1)
            self.groups[k] = (x, torch.as_tensor(r), torch.as_tensor(m), torch.as_tensor([e[2] for e in ex]))
        self.keys = sorted(self.groups)
        self.probs = length_probs(self.keys, [len(self.groups[k][0]) for k in self.keys], by)

    def draw(self, gen: torch.Generator, batch: int, max_k: int | None = None):
        """A batch of one length; max_k restricts the lengths (a curriculum's first phase)."""
        probs = self.probs if max_k is None else self.probs * torch.as_tensor([float(k <= max_k) for k in self.keys])
        k = self.keys[int(torch.multinomial(probs, 1, generator=gen))]
        x, r, m, y = self.groups[k]
        idx = torch.randint(len(x), (batch,), generator=gen)
        return k, x[idx], r[idx], m[idx], y[idx]


def looped_loss(model, k: int, x, r, m, y, lam: float, aligned: bool):
    """L = L_ans + lam * L_iter; L_iter = mean over rounds of the masked CE of round t read off e_t."""
    cot, ans = model(x, k, rounds=aligned)
    l_ans = F.cross_entropy(ans, y)
    if not aligned or cot is None:
        return l_ans, {"l_ans": float(l_ans.detach())}
    ce = F.cross_entropy(cot.permute(0, 3, 1, 2), r, reduction="none")  # (B, k-1, n)
    mf = m.float()
    l_iter = ((ce * mf).sum(-1) / mf.sum(-1)).mean()
    return l_ans + lam * l_iter, {"l_ans": float(l_ans.detach()), "l_iter": float(l_iter.detach())}
