"""The two models of the RELAY reproduction (sheet "Models", design), on tasks/common blocks.

- `ARModel`: decoder-only causal LM, RoPE (base 10 000), pre-RMSNorm `RoPEBlock`s with an explicit KV cache
  (tasks/common/rope.py), tied embeddings. `greedy(..., cache=True)` decodes O(n) per token; `cache=False`
  recomputes the whole prefix each token (the reference the test compares against).
- `LoopedModel`: encoder-only, bidirectional, weight-shared block of `layers` pre-LN layers iterated T = #ops times
  (dynamic iteration control): e_0 = h(x), e_t = norm(f(e_{t-1} + e_0)) (input injection, Fan et al. 2024; the
  state norm keeps iterates bounded past the trained T: a deviation from v1). RoPE on q, k with positions counted
  from the right end, so left padding (masked as keys) changes nothing. A CoT head reads every e_t (round t), the
  answer head reads e_T at the last number's slot (position n - 2, where the right-aligned answer would sit).
  The input is `<bos> a0 o1 ... ak =`: RoPE attention is relative, so without a left anchor the model cannot tell
  where the expression starts, i.e. where round t's frontier is (the probe learned no arithmetic without it); the
  round targets get a pad in the <bos> slot. A deviation from the sheet's input, recorded in the README.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tasks.common.nn import FeedForward, MultiHeadAttention, gpt2_init
from tasks.common.rope import KVCache, RoPEBlock, apply_rope, rope_cos_sin

from .data import BOS, EOS, P_MOD, PAD


class ARModel(nn.Module):
    def __init__(self, vocab: int, d: int, layers: int, heads: int, d_ff: int, base: float = 10_000.0):
        super().__init__()
        self.n_layers, self.n_heads, self.d_head, self.base = layers, heads, d // heads, base
        self.tok = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList(RoPEBlock(d, heads, d_ff, base) for _ in range(layers))
        self.norm = nn.RMSNorm(d)
        self.apply(gpt2_init)

    def forward(self, tokens: torch.Tensor, cache: KVCache | None = None, last_only: bool = False):
        """tokens (B, T) continuing after `cache` -> (logits (B, T|1, V), cache extended by these tokens)."""
        B, T = tokens.shape
        start = 0 if cache is None or len(cache) == 0 else int(cache.pos[-1]) + 1
        positions = torch.arange(start, start + T)
        cos, sin = rope_cos_sin(positions, self.d_head, self.base, self.tok.weight.dtype)  # (T, dh)
        h = self.tok(tokens)  # (B, T, d)
        ks, vs = [], []
        for l, blk in enumerate(self.blocks):
            past = None if cache is None or len(cache) == 0 else (cache.k[l], cache.v[l])
            h, k, v = blk(h, cos, sin, past)  # (B, T, d); k, v (B, H, T, dh)
            ks.append(k)
            vs.append(v)
        mine = KVCache(ks, vs, positions)
        new = mine if cache is None or len(cache) == 0 else KVCache.cat([cache, mine])
        if last_only:
            h = h[:, -1:]
        return self.norm(h) @ self.tok.weight.T, new  # (B, T|1, V)

    @torch.inference_mode()
    def greedy(self, prompts: torch.Tensor, max_new: int, cache: bool = True) -> torch.Tensor:
        """prompts (B, P), all of one length -> (B, P + m) with m <= max_new; stops when every row has <eos>
        (tokens after a row's <eos> are whatever the model emits and are ignored by the parsers)."""
        seq = prompts
        done = torch.zeros(len(prompts), dtype=torch.bool)
        logits, kv = self(prompts, last_only=True)
        for _ in range(max_new):
            nxt = logits[:, -1].argmax(-1)  # (B,)
            seq = torch.cat([seq, nxt[:, None]], 1)
            done |= nxt == EOS
            if bool(done.all()):
                break
            if cache:
                logits, kv = self(nxt[:, None], kv, last_only=True)
            else:
                logits, _ = self(seq, last_only=True)
        return seq


class BiRoPELayer(nn.Module):
    """Pre-LN bidirectional layer: common MultiHeadAttention's q, k, v with RoPE, pad keys masked; FeedForward."""

    def __init__(self, d: int, heads: int, d_ff: int):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = MultiHeadAttention(d, heads, causal=False)
        self.ff = FeedForward(d, d_ff)

    def forward(self, x, cos, sin, allowed):
        """x (B, n, d); cos/sin (n, dh); allowed (B, 1, 1, n) bool (False = pad key)."""
        q, k, v = self.attn.forward_qkv(self.ln1(x))  # (B, H, n, dh)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)  # (B, H, n, dh)
        x = x + self.attn.out(self.attn.merge_heads(y))
        return x + self.ff(self.ln2(x))  # (B, n, d)


class LoopedModel(nn.Module):
    def __init__(self, vocab: int, d: int, layers: int, heads: int, d_ff: int, base: float = 10_000.0,
                 inject: bool = True, align: str = "right"):
        super().__init__()
        self.d_head, self.base, self.inject, self.align = d // heads, base, inject, align
        self.tok = nn.Embedding(vocab, d)
        self.layers = nn.ModuleList(BiRoPELayer(d, heads, d_ff) for _ in range(layers))
        self.state_norm = nn.LayerNorm(d)
        self.cot_head = nn.Linear(d, vocab)
        self.ans_head = nn.Linear(d, P_MOD)
        self.apply(gpt2_init)

    def forward(self, x: torch.Tensor, T: int, rounds: bool = True):
        """x (B, n) = `<bos> s0 =` left-padded with <pad>; T iterations -> (CoT logits of e_1..e_{T-1}:
        (B, T-1, n, V) or None, answer logits (B, 11) from e_T at the answer's slot: position n - 2 (right-aligned
        rounds) or the one right after <bos> (left-aligned))."""
        B, n = x.shape
        pos = torch.arange(n) - (n - 1)              # right-anchored positions: pads on the left shift nothing
        cos, sin = rope_cos_sin(pos, self.d_head, self.base, self.tok.weight.dtype)  # (n, dh)
        allowed = (x != PAD)[:, None, None, :]       # (B, 1, 1, n)
        e0 = self.tok(x)  # (B, n, d)
        e, outs = e0, []
        for t in range(1, T + 1):
            h = e + e0 if self.inject and t > 1 else e
            for layer in self.layers:
                h = layer(h, cos, sin, allowed)
            e = self.state_norm(h)  # (B, n, d)
            if rounds and t < T:
                outs.append(e)
        cot = self.cot_head(torch.stack(outs, 1)) if outs else None  # (B, T-1, n, V)
        if self.align == "right":
            return cot, self.ans_head(e[:, n - 2])  # (B, 11)
        slot = (x == BOS).int().argmax(1) + 1  # (B,)
        return cot, self.ans_head(e[torch.arange(B), slot])  # (B, 11)


def build_ar(cfg: dict) -> ARModel:
    return ARModel(cfg["vocab"], cfg["d"], cfg["layers"], cfg["heads"], cfg["d_ff"])


def build_looped(cfg: dict) -> LoopedModel:
    return LoopedModel(cfg["vocab"], cfg["d"], cfg["layers"], cfg["heads"], cfg["d_ff"], inject=cfg["inject"],
                       align=cfg.get("align", "right"))


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
