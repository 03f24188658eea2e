"""The decoder of sheet Stage B1 and its precision arms (Feng et al. arXiv 2410.13857, §6 "from scratch").

The blocks are the shared pre-LN causal transformer of tasks/common/nn.py (learned positions, GeLU, no dropout).
nn.py offers one activation hook (`act_fn`, the residual stream after the embeddings and after every block); the
other fake-quantisation points of the sheet are added here by swapping module classes in place (the state-dict
keys stay those of nn.py, so every arm loads every other arm's weights):

    point                                   where
    inputs, weights, bias, outputs of Linear  FQLinear (every nn.Linear: qkv, out, fc1, fc2, head)
    attention probabilities                 FQAttention (explicit softmax(q k^T / sqrt(dh)) instead of SDPA)
    attention output (probs @ v)            FQAttention
    residual stream                         act_fn (after embeddings and every block) + FQBlock (mid-block sum)

LayerNorm statistics, GeLU and the softmax exp stay float32 (as in real mixed-precision kernels); their inputs and
outputs are rounded where they enter or leave a Linear or the residual stream. The weights the optimizer updates
stay float32 masters; rounding is the straight-through `tasks.common.quant.fake_quant`.

Arms: fp32 (b = 24, nothing swapped, SDPA), fq8 (b = 8: bf16 rounding), fq4 (b = 4: e4m3-like significand, no
range clamp), bf16_pure (the fp32 model cast with .to(torch.bfloat16); AdamW states in bf16 too).
"""
from __future__ import annotations

import math
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from tasks.common.nn import Block, MultiHeadAttention, Transformer, count_params
from tasks.common.quant import FP32_BITS, fake_quant

from .data import VOCAB

ARM_BITS = {"fp32": None, "fq8": 8, "fq4": 4, "bf16_pure": None}


class FQLinear(nn.Linear):
    """nn.Linear with fake-quantised input, weight, bias and output (``self.fq_bits`` significand bits)."""

    fq_bits: int

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.fq_bits
        bias = None if self.bias is None else fake_quant(self.bias, b)
        return fake_quant(F.linear(fake_quant(x, b), fake_quant(self.weight, b), bias), b)


class FQAttention(MultiHeadAttention):
    """Causal attention written out so the probabilities and the attention output can be rounded."""

    fq_bits: int

    def forward(self, x: torch.Tensor, key_pad: torch.Tensor | None = None) -> torch.Tensor:
        if key_pad is not None:
            raise NotImplementedError("the precision decoder uses right padding and needs no key padding mask")
        q, k, v = self.forward_qkv(x)                                   # 3 x (B, H, T, dh), already rounded
        T = x.shape[1]
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])     # (B, H, T, T), float32
        if self.causal:
            scores = scores.masked_fill(~torch.ones(T, T, dtype=torch.bool, device=x.device).tril(), float("-inf"))
        probs = fake_quant(torch.softmax(scores, dim=-1), self.fq_bits)  # exp/normalise in fp32, then rounded
        y = fake_quant(probs @ v, self.fq_bits)                          # (B, H, T, dh)
        return self.out(self.merge_heads(y))                             # (B, T, d)


class FQBlock(Block):
    """Pre-LN block whose mid-block residual sum is rounded too."""

    fq_bits: int

    def forward(self, x: torch.Tensor, key_pad: torch.Tensor | None = None) -> torch.Tensor:
        x = fake_quant(x + self.attn(self.ln1(x), key_pad), self.fq_bits)  # (B, T, d)
        return x + self.ff(self.ln2(x))                                      # rounded by the model's act_fn


def _swap(mod: nn.Module, cls: type, bits: int) -> None:
    mod.__class__ = cls
    mod.fq_bits = bits


def build(arm: str, d_model: int, layers: int, heads: int, d_ff: int, max_len: int) -> Transformer:
    """A fresh causal decoder for ``arm`` (float32 parameters; bf16_pure is cast by ``for_arm``)."""
    bits = ARM_BITS[arm]
    model = Transformer(VOCAB, d_model, layers, heads, d_ff, max_len, causal=True)
    if bits is not None:
        apply_fake_quant(model, bits)
    return model


def apply_fake_quant(model: Transformer, bits: int) -> Transformer:
    """Swap the module classes in place so every quantisation point of the sheet rounds to ``bits``."""
    if bits >= FP32_BITS:
        return model
    model.act_fn = partial(fake_quant, b=bits)         # picklable (log_model, worker processes)
    for mod in list(model.modules()):
        if type(mod) is nn.Linear:
            _swap(mod, FQLinear, bits)
        elif type(mod) is MultiHeadAttention:
            _swap(mod, FQAttention, bits)
        elif type(mod) is Block:
            _swap(mod, FQBlock, bits)
    return model


def for_arm(arm: str, state: dict | None = None, **size) -> Transformer:
    """The arm's model, optionally loaded from a state dict; bf16_pure is cast to bfloat16."""
    model = build(arm, **size)
    if state is not None:
        model.load_state_dict(state)
    if arm == "bf16_pure":
        model = model.to(torch.bfloat16)
    return model


def from_config(cfg: dict) -> Transformer:
    """The model a `train@<arm>` stage saved (config: arm + size), for `io.load_model`."""
    cfg = dict(cfg)
    return for_arm(cfg.pop("arm"), **cfg)


__all__ = ["from_config", "ARM_BITS", "FQLinear", "FQAttention", "FQBlock", "build", "apply_fake_quant", "for_arm", "count_params"]
