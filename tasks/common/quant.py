"""Fake quantisation: low-precision floating-point emulation and post-training integer weight quantisation.

Reusable by any paper that studies numerical precision (first user: tasks/precision, Feng et al. arXiv 2410.13857).

Floating point (emulated in float32, round-to-nearest-even, no exponent-range clamp):
- ``round_sig(x, b)``: round every element to ``b`` significand bits (the implicit leading bit included), i.e. the
  significand grid of a float format with ``b - 1`` stored mantissa bits: b=8 is bfloat16, b=11 float16, b=4 the
  significand of fp8 e4m3, b=3 of e5m2, b>=24 float32 itself (identity). Exponents are unbounded (as in float32), so
  unlike a real fp8/fp16 cast there is no overflow to inf/saturation and no extra subnormal loss: on each format's
  normal range the result equals torch's own cast (tests/test_quant.py).
- ``fake_quant(x, b)``: ``round_sig`` in the forward pass, identity gradient (straight-through estimator) in the
  backward pass, as a ``torch.autograd.Function``.

Integer post-training weight quantisation (per output channel, symmetric, round to nearest):
- ``quantize_per_channel(w, bits)`` -> (integer levels, scales); levels in [-(2^(bits-1)-1), 2^(bits-1)-1], i.e.
  [-127, 127] for int8 and [-7, 7] for int4 (symmetric; the code -2^(bits-1) is unused).
- ``fake_quantize_weight(w, bits)``: the dequantised weight levels * scale (round-trip error <= scale/2).
- ``quantize_linear_weights(model, bits, skip=())``: a copy of a model with every ``nn.Linear`` weight quantised.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

FP32_BITS = 24  # significand bits of float32 (23 stored + 1 implicit)
FORMAT_BITS = {"e5m2": 3, "e4m3": 4, "bf16": 8, "fp16": 11, "fp32": FP32_BITS}


def round_sig(x: torch.Tensor, b: int) -> torch.Tensor:
    """Round to ``b`` significand bits, round-to-nearest-even, computed exactly on the float32 bit pattern.

    ``x`` is cast to float32 first (the result is float32, a new tensor). b >= 24 returns ``x`` unchanged. +-inf and
    the default NaN pass through; a value within half an ulp of float32's max rounds up to inf, as in a real cast.
    Written as in-place integer ops on one scratch tensor: several times faster than frexp/round/ldexp on CPU.
    """
    if b < 1:
        raise ValueError(f"significand bits must be >= 1, got {b}")
    x = x.float()
    if b >= FP32_BITS:
        return x
    shift = FP32_BITS - b                       # low mantissa bits to drop
    bits = x.view(torch.int32)
    t = bits >> shift                           # new tensor; its lowest bit is the last kept bit
    t &= 1
    t += (1 << (shift - 1)) - 1                 # half an ulp, minus one when the kept lsb is even (ties to even)
    t += bits                                   # a carry into the kept bits rounds up (the exponent may bump)
    t &= -(1 << shift)                          # clear the dropped bits (sign-magnitude: works for negatives)
    return t.view(torch.float32)


class _RoundSTE(torch.autograd.Function):
    """Forward: round_sig(x, b); backward: the incoming gradient unchanged (straight-through estimator)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, b: int) -> torch.Tensor:  # noqa: D102
        return round_sig(x, b).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: D102
        return grad, None


def fake_quant(x: torch.Tensor, b: int | None) -> torch.Tensor:
    """b-bit significand rounding with a straight-through gradient; ``None`` or b >= 24 is the identity."""
    if b is None or b >= FP32_BITS:
        return x
    return _RoundSTE.apply(x, b)


def bf16_round(x: torch.Tensor) -> torch.Tensor:
    """bfloat16 rounding kept in float32 (8 significand bits), with STE."""
    return fake_quant(x, FORMAT_BITS["bf16"])


def e4m3_round(x: torch.Tensor) -> torch.Tensor:
    """e4m3-like rounding: 4 significand bits, no range clamp (exponent unbounded), with STE."""
    return fake_quant(x, FORMAT_BITS["e4m3"])


# --- integer post-training weight quantisation -----------------------------------------------------------------
def qmax(bits: int) -> int:
    if not 2 <= bits <= 16:
        raise ValueError(f"integer bits must be in [2, 16], got {bits}")
    return 2 ** (bits - 1) - 1


def quantize_per_channel(w: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-output-channel (dim 0) quantisation: returns (int levels, float scales of shape (out, 1...)).

    scale = max|w_row| / qmax (rows of zeros get scale 1); levels = clamp(round(w / scale), -qmax, qmax).
    """
    q = qmax(bits)
    w = w.detach().float()
    amax = w.abs().reshape(w.shape[0], -1).amax(dim=1)
    scale = torch.where(amax > 0, amax / q, torch.ones_like(amax)).reshape(-1, *([1] * (w.dim() - 1)))
    levels = torch.clamp(torch.round(w / scale), -q, q).to(torch.int32)
    return levels, scale


def fake_quantize_weight(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Dequantised per-channel symmetric int-``bits`` weight (same shape and dtype as ``w``)."""
    levels, scale = quantize_per_channel(w, bits)
    return (levels.float() * scale).to(w.dtype)


@torch.no_grad()
def quantize_linear_weights(model: nn.Module, bits: int, skip: tuple[str, ...] = ()) -> nn.Module:
    """A deep copy of ``model`` whose ``nn.Linear`` weights (not biases) are int-``bits`` round-tripped.

    Modules whose qualified name starts with any prefix in ``skip`` are left in float (e.g. the output head, which
    AWQ-style int4 schemes also keep in 16 bits).
    """
    out = copy.deepcopy(model)
    for name, mod in out.named_modules():
        if isinstance(mod, nn.Linear) and not any(name.startswith(s) for s in skip if s):
            mod.weight.copy_(fake_quantize_weight(mod.weight, bits))
    return out
