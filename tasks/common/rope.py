"""Rotary position embeddings (RoPE) and a causal attention block with an explicit per-layer KV cache.

Written for PIE (He et al., "Let the Code LLM Edit Itself When You Edit the Code", arXiv 2407.03157; tasks/pie)
and meant for any transformer paper that needs RoPE or cache surgery:

- ``rope_cos_sin(positions, d_head, base)``: angles p * theta_r computed in float64, then cast (theta_r =
  base^(-2r/d_head)); the HF-Llama ``rotate_half`` pairing (r, r + d_head/2), not interleaved pairs.
- ``apply_rope(x, cos, sin)`` = x * cos + rotate_half(x) * sin, i.e. x -> R_p x.
- ``rotate_by_delta(k, delta, base)``: R_delta k for cached post-RoPE keys (R_a R_b = R_(a+b), so a key stored at
  position s moves to s + delta). One constant rotation per call; values are never touched.
- ``KVCache``: per-layer post-RoPE keys and plain values (B, H, T, d_head) plus the position of every entry;
  ``slice``/``cat``/``shift`` are the splice operations cache-reuse methods need (all functional: new tensors).
- ``RoPEAttention``: causal multi-head attention whose queries attend to every cached entry and causally to
  each other; ``RoPEBlock``: pre-RMSNorm block with the shared ``FeedForward`` of tasks/common/nn.py.

Attention uses ``scaled_dot_product_attention``; ``sdpa_flop_mapping()`` makes ``FlopCounterMode`` count the CPU
SDPA kernel (it is not counted by default in torch 2.13) over the allowed causal query-key pairs only.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .nn import FeedForward

__all__ = ["inv_freq", "rope_cos_sin", "rotate_half", "apply_rope", "rotate_by_delta", "KVCache", "RoPEAttention",
           "RoPEBlock", "sdpa_flop_mapping"]


def inv_freq(d_head: int, base: float = 10_000.0) -> torch.Tensor:
    """theta_r = base^(-2r/d_head), r = 0..d_head/2-1, float64 (d_head/2,)."""
    if d_head % 2:
        raise ValueError(f"RoPE needs an even head dimension, got {d_head}")
    return base ** (-torch.arange(0, d_head, 2, dtype=torch.float64) / d_head)


def rope_cos_sin(positions: torch.Tensor | float, d_head: int, base: float = 10_000.0,
                 dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin of p * theta for each position, angles in float64 then cast: (..., d_head) in rotate_half layout."""
    p = torch.as_tensor(positions, dtype=torch.float64)
    ang = p[..., None] * inv_freq(d_head, base)  # (..., d_head/2)
    ang = torch.cat([ang, ang], dim=-1)  # (..., d_head)
    return ang.cos().to(dtype), ang.sin().to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2) -> (-x2, x1) on the two halves of the last dimension."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x (..., T, d_head), cos/sin (T, d_head) or (d_head,) -> R_p x."""
    return x * cos + rotate_half(x) * sin


def rotate_by_delta(k: torch.Tensor, delta: float, base: float = 10_000.0) -> torch.Tensor:
    """R_delta k: move post-RoPE keys k (..., d_head) from position s to s + delta (PIE's whole correction)."""
    if delta == 0:
        return k
    cos, sin = rope_cos_sin(float(delta), k.shape[-1], base, k.dtype)  # (d_head,)
    return apply_rope(k, cos, sin)


@dataclass
class KVCache:
    """Per-layer post-RoPE keys and values, each (B, H, T, d_head), and the positions (T,) they were encoded at."""

    k: list[torch.Tensor]
    v: list[torch.Tensor]
    pos: torch.Tensor

    def __len__(self) -> int:
        return int(self.pos.numel())

    @property
    def n_layers(self) -> int:
        return len(self.k)

    def slice(self, a: int, b: int) -> "KVCache":
        """Entries a..b-1 (views, no copy)."""
        return KVCache([t[:, :, a:b] for t in self.k], [t[:, :, a:b] for t in self.v], self.pos[a:b])

    def shift(self, delta: int, base: float = 10_000.0) -> "KVCache":
        """Every key rotated by R_delta and every position moved by delta; values untouched (PIE)."""
        return KVCache([rotate_by_delta(t, delta, base) for t in self.k], list(self.v), self.pos + delta)

    @staticmethod
    def cat(parts: list["KVCache"]) -> "KVCache":
        parts = [c for c in parts if len(c)] or parts[:1]
        L = parts[0].n_layers
        return KVCache([torch.cat([c.k[l] for c in parts], dim=2) for l in range(L)],
                       [torch.cat([c.v[l] for c in parts], dim=2) for l in range(L)],
                       torch.cat([c.pos for c in parts]))

    @staticmethod
    def empty(n_layers: int, batch: int, n_heads: int, d_head: int, dtype=torch.float32) -> "KVCache":
        z = torch.zeros(batch, n_heads, 0, d_head, dtype=dtype)
        return KVCache([z] * n_layers, [z] * n_layers, torch.zeros(0, dtype=torch.long))


class RoPEAttention(nn.Module):
    """Causal multi-head attention with RoPE on q and k; new queries see all cached entries and earlier new ones."""

    def __init__(self, d: int, n_heads: int, base: float = 10_000.0):
        super().__init__()
        if d % n_heads:
            raise ValueError(f"d={d} is not divisible by n_heads={n_heads}")
        self.d, self.n_heads, self.d_head, self.base = d, n_heads, d // n_heads, base
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.out = nn.Linear(d, d, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                past: tuple[torch.Tensor, torch.Tensor] | None = None):
        """x (B, T, d); cos/sin (T, d_head) of the new tokens' positions; past = cached (k, v), each (B, H, P, dh).

        Returns y (B, T, d) and this call's post-RoPE k and plain v, each (B, H, T, dh).
        """
        B, T, _ = x.shape
        q, k, v = (t.view(B, T, self.n_heads, self.d_head).transpose(1, 2) for t in self.qkv(x).chunk(3, -1))
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)  # (B, H, T, dh)
        P = 0 if past is None else past[0].shape[2]
        if P == 0:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=T > 1)
        else:
            ka, va = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)  # (B, H, P+T, dh)
            mask = None
            if T > 1:  # (T, P+T): every cached entry, then causal among the new tokens
                mask = torch.ones(T, P + T, dtype=torch.bool).tril(diagonal=P)
            y = F.scaled_dot_product_attention(q, ka, va, attn_mask=mask)
        return self.out(y.transpose(1, 2).reshape(B, T, self.d)), k, v


class RoPEBlock(nn.Module):
    """Pre-RMSNorm block: x + attn(norm(x)), then x + ffn(norm(x)) (FeedForward from tasks/common/nn.py)."""

    def __init__(self, d: int, n_heads: int, d_ff: int, base: float = 10_000.0):
        super().__init__()
        self.n1, self.n2 = nn.RMSNorm(d), nn.RMSNorm(d)
        self.attn = RoPEAttention(d, n_heads, base)
        self.ff = FeedForward(d, d_ff)

    def forward(self, x, cos, sin, past=None):
        a, k, v = self.attn(self.n1(x), cos, sin, past)
        x = x + a  # (B, T, d)
        return x + self.ff(self.n2(x)), k, v


def _sdpa_causal_flops(q, k, v, *args, out_shape=None, is_causal=False, attn_mask=None, **kwargs) -> int:
    """2 matmuls x 2 FLOPs per allowed (query, key) pair per head dim: causal prefill counts T(T+1)/2 pairs, a
    masked call (P cached + T new, the only mask RoPEAttention builds) T*P + T(T+1)/2, an unmasked one Tq*Tk."""
    B, H, Tq, dh = q
    Tk = k[2]
    if (len(args) > 1 and args[1]) or is_causal:
        pairs = Tq * (Tq + 1) // 2
    elif attn_mask is not None or (len(args) > 2 and args[2] is not None):
        P = Tk - Tq
        pairs = Tq * P + Tq * (Tq + 1) // 2
    else:
        pairs = Tq * Tk
    return 4 * B * H * pairs * dh


def sdpa_flop_mapping() -> dict:
    """custom_mapping for FlopCounterMode: count CPU SDPA over the allowed causal pairs."""
    aten = torch.ops.aten
    return {aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_causal_flops}
