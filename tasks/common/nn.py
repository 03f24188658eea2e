"""Small pre-LN transformer blocks shared by the papers that train a model on CPU.

Used by the tiny bidirectional masked diffusion model of Feng et al., arXiv 2502.09622 (tasks/mdm),
and meant for the causal LMs of other papers. Attention goes through
``torch.nn.functional.scaled_dot_product_attention``; a key padding mask removes pad tokens from the
keys (their own outputs are computed but meaningless and must be ignored by the loss).

Hooks kept deliberately simple:
- ``act_fn``: an optional callable applied to the residual stream after the embeddings and after
  every block (e.g. fake quantisation of activations); identity when None.
- ``MultiHeadAttention.split_heads`` / ``merge_heads`` and ``forward_qkv`` are separate so that a later
  paper can rotate q, k (RoPE) or append cached keys/values without re-writing the block.
Not here yet: RoPE, a KV cache, dropout (all papers so far train on fresh samples, no overfitting).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MultiHeadAttention", "FeedForward", "Block", "Transformer", "count_params", "gpt2_init"]


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention, bidirectional or causal, with an optional key padding mask."""

    def __init__(self, d: int, n_heads: int, causal: bool):
        super().__init__()
        if d % n_heads:
            raise ValueError(f"d={d} is not divisible by n_heads={n_heads}")
        self.d, self.n_heads, self.causal = d, n_heads, causal
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)

    def split_heads(self, t: torch.Tensor) -> torch.Tensor:
        B, T, _ = t.shape
        return t.view(B, T, self.n_heads, self.d // self.n_heads).transpose(1, 2)  # (B, H, T, dh)

    @staticmethod
    def merge_heads(t: torch.Tensor) -> torch.Tensor:
        B, H, T, dh = t.shape
        return t.transpose(1, 2).reshape(B, T, H * dh)  # (B, T, d)

    def forward_qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        q, k, v = self.qkv(x).chunk(3, dim=-1)  # 3 x (B, T, d)
        return self.split_heads(q), self.split_heads(k), self.split_heads(v)  # 3 x (B, H, T, dh)

    def forward(self, x: torch.Tensor, key_pad: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, d); key_pad (B, T) bool, True = pad (never attended to) -> (B, T, d).

        A query row whose allowed keys are all pads (e.g. causal + left padding) gives NaN: avoid it.
        """
        q, k, v = self.forward_qkv(x)
        T = x.shape[1]
        if key_pad is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)  # (B, H, T, dh)
        else:
            allowed = ~key_pad[:, None, None, :]  # (B, 1, 1, T): True = may attend
            if self.causal:
                allowed = allowed & torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)  # (B, H, T, dh)
        return self.out(self.merge_heads(y))


class FeedForward(nn.Module):
    """Linear(d, d_ff) -> GeLU -> Linear(d_ff, d)."""

    def __init__(self, d: int, d_ff: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, d_ff), nn.Linear(d_ff, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))  # (B, T, d)


class Block(nn.Module):
    """Pre-LN transformer block: x + attn(LN(x)), then x + ffn(LN(x))."""

    def __init__(self, d: int, n_heads: int, d_ff: int, causal: bool):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = MultiHeadAttention(d, n_heads, causal)
        self.ff = FeedForward(d, d_ff)

    def forward(self, x: torch.Tensor, key_pad: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), key_pad)  # (B, T, d)
        return x + self.ff(self.ln2(x))  # (B, T, d)


class Transformer(nn.Module):
    """Token + learned absolute position embeddings, n pre-LN blocks, final LN, linear head."""

    def __init__(self, vocab: int, d: int, n_layers: int, n_heads: int, d_ff: int, max_len: int,
                 causal: bool, act_fn: Callable[[torch.Tensor], torch.Tensor] | None = None):
        super().__init__()
        self.vocab, self.max_len, self.causal = vocab, max_len, causal
        self.act_fn = act_fn
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(max_len, d)
        self.blocks = nn.ModuleList(Block(d, n_heads, d_ff, causal) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)
        self.apply(gpt2_init)

    def _act(self, h: torch.Tensor) -> torch.Tensor:
        return h if self.act_fn is None else self.act_fn(h)

    def forward(self, tokens: torch.Tensor, key_pad: torch.Tensor | None = None) -> torch.Tensor:
        """tokens (B, T) long; key_pad (B, T) bool (True = pad) -> logits (B, T, vocab)."""
        B, T = tokens.shape
        if T > self.max_len:
            raise ValueError(f"sequence length {T} exceeds max_len {self.max_len}")
        pos = torch.arange(T, device=tokens.device)
        h = self._act(self.tok(tokens) + self.pos(pos)[None])  # (B, T, d)
        for blk in self.blocks:
            h = self._act(blk(h, key_pad))  # (B, T, d)
        return self.head(self.ln_f(h))  # (B, T, vocab)


def gpt2_init(m: nn.Module) -> None:
    """GPT-2 style: N(0, 0.02) weights, zero biases (norms keep their ones/zeros). Use as `model.apply(gpt2_init)`."""
    if isinstance(m, (nn.Linear, nn.Embedding)):
        nn.init.normal_(m.weight, std=0.02)
    if isinstance(m, nn.Linear) and m.bias is not None:
        nn.init.zeros_(m.bias)


def count_params(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
