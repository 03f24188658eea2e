"""Batched inference for both models, one length at a time (all prompts of a length have the same width).

- `ar_chains(model, exprs, k)`: greedy KV-cache decoding -> per problem the generated tokens after the prompt, up to
  and including the first <eos>.
- `looped_chains(model, exprs, k)`: one forward pass of T = k iterations -> the rounds read off the CoT head
  (argmax), the answer head's answer and the assembled AR-format chain (Stage II).
- `score(chains, exprs)`: answer correctness, chain token accuracy and exact-chain flags vs the ground truth.
"""
from __future__ import annotations

import numpy as np
import torch

from . import data as D


def gt_chain(e, mod: int = D.P_MOD) -> list[int]:
    """Ground-truth tokens after the prompt (`s1 = ... = ans <eos>`)."""
    nums, ops = D.split_expr(e)
    return D.ar_sequence(nums, ops, mod)[D.prompt_len(len(ops)):]


def max_new(k: int) -> int:
    """Decoding budget: 25 % above the ground-truth chain length (a model that rambles is cut: malformed)."""
    return int(1.25 * (D.ar_len(k) - D.prompt_len(k))) + 4


@torch.inference_mode()
def ar_chains(model, exprs: list[list[int]], k: int, batch: int = 256, cache: bool = True) -> list[list[int]]:
    out = []
    for i in range(0, len(exprs), batch):
        prompts = torch.as_tensor([[D.BOS] + list(e) + [D.EQ] for e in exprs[i:i + batch]])  # (B, 2k+3)
        seq = model.greedy(prompts, max_new(k), cache=cache)
        out += [D.cut_eos(s, prompts.shape[1]) for s in seq.tolist()]
    return out


@torch.inference_mode()
def looped_chains(model, exprs: list[list[int]], k: int, batch: int = 512):
    """-> (rounds (m, k-1, n) argmax tokens, answers (m,), assembled chains after the prompt)."""
    rounds, answers = [], []
    for i in range(0, len(exprs), batch):
        x = torch.as_tensor([[D.BOS] + list(e) + [D.EQ] for e in exprs[i:i + batch]])  # (B, n + 1)
        cot, ans = model(x, k)
        rounds.append(cot.argmax(-1).numpy()[:, :, 1:] if cot is not None  # drop the <bos> slot
                      else np.zeros((len(x), 0, x.shape[1] - 1), np.int64))
        answers.append(ans.argmax(-1).numpy())
    R, A = np.concatenate(rounds), np.concatenate(answers)
    align = getattr(model, "align", "right")
    chains = [D.assemble(list(e) + [D.EQ], list(r), int(a), align)[D.prompt_len(k):] for e, r, a in zip(exprs, R, A)]
    return R, A, chains


def score(chains: list[list[int]], exprs: list[list[int]], mod: int = D.P_MOD) -> dict[str, np.ndarray]:
    """Per problem: correct (answer parsed from `= ans <eos>` equals the truth), token accuracy, exact chain."""
    k = (len(exprs[0]) - 1) // 2
    plen = D.prompt_len(k)
    correct, tok, exact = [], [], []
    for ch, e in zip(chains, exprs):
        gt = gt_chain(e, mod)
        prefix = [D.BOS] + list(e) + [D.EQ]
        a = D.parse_answer(prefix + list(ch), plen)
        correct.append(a is not None and a == gt[-2])
        tok.append(D.token_accuracy(list(ch), gt))
        exact.append(list(ch) == gt)
    return {"correct": np.array(correct, bool), "tok": np.array(tok, float), "exact": np.array(exact, bool)}
