"""Base-2 iterated addition as token sequences (sheet Stage B1; Feng et al. arXiv 2410.13857, §6 tasks).

One digit per token (tokenizer T_1), operands and answer least-significant digit first, operands zero-padded to
n digits, answer zero-padded to A = bits of k_max * (2^n - 1) digits (7 for n = 4, k_max = 8):

    a1_0 .. a1_{n-1} + a2_0 .. a2_{n-1} + ... + ak_{n-1} = s_0 .. s_{A-1}

Length k (n + 1) + A (47 for k = 8, n = 4). k = 2 is plain ADD (the in-model control). Batches mixing k are
right-padded with PAD; the model is causal, so padding never reaches a real position, and the loss covers answer
tokens only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

ZERO, ONE, PLUS, EQ, PAD = 0, 1, 2, 3, 4
VOCAB = 5
TOKENS = "01+=."


@dataclass(frozen=True)
class Spec:
    n_bits: int
    ks: tuple[int, ...]
    max_len: int

    @property
    def ans_bits(self) -> int:
        return int(max(self.ks) * (2 ** self.n_bits - 1)).bit_length()

    def seq_len(self, k: int) -> int:
        return k * (self.n_bits + 1) + self.ans_bits

    def check(self) -> None:
        longest = self.seq_len(max(self.ks))
        if longest > self.max_len:
            raise ValueError(f"k={max(self.ks)}, n={self.n_bits} needs {longest} tokens > max_len={self.max_len}")


def to_bits(x: np.ndarray, width: int) -> np.ndarray:
    """Non-negative ints (...,) -> LSB-first binary digits (..., width)."""
    return (np.asarray(x, dtype=np.int64)[..., None] >> np.arange(width)) & 1


def from_bits(d: np.ndarray) -> np.ndarray:
    """LSB-first digits (..., width) -> ints (...,)."""
    return (np.asarray(d, dtype=np.int64) << np.arange(d.shape[-1])).sum(-1)


def encode(ops: np.ndarray, spec: Spec) -> np.ndarray:
    """Operands (B, k) ints in [0, 2^n) -> token sequences (B, k (n + 1) + A) int64 (all the same k)."""
    B, k = ops.shape
    digits = to_bits(ops, spec.n_bits)                                          # (B, k, n)
    sep = np.full((B, k, 1), PLUS, dtype=np.int64)
    sep[:, -1, 0] = EQ
    body = np.concatenate([digits, sep], axis=2).reshape(B, k * (spec.n_bits + 1))
    return np.concatenate([body, to_bits(ops.sum(1), spec.ans_bits)], axis=1)


def decode(seq: np.ndarray, spec: Spec) -> tuple[list[int], int]:
    """One token sequence -> (operands, answer); the inverse of encode (used by tests)."""
    k = (len(seq) - spec.ans_bits) // (spec.n_bits + 1)
    body = np.asarray(seq[: k * (spec.n_bits + 1)]).reshape(k, spec.n_bits + 1)
    return [int(v) for v in from_bits(body[:, :-1])], int(from_bits(np.asarray(seq[-spec.ans_bits:])))


def sample_ops(rng: np.random.Generator, k: int, items: int, n_bits: int) -> np.ndarray:
    return rng.integers(0, 2 ** n_bits, size=(items, k))


def answer_mask(lengths: np.ndarray, T: int, ans_bits: int) -> np.ndarray:
    """(B, T) bool over *target* positions (inputs shifted by one): True where the target is an answer digit."""
    pos = np.arange(T)[None]
    end = lengths[:, None] - 1                        # target index of the last answer digit
    return (pos >= end - ans_bits + 1) & (pos <= end)


K_WEIGHTS = ("uniform", "linear")


def training_batch(rng: np.random.Generator, spec: Spec, batch: int, k_max: int | None = None,
                   k_weight: str = "uniform") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fresh mixed-k batch: (inputs (B, T), targets (B, T), loss mask (B, T)), right-padded with PAD; k drawn from
    spec.ks (those <= k_max when given: a curriculum over k; the answer width stays spec's), uniformly or with
    probability proportional to k (k_weight="linear": more of the large k, every admitted k keeps a share)."""
    pool = [k for k in spec.ks if k_max is None or k <= k_max] or [min(spec.ks)]
    if k_weight == "uniform":
        ks = rng.choice(np.asarray(pool), size=batch)
    elif k_weight == "linear":
        ks = rng.choice(np.asarray(pool), size=batch, p=np.asarray(pool, dtype=float) / sum(pool))
    else:
        raise ValueError(f"k_weight must be one of {K_WEIGHTS}, got {k_weight!r}")
    T1 = spec.seq_len(int(ks.max()))
    seqs = np.full((batch, T1), PAD, dtype=np.int64)
    lengths = np.zeros(batch, dtype=np.int64)
    for k in np.unique(ks):
        rows = np.flatnonzero(ks == k)
        s = encode(sample_ops(rng, int(k), len(rows), spec.n_bits), spec)
        seqs[rows, : s.shape[1]] = s
        lengths[rows] = s.shape[1]
    mask = answer_mask(lengths - 1, T1 - 1, spec.ans_bits)          # lengths of the shifted target rows
    return torch.from_numpy(seqs[:, :-1]), torch.from_numpy(seqs[:, 1:]), torch.from_numpy(mask)
