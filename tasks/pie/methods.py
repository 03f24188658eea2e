"""The five cache strategies compared from one pre-edit cache (sheet "Methods"), plus greedy decoding and FLOPs.

Every update takes the model, the pre-edit cache `pre` of x (all n tokens, post-RoPE keys), the post-edit tokens x'
and the edits [(i, j, y)] (x[i:j] -> y, sorted, non-overlapping) and returns (next-token logits (1, V), the cache
to decode from, the position of the next token). In every cache-reuse method the last context token is re-fed at
its correct position n'-1 to get the logits (its old entry is dropped first), and that cost is counted.

- full:     prefill x' from scratch (LM head at the last position only).
- suffix:   keep pre[0:i_1] (i_1 = first edit) and recompute x'[i_1:] at their new positions (exact).
- conflict: "Conflict Fast Encoding": keep every old entry as it is (old keys, old positions), encode each new span
            y at its true new positions against the cache on its left, splice. Decoding continues at the true new
            positions n', n'+1, ... (our definition; the paper's exact one is not known).
- pie:      as conflict, but every old segment is rotated by the cumulative Delta of the edits on its left, in every
            layer (k <- R_Delta k; values untouched): positional integrity.
- stale:    ignore the edit (pre-edit logits and cache; decoding continues at n).
"""
from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from tasks.common.rope import KVCache, sdpa_flop_mapping

METHODS = ("full", "suffix", "conflict", "pie", "stale")
UPDATE_METHODS = ("full", "suffix", "conflict", "pie")
LABEL = {"full": "full recomputation", "suffix": "suffix recomputation", "conflict": "conflict fast encoding (naive)",
         "pie": "PIE", "stale": "stale cache"}


def _t(ids) -> torch.Tensor:
    return torch.as_tensor(ids, dtype=torch.long)[None]  # (1, T)


def prefill(model, x) -> tuple[torch.Tensor, KVCache]:
    """Pre-edit state: logits at the last token and the cache of all n tokens (built once, untimed)."""
    lg, cache = model(_t(x), torch.arange(len(x)), None, logits="last")
    return lg[:, -1], cache


def splice(model, pre: KVCache, edits, rotate: bool) -> tuple[KVCache, int]:
    """The cache of x' built from `pre`: old segments (rotated by the cumulative Delta if `rotate`) and the new spans
    encoded at their true new positions. Returns the cache and the number of rotated entries (for the FLOP count)."""
    cur, off, prev, rotated = None, 0, 0, 0
    for i, j, y in edits:
        seg = pre.slice(prev, i)
        if rotate and off != 0:
            seg, rotated = seg.shift(off, model.base), rotated + len(seg)
        cur = seg if cur is None else KVCache.cat([cur, seg])
        if len(y):
            _, cur = model(_t(y), torch.arange(i + off, i + off + len(y)), cur, logits="none")
        off += len(y) - (j - i)
        prev = j
    seg = pre.slice(prev, len(pre))
    if rotate and off != 0:
        seg, rotated = seg.shift(off, model.base), rotated + len(seg)
    return (seg if cur is None else KVCache.cat([cur, seg])), rotated


def _refeed(model, cache: KVCache, xp) -> tuple[torch.Tensor, KVCache]:
    n1 = len(xp)
    lg, cache = model(_t(xp[-1:]), torch.tensor([n1 - 1]), cache.slice(0, n1 - 1), logits="last")
    return lg[:, -1], cache


def update(method: str, model, pre: KVCache, pre_logits: torch.Tensor, x, xp, edits):
    """-> (logits (1, V), cache, next position, rotated entries)."""
    n1 = len(xp)
    if method == "full":
        lg, c = model(_t(xp), torch.arange(n1), None, logits="last")
        return lg[:, -1], c, n1, 0
    if method == "suffix":
        i0 = min(edits[0][0], n1 - 1)
        lg, c = model(_t(xp[i0:]), torch.arange(i0, n1), pre.slice(0, i0), logits="last")
        return lg[:, -1], c, n1, 0
    if method in ("pie", "conflict"):
        c, rot = splice(model, pre, edits, rotate=method == "pie")
        lg, c = _refeed(model, c, xp)
        return lg, c, n1, rot
    if method == "stale":
        return pre_logits, pre, len(x), 0
    raise ValueError(f"unknown method {method!r}")


def count_flops(method: str, model, pre, pre_logits, x, xp, edits):
    """update(...) under FlopCounterMode (matmuls + CPU SDPA over causal pairs) plus the analytic rotation cost:
    3 FLOPs (2 mul + 1 add) per rotated key element per layer. Returns (update result, matmul FLOPs, rotation FLOPs)."""
    with FlopCounterMode(display=False, custom_mapping=sdpa_flop_mapping()) as fc:
        res = update(method, model, pre, pre_logits, x, xp, edits)
    rot = 3 * res[3] * model.d * model.n_layers
    return res, int(fc.get_total_flops()), int(rot)


def greedy(model, logits: torch.Tensor, cache: KVCache, pos: int, stop: tuple[int, ...], max_new: int) -> list[int]:
    """Greedy decoding from an updated cache until a `stop` token (a line start) or max_new tokens; stop excluded."""
    out = []
    for s in range(max_new):
        t = int(logits.argmax(-1))
        if t in stop:
            break
        out.append(t)
        if s == max_new - 1:
            break
        lg, cache = model(torch.tensor([[t]]), torch.tensor([pos + s]), cache, logits="last")
        logits = lg[:, -1]
    return out


def analytic_flops(L: int, d: int, d_ff: int, n_tokens: int, keys_before: int) -> int:
    """Sheet's cost formula: n_tokens new tokens each attending to keys_before cached keys plus causally to each
    other, in L layers: L * [n * c_tok + 4 d * sum_r (keys_before + r)], c_tok = 2 (4 d^2 + 2 d d_ff) (no LM head)."""
    c_tok = 2 * (4 * d * d + 2 * d * d_ff)
    pairs = n_tokens * keys_before + n_tokens * (n_tokens + 1) // 2
    return L * (n_tokens * c_tok + 4 * d * pairs)
