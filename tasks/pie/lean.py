"""Lean cache updates for PIE, naive reuse and suffix recomputation (issue 11): the same mathematics as
tasks/pie/methods.py (the reference, which tests compare these against), without its fixed overhead.

The reference keeps one (B, H, T, d_head) tensor per layer and builds every updated cache with `torch.cat` (the
splice, the rotation's new tensors, each forward call appending its entries), and runs two forward calls per update
(the new spans, then the re-fed last token). Here:

- `LeanCache`: keys and values stacked over layers in one preallocated buffer each, (L, B, H, cap, d_head), with the
  position of every slot; `n` slots are filled. Slots are in sequence order; positions are RoPE positions (they
  differ from slots only for naive reuse, whose old entries keep their old positions).
- The reused segments are written into a fresh buffer once: the prefix by one copy (all layers at once), each later
  segment by one batched rotation straight into its new slots (`k * cos(D theta) + rotate_half(k) * sin(D theta)`,
  all layers at once, no temporary), or by one copy for naive reuse; values are copied.
- One forward call (`forward_slots`) encodes every new token of every edited span and the re-fed last token together:
  in each layer their keys and values are written into their slots, and they attend by slot order (a new token sees
  every slot left of it, as in the reference's left-to-right splice). The span queries and the re-fed query are two
  attention calls, so the attention work is the reference's (each span query sees only the slots up to its span).
- Full recomputation is the same call on an empty buffer (suffix recomputation from position 0, causal kernel).
- In every method the last layer's feed-forward and the LM head run on the last query only (the other tokens of
  the last layer are needed for their keys and values alone), for full recomputation too, so costs compare alike.

`lean_update(method, model, pre, xp, edits) -> (logits (1, V), LeanCache)`; `pre` is `LeanCache.from_kv(...)` of
the pre-edit cache (built once, untimed). Run: imported by tasks/pie/benchmark.py and tasks/pie/evaluate.py.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from tasks.common.rope import KVCache, apply_rope, rope_cos_sin, sdpa_flop_mapping

LEAN_METHODS = ("full", "suffix", "conflict", "pie")


@dataclass
class LeanCache:
    """Post-RoPE keys k and values v, each (L, B, H, cap, d_head); pos (cap,) the RoPE position of each slot;
    slots 0..n-1 are filled."""

    k: torch.Tensor
    v: torch.Tensor
    pos: torch.Tensor
    n: int

    def __len__(self) -> int:
        return self.n

    @staticmethod
    def alloc(like: "LeanCache", cap: int) -> "LeanCache":
        L, B, H, _, dh = like.k.shape
        k = torch.empty(L, B, H, cap, dh, dtype=like.k.dtype)
        return LeanCache(k, torch.empty_like(k), torch.empty(cap, dtype=torch.long), 0)

    @staticmethod
    def from_kv(c: KVCache, extra: int = 0) -> "LeanCache":
        """Stack a reference cache over layers (with `extra` free slots)."""
        k, v = torch.stack(c.k), torch.stack(c.v)   # (L, B, H, n, dh)
        if extra:
            pad = (0, 0, 0, extra)
            k, v = F.pad(k, pad), F.pad(v, pad)
        pos = torch.cat([c.pos, torch.zeros(extra, dtype=torch.long)])
        return LeanCache(k, v, pos, len(c))

    def to_kv(self) -> KVCache:
        """The filled slots as a reference cache (views), for comparisons and decoding."""
        n = self.n
        return KVCache(list(self.k[:, :, :, :n].unbind(0)), list(self.v[:, :, :, :n].unbind(0)), self.pos[:n].clone())


def _rotate_into(dst: torch.Tensor, src: torch.Tensor, delta: int, base: float) -> None:
    """dst <- R_delta src for keys (..., T, d_head), all layers at once, no temporary (rotate_half pairing)."""
    cos, sin = rope_cos_sin(float(delta), src.shape[-1], base, src.dtype)   # (d_head,), angles in float64
    h = src.shape[-1] // 2
    torch.mul(src, cos, out=dst)
    dst[..., :h].addcmul_(src[..., h:], sin[:h], value=-1.0)    # x1 cos - x2 sin
    dst[..., h:].addcmul_(src[..., :h], sin[h:])                # x2 cos + x1 sin


def forward_slots(model, cache: LeanCache, tokens: torch.Tensor, positions: torch.Tensor, slots: torch.Tensor,
                  contiguous: bool) -> torch.Tensor:
    """Encode `tokens` (1, T) at RoPE `positions` (T,) into `slots` (T,) of `cache` (sorted; the last is the last
    slot, n - 1). Each query attends to every slot <= its own (sequence order). `contiguous`: the slots are
    n-T..n-1 (suffix recomputation: one attention call, causal mask); otherwise the first T-1 queries (the edited
    spans) attend to the slots up to the last of them and the last query (the re-fed token) to all n slots.
    Writes the new keys and values into the cache; returns the last query's logits (1, V)."""
    blocks = model.blocks
    B, T = tokens.shape
    n = cache.n
    H, dh = model.n_heads, model.d_head
    cos, sin = rope_cos_sin(positions, dh, model.base, cache.k.dtype)   # (T, dh)
    cache.pos[slots] = positions
    span = slots[:-1]
    causal = False
    if contiguous:
        a = n - T
        causal = a == 0 and T > 1   # a prefill: the causal kernel, no mask
        mask = torch.ones(T, n, dtype=torch.bool).tril(diagonal=a) if T > 1 and a > 0 else None
    elif T > 1:
        top = int(span[-1]) + 1
        mask = torch.arange(top)[None, :] <= span[:, None]   # (T-1, top)
    h = model.tok(tokens)   # (B, T, d)
    for l, blk in enumerate(blocks):
        x = blk.n1(h)
        q, k, v = blk.attn.qkv(x).view(B, T, 3, H, dh).permute(2, 0, 3, 1, 4).unbind(0)   # (B, H, T, dh) each
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        K, Vv = cache.k[l], cache.v[l]   # (B, H, cap, dh)
        if contiguous:
            K[:, :, n - T:n] = k
            Vv[:, :, n - T:n] = v
            y = F.scaled_dot_product_attention(q, K[:, :, :n], Vv[:, :, :n], attn_mask=mask, is_causal=causal)
        else:
            K.index_copy_(2, slots, k)
            Vv.index_copy_(2, slots, v)
            y_last = F.scaled_dot_product_attention(q[:, :, -1:], K[:, :, :n], Vv[:, :, :n])
            if T > 1:
                y_span = F.scaled_dot_product_attention(q[:, :, :-1], K[:, :, :top], Vv[:, :, :top], attn_mask=mask)
                y = torch.cat([y_span, y_last], 2)
            else:
                y = y_last
        h = h + blk.attn.out(y.transpose(1, 2).reshape(B, T, model.d))
        if l == len(blocks) - 1:
            h = h[:, -1:]   # only the last query's logits are needed
        h = h + blk.ff(blk.n2(h))
    return model.norm(h[:, -1]) @ model.tok.weight.T   # (B, V), tied embeddings


def _splice(model, pre: LeanCache, xp, edits, rotate: bool, extra: int) -> tuple[LeanCache, list[int], int]:
    """Write the reused segments of `pre` into a fresh buffer of n' (+ extra) slots; returns it and the slots and
    slots of the tokens still to encode (new span tokens, then the re-fed last token; slot = true new position) and
    the number of rotated entries (for the FLOP count)."""
    n1 = len(xp)
    c = LeanCache.alloc(pre, n1 + extra)
    c.n = n1
    todo, prev, off, rotated = [], 0, 0, 0
    segs = []
    for i, j, y in edits:
        segs.append((prev, i, off))
        todo += range(i + off, i + off + len(y))
        off += len(y) - (j - i)
        prev = j
    segs.append((prev, len(pre), off))
    for a, b, o in segs:
        b = min(b, n1 - 1 - o)   # the last context token is re-fed: its old entry is not reused
        if b <= a:
            continue
        if rotate and o != 0:
            _rotate_into(c.k[:, :, :, a + o:b + o], pre.k[:, :, :, a:b], o, model.base)
            rotated += b - a
        else:
            c.k[:, :, :, a + o:b + o] = pre.k[:, :, :, a:b]
        c.v[:, :, :, a + o:b + o] = pre.v[:, :, :, a:b]
        c.pos[a + o:b + o] = pre.pos[a:b] + (o if rotate else 0)
    slots = sorted(set(t for t in todo if t < n1 - 1)) + [n1 - 1]
    return c, slots, rotated


def lean_update(method: str, model, pre: LeanCache, xp, edits, extra: int = 0) -> tuple[torch.Tensor, LeanCache, int]:
    """One cache update from the stacked pre-edit cache: -> (next-token logits (1, V), cache of x' with n' slots
    filled and `extra` free, rotated entries). Same results as methods.update (logits within float rounding)."""
    n1 = len(xp)
    if method in ("full", "suffix"):
        i0 = 0 if method == "full" else min(edits[0][0], n1 - 1)
        c = LeanCache.alloc(pre, n1 + extra)
        c.n = n1
        c.k[:, :, :, :i0] = pre.k[:, :, :, :i0]
        c.v[:, :, :, :i0] = pre.v[:, :, :, :i0]
        c.pos[:i0] = pre.pos[:i0]
        idx = torch.arange(i0, n1)
        lg = forward_slots(model, c, torch.as_tensor(xp[i0:], dtype=torch.long)[None], idx, idx, contiguous=True)
        return lg, c, 0
    if method in ("pie", "conflict"):
        c, slots, rotated = _splice(model, pre, xp, edits, rotate=method == "pie", extra=extra)
        s = torch.as_tensor(slots, dtype=torch.long)
        toks = torch.as_tensor(xp, dtype=torch.long)[s][None]   # (1, T): slots of x' are its positions
        lg = forward_slots(model, c, toks, s, s, contiguous=False)
        return lg, c, rotated
    raise ValueError(f"no lean update for {method!r}")


def lean_flops(method: str, model, pre: LeanCache, xp, edits) -> tuple[int, int]:
    """(matmul + SDPA FLOPs under FlopCounterMode, analytic rotation FLOPs: 3 per rotated key element per layer) of
    one lean update. The SDPA mapping counts a masked call as T*P + T(T+1)/2 pairs with P = keys - queries: exact
    for suffix recomputation and for one edited span, an upper bound for several spans."""
    with FlopCounterMode(display=False, custom_mapping=sdpa_flop_mapping()) as fc:
        _, _, rotated = lean_update(method, model, pre, xp, edits)
    return int(fc.get_total_flops()), 3 * rotated * model.d * model.n_layers
