"""The tiny decoder-only RoPE LM of the PIE reproduction (sheet "Model"), with an explicit per-layer KV cache.

`forward(tokens, positions, cache)` encodes `tokens` (B, T) at explicit `positions` (T,) against an existing cache
of post-RoPE keys and values and returns the logits and the extended cache, so splicing and rotating a cache for
an edit (tasks/pie/methods.py) is a few lines. Blocks (RoPE, causal attention with cache) live in
tasks/common/rope.py. RMSNorm, tied embeddings, RoPE base 10 000.
"""
from __future__ import annotations

import torch
from torch import nn

from tasks.common.nn import gpt2_init
from tasks.common.rope import KVCache, RoPEBlock, rope_cos_sin


class RoPELM(nn.Module):
    def __init__(self, vocab: int, d: int, n_layers: int, n_heads: int, d_ff: int, base: float = 10_000.0):
        super().__init__()
        self.vocab, self.d, self.n_layers, self.n_heads, self.base = vocab, d, n_layers, n_heads, base
        self.d_head = d // n_heads
        self.tok = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList(RoPEBlock(d, n_heads, d_ff, base) for _ in range(n_layers))
        self.norm = nn.RMSNorm(d)
        self.apply(gpt2_init)

    def empty_cache(self, batch: int = 1) -> KVCache:
        return KVCache.empty(self.n_layers, batch, self.n_heads, self.d_head, self.tok.weight.dtype)

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor | None = None, cache: KVCache | None = None,
                logits: str = "all", keep_cache: bool = True):
        """tokens (B, T); positions (T,) long (default: continue after the cache); cache: entries to attend to.

        logits: "all" (B, T, V), "last" (B, 1, V) or "none" (the LM head is skipped).
        Returns (logits or None, new cache = cache + this call's entries, or None if not keep_cache).
        """
        B, T = tokens.shape
        if positions is None:
            start = 0 if cache is None or len(cache) == 0 else int(cache.pos[-1]) + 1
            positions = torch.arange(start, start + T)
        cos, sin = rope_cos_sin(positions, self.d_head, self.base, self.tok.weight.dtype)  # (T, dh)
        h = self.tok(tokens)  # (B, T, d)
        ks, vs = [], []
        for l, blk in enumerate(self.blocks):
            past = None if cache is None or len(cache) == 0 else (cache.k[l], cache.v[l])
            h, k, v = blk(h, cos, sin, past)  # h (B, T, d); k, v (B, H, T, dh)
            ks.append(k)
            vs.append(v)
        new = None
        if keep_cache:
            mine = KVCache(ks, vs, positions.clone())
            new = mine if cache is None or len(cache) == 0 else KVCache.cat([cache, mine])
        if logits == "none":
            return None, new
        if logits == "last":
            h = h[:, -1:]
        return self.norm(h) @ self.tok.weight.T, new  # (B, T|1, V), tied embeddings


def build(cfg: dict) -> RoPELM:
    return RoPELM(cfg["vocab"], cfg["d"], cfg["layers"], cfg["heads"], cfg["d_ff"], cfg.get("base", 10_000.0))
