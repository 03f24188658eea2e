"""One cell of the (L, N, schedule, denoiser) grid and the oracle grid (the sheet's "Grid and metrics").

Feng et al., arXiv 2502.09622, measure the token error rate by generative perplexity under the true
language and the sequence error rate as the mass on sequences the language forbids. Per cell we draw
B samples with a reverse sampler and report, with q the known language:

- Δ_TER = mean(-log q(x))/L - H(q)/L in nats/token, with its Monte-Carlo SE (finite on the dense
  language; +inf as soon as one sample has q(x) = 0);
- SER = fraction of samples with q(x) = 0, with a Wilson 95% CI;
- invalid-pair rate (token level), zero-normaliser events, denoiser calls and per-sequence NFE;
- unigram and bigram (adjacent pair, joint) entropies of the samples in nats, to catch low-entropy
  samples that would game generative perplexity (compare with ``reference_entropies``).

``grid_ns(L)`` is the sheet's N grid; ``oracle_grid`` runs a whole (language, schedule) block with the
exact oracle and a per-cell seed derived from (seed, L, N, schedule).
"""
from __future__ import annotations

import logging
import time

import numpy as np
from scipy.special import xlogy

from tasks.common.stats import mean_se, wilson

from .languages import exact_entropy, invalid_pairs, log_q
from .oracle import OracleDenoiser
from .sampler import SCHEDULES, sample_mdm

log = logging.getLogger(__name__)

__all__ = ["grid_ns", "entropy_of_counts", "sample_entropies", "reference_entropies", "cell_metrics",
           "evaluate_cell", "cell_rng", "oracle_grid"]

BASE_NS = (4, 8, 16, 32, 64, 128, 256, 512)


def grid_ns(L: int, base=BASE_NS, fractions=(8, 4, 2, 1)) -> list[int]:
    """N in ``base`` ∪ {L/8, L/4, L/2, L} with 1 <= N <= L, sorted (non-integer fractions skipped)."""
    ns = {int(n) for n in base if 1 <= n <= L}
    ns |= {L // f for f in fractions if L % f == 0 and L // f >= 1}
    return sorted(ns)


def entropy_of_counts(counts: np.ndarray) -> float:
    """Plug-in entropy (nats) of an array of counts."""
    c = np.asarray(counts, dtype=np.float64).ravel()
    p = c / c.sum()
    return float(-xlogy(p, p).sum())


def sample_entropies(x: np.ndarray, V: int) -> tuple[float, float]:
    """(unigram entropy, joint adjacent-pair entropy) of samples x (B, L), in nats."""
    uni = np.bincount(x.ravel(), minlength=V)
    big = np.bincount((x[:, :-1] * V + x[:, 1:]).ravel(), minlength=V * V)
    return entropy_of_counts(uni), entropy_of_counts(big)


def reference_entropies(pi: np.ndarray, P: np.ndarray) -> tuple[float, float]:
    """The language's (H(pi), H(x_i, x_{i+1})) = (H(pi), H(pi) + sum_u pi_u H(P_u)), in nats."""
    h_pi = exact_entropy(pi, P, 1)
    return h_pi, exact_entropy(pi, P, 2)


def cell_metrics(x: np.ndarray, pi: np.ndarray, P: np.ndarray) -> dict:
    """All per-cell metrics of samples x (B, L) under the language (pi, P)."""
    B, L = x.shape
    lq = log_q(x, pi, P)  # (B,)
    h = exact_entropy(pi, P, L)
    nll_tok = -lq / L  # (B,)
    if np.isfinite(lq).all():
        m, se = mean_se(nll_tok)
        delta = m - h / L
    else:
        delta, se = float("inf"), float("nan")
    bad = invalid_pairs(x, P)  # (B,)
    k = int((bad > 0).sum())
    ser, lo, hi = wilson(k, B)
    h1, h2 = sample_entropies(x, pi.size)
    return {"B": B, "L": L, "H_per_token": h / L, "delta_ter": float(delta), "delta_se": float(se),
            "ser": ser, "ser_lo": lo, "ser_hi": hi, "n_invalid_seq": k,
            "invalid_pair_rate": float(bad.sum() / (B * (L - 1))) if L > 1 else 0.0,
            "unigram_entropy": h1, "bigram_entropy": h2}


def evaluate_cell(pi: np.ndarray, P: np.ndarray, L: int, N: int, schedule: str, denoise, B: int,
                  rng: np.random.Generator) -> dict:
    """Sample B sequences with (schedule, N, denoise) and return the cell's metrics and counters."""
    t0 = time.perf_counter()
    x, c = sample_mdm(denoise, B, L, N, schedule, rng)
    out = cell_metrics(x, pi, P)
    out.update(N=N, schedule=schedule, n_calls=c["n_calls"], nfe_mean=float(c["nfe_per_seq"].mean()),
               n_zero=c["n_zero"], seconds=time.perf_counter() - t0)
    return out


def cell_rng(seed: int, L: int, N: int, schedule: str, salt: int = 0) -> np.random.Generator:
    """A Generator for one cell, independent across (seed, L, N, schedule, salt)."""
    return np.random.default_rng([int(seed), int(L), int(N), SCHEDULES.index(schedule), int(salt)])


def oracle_grid(pi: np.ndarray, P: np.ndarray, Ls, schedule: str, B: int, seed: int,
                ns_for=grid_ns, progress=None) -> list[dict]:
    """Every (L, N in ns_for(L)) cell for one language and schedule with the exact oracle."""
    oracle = OracleDenoiser(pi, P, max(Ls))
    cells = [(L, N) for L in Ls for N in ns_for(L)]
    it = progress(cells) if progress is not None else cells
    rows = []
    for L, N in it:
        rows.append(evaluate_cell(pi, P, L, N, schedule, oracle, B, cell_rng(seed, L, N, schedule)))
        log.debug("L=%d N=%d %s: Δ=%.4f SER=%.3f (%.2fs)", L, N, schedule, rows[-1]["delta_ter"],
                  rows[-1]["ser"], rows[-1]["seconds"])
    return rows
