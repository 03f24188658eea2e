"""The tiny trained masked diffusion model of the sheet ("Denoisers" 3) and its MDLM loss (trained by tasks/common/train.py).

Feng et al., arXiv 2502.09622, state their results for a "well-trained" MDM; here a bidirectional
transformer (d=64, 2 layers, 4 heads, FFN 256, learned absolute positions, L_max=64, ~100k params,
built on tasks/common/nn.py) is trained on fresh samples of the synthetic language with the MDLM
objective (Sahoo et al., loglinear schedule alpha_t = 1 - t):

    t ~ U(1e-3, 1) (i.i.d., or stratified over the batch: same marginal, lower variance); mask each real token
    with probability t; loss = sum over masked real tokens of CE / t, divided by the number of real tokens (the
    continuous-time NELBO per token).

Vocabulary: the V real tokens 0..V-1, MASK = V, PAD = V+1. Lengths are mixed ({16, 32, 64}): per sequence
and padded to L_max (pads excluded from attention keys and from the loss), or one length per batch with the
same token count and no pads. The head predicts only real
tokens at the loss and at sampling (mask/pad logits are sliced off). Deviations: model size, data and
training budget are the sheet's CPU stand-ins, not the paper's (unknown) settings.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tasks.common.nn import Transformer

from .languages import sample_direct

__all__ = ["MDM", "sample_t", "mdlm_loss", "make_batch_sampler", "model_denoiser"]


class MDM(nn.Module):
    """Bidirectional transformer over V + 2 tokens (MASK = V, PAD = V + 1); logits over the V real ones."""

    def __init__(self, V: int = 8, d: int = 64, n_layers: int = 2, n_heads: int = 4, d_ff: int = 256,
                 max_len: int = 64):
        super().__init__()
        self.V, self.mask_id, self.pad_id, self.max_len = V, V, V + 1, max_len
        self.net = Transformer(V + 2, d, n_layers, n_heads, d_ff, max_len, causal=False)

    def forward(self, tokens: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """tokens (B, T) long in [0, V+2); pad_mask (B, T) bool, True = pad -> logits (B, T, V) float32."""
        return self.net(tokens, key_pad=pad_mask)[..., : self.V]


def sample_t(B: int, generator: torch.Generator | None = None, t_min: float = 1e-3,
             how: str = "uniform") -> torch.Tensor:
    """(B,) diffusion times in [t_min, 1): i.i.d. uniform, or "stratified" (low-discrepancy: one uniform offset u,
    t_i from (u + i) / B over a random permutation of i, so every batch covers [t_min, 1) evenly; same marginal)."""
    if how == "uniform":
        u = torch.rand(B, generator=generator)
    elif how == "stratified":
        u = (torch.rand(1, generator=generator) + torch.randperm(B, generator=generator) / B) % 1.0
    else:
        raise ValueError(f"unknown t sampling {how!r}; expected uniform or stratified")
    return t_min + (1.0 - t_min) * u


def mdlm_loss(model: MDM, x: torch.Tensor, pad_mask: torch.Tensor, generator: torch.Generator | None = None,
              t_min: float = 1e-3, t_sampling: str = "uniform") -> torch.Tensor:
    """MDLM loss (1/t-weighted CE on masked real tokens, per real token) of clean x (B, T) -> scalar.

    x holds real tokens where ``pad_mask`` (B, T) is False; its values at pads are ignored. ``t_sampling``:
    see ``sample_t``. A batch without pads skips the attention key mask (same result, faster).
    """
    B, T = x.shape
    real = ~pad_mask  # (B, T)
    t = sample_t(B, generator, t_min, t_sampling)  # (B,)
    masked = (torch.rand(B, T, generator=generator) < t[:, None]) & real  # (B, T)
    inp = torch.where(masked, model.mask_id, torch.where(real, x, model.pad_id))  # (B, T)
    logits = model(inp, pad_mask if bool(pad_mask.any()) else None)  # (B, T, V)
    target = torch.where(real, x, 0)  # pads get a dummy target, weighted 0 below
    ce = F.cross_entropy(logits.reshape(B * T, -1), target.reshape(-1), reduction="none").view(B, T)
    weight = masked.float() / t[:, None]  # (B, T)
    return (ce * weight).sum() / real.sum().clamp(min=1)


def make_batch_sampler(pi: np.ndarray, P: np.ndarray, rng: np.random.Generator, lengths=(16, 32, 64),
                       L_max: int = 64, pad_id: int | None = None,
                       per_batch_length: bool = False) -> Callable[[int], tuple]:
    """Fresh training batches: ``fn(batch) -> (x (n, T) long, pad_mask (n, T) bool)``.

    Default (per sequence): n = batch, T = L_max; each sequence gets a length drawn uniformly from ``lengths``; it
    is the prefix of a length-L_max chain sample (a prefix of a stationary chain is a sample of the shorter chain);
    pads hold ``pad_id`` (default V + 1). ``per_batch_length``: one length L per batch, drawn uniformly, and
    n = batch * L_max // L sequences of length L without pads (the same token count as a full batch at L_max, none
    of it spent on pads).
    """
    lens = np.asarray(lengths, dtype=np.int64)
    if lens.max() > L_max:
        raise ValueError(f"a length in {tuple(lengths)} exceeds L_max={L_max}")
    pad = pi.size + 1 if pad_id is None else pad_id

    def sample(batch: int):
        if per_batch_length:
            L = int(rng.choice(lens))
            x = sample_direct(pi, P, L, max(1, batch * L_max // L), rng)  # (n, L)
            return torch.from_numpy(x), torch.zeros(x.shape, dtype=torch.bool)
        x = sample_direct(pi, P, L_max, batch, rng)  # (batch, L_max)
        n = rng.choice(lens, size=batch)  # (batch,)
        pad_mask = np.arange(L_max)[None, :] >= n[:, None]  # (batch, L_max)
        x[pad_mask] = pad
        return torch.from_numpy(x), torch.from_numpy(pad_mask)

    return sample


def model_denoiser(model: MDM, V: int, chunk: int = 500):
    """Adapt a trained MDM to the sampler's ``denoise(x, mask, query=None)`` interface.

    Masked positions are fed as MASK; no pads (all B sequences share one length L <= max_len). The
    float32 logits over the V real tokens go through a float64 softmax; returns (M, V) float64 rows at
    ``query`` (row-major), or (B, L, V) with revealed rows 0 when ``query`` is None.
    """
    if model.V != V:
        raise ValueError(f"model has V={model.V}, sampler asked for V={V}")

    @torch.inference_mode()
    def denoise(x: np.ndarray, mask: np.ndarray, query: np.ndarray | None = None) -> np.ndarray:
        model.eval()
        tok = torch.from_numpy(np.where(mask, model.mask_id, x).astype(np.int64))  # (B, L)
        logits = torch.cat([model(tok[i: i + chunk]) for i in range(0, tok.shape[0], chunk)])  # (B, L, V)
        probs = torch.softmax(logits.double(), dim=-1).numpy()  # (B, L, V) float64
        if query is not None:
            return probs[query]  # (M, V)
        probs[~mask] = 0.0
        return probs

    return denoise
