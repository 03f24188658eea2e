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

from .data import EQ, PLUS, VOCAB

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


def coupled_ids(tokens: torch.Tensor) -> torch.Tensor:
    """(B, T) tokens -> (B, T) ids of the digit-significance ("index hint") embedding: position coupling (Cho et al.
    2024, "Position Coupling"): a digit of significance j in any operand gets id j + 1; '=' gets 1 and answer digit
    s_i gets i + 2, i.e. the token that *predicts* answer digit j carries the id of the operand digits of column j;
    '+' gets 0. Answer-segment tokens ('=' and after) are told apart from operand tokens: id * 2 + 1 vs id * 2."""
    B, T = tokens.shape
    t = torch.arange(T, device=tokens.device).expand(B, T)
    is_sep = (tokens == PLUS) | (tokens == EQ)
    last_sep = torch.where(is_sep, t, torch.full_like(t, -1)).cummax(dim=1).values   # last separator at or before t
    in_ans = torch.cumsum((tokens == EQ).long(), dim=1) > 0                          # '=' and everything after it
    j = t - last_sep - 1                                                             # index within the segment
    sig = torch.where(in_ans, j + 2, j + 1)                                          # answer digit i -> i + 2
    sig = torch.where(tokens == PLUS, torch.zeros_like(sig), sig)
    sig = torch.where(tokens == EQ, torch.ones_like(sig), sig)
    return sig * 2 + in_ans.long()


class CoupledTransformer(Transformer):
    """nn.py's Transformer plus a learned embedding of `coupled_ids` added to the token + absolute position sum."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.coup = nn.Embedding(2 * self.max_len + 2, self.tok.embedding_dim)
        nn.init.normal_(self.coup.weight, std=0.02)

    def forward(self, tokens: torch.Tensor, key_pad: torch.Tensor | None = None) -> torch.Tensor:
        B, T = tokens.shape
        if T > self.max_len:
            raise ValueError(f"sequence length {T} exceeds max_len {self.max_len}")
        pos = torch.arange(T, device=tokens.device)
        h = self._act(self.tok(tokens) + self.pos(pos)[None] + self.coup(coupled_ids(tokens)))  # (B, T, d)
        for blk in self.blocks:
            h = self._act(blk(h, key_pad))                                                    # (B, T, d)
        return self.head(self.ln_f(h))                                                        # (B, T, vocab)


def _swap(mod: nn.Module, cls: type, bits: int) -> None:
    mod.__class__ = cls
    mod.fq_bits = bits


def build(arm: str, d_model: int, layers: int, heads: int, d_ff: int, max_len: int,
          coupled: bool = False) -> Transformer:
    """A fresh causal decoder for ``arm`` (float32 parameters; bf16_pure is cast by ``for_arm``); ``coupled`` adds
    the digit-significance embedding (CoupledTransformer)."""
    bits = ARM_BITS[arm]
    cls = CoupledTransformer if coupled else Transformer
    model = cls(VOCAB, d_model, layers, heads, d_ff, max_len, causal=True)
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


__all__ = ["from_config", "CoupledTransformer", "coupled_ids", "ARM_BITS", "FQLinear", "FQAttention", "FQBlock", "build", "apply_fake_quant", "for_arm", "count_params"]
