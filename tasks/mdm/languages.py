"""Synthetic first-order Markov languages with exact likelihoods (the sheet's "Data" table).

Feng et al., arXiv 2502.09622, set their theory in n-gram languages and HMMs; the sheet fixes two
bigram languages over V = 8 tokens, both started from the stationary distribution pi:

- dense bigram (for TER): rows ~ Dirichlet(0.3), mixed with 1e-3 * uniform, so every transition is
  > 0 and -log q(x) is finite;
- sparse bigram (for SER): every token has exactly 2 allowed successors with Dirichlet(1, 1)
  probabilities; redrawn until P^40 > 0 everywhere (irreducible and aperiodic), so q(x) = 0 exactly
  when x holds a forbidden adjacent pair.

Deviation: the paper's exact languages (n, vocabulary, worst-case construction for the SER bound) are
not known to us; these are the sheet's stand-ins. A language is the pair ``(pi, P)`` of float64 arrays.
"""
from __future__ import annotations

import numpy as np
from scipy.special import xlogy

from .sampler import sample_categorical_f64

__all__ = ["dense_bigram", "sparse_bigram", "stationary", "exact_entropy", "log_q", "sample_direct",
           "invalid_pairs", "invalid_pair_rate", "support_is_primitive"]


def stationary(P: np.ndarray) -> np.ndarray:
    """Stationary distribution pi (pi P = pi, sum 1) of an irreducible row-stochastic matrix."""
    V = P.shape[0]
    # Solve (P^T - I) pi = 0 together with sum(pi) = 1 by least squares (exact for a unique solution).
    A = np.vstack([P.T - np.eye(V), np.ones((1, V))])
    b = np.zeros(V + 1)
    b[-1] = 1.0
    pi = np.linalg.lstsq(A, b, rcond=None)[0]
    pi = np.clip(pi, 0.0, None)
    return pi / pi.sum()


def dense_bigram(seed, V: int = 8, alpha: float = 0.3, eps: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Dense bigram language: rows Dirichlet(alpha) mixed as (1 - eps) * row + eps / V.

    ``seed`` is an int or a numpy Generator. Returns ``(pi, P)``, pi stationary.
    """
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.full(V, alpha), size=V)
    P = (1.0 - eps) * P + eps / V
    P /= P.sum(axis=1, keepdims=True)
    return stationary(P), P


def support_is_primitive(P: np.ndarray, power: int = 40) -> bool:
    """True if (P^power) > 0 everywhere, checked on the 0/1 support (exact, no underflow)."""
    A = (P > 0).astype(np.int64)
    R = np.eye(P.shape[0], dtype=np.int64)
    for _ in range(power):
        R = np.minimum(R @ A, 1)
    return bool((R > 0).all())


def sparse_bigram(seed, V: int = 8, k: int = 2, power: int = 40,
                  max_tries: int = 10_000) -> tuple[np.ndarray, np.ndarray]:
    """Sparse bigram language: each token has exactly k allowed successors, Dirichlet(1,...,1) weights.

    Redraws (from the same Generator) until P^power > 0 everywhere. Returns ``(pi, P)``.
    """
    rng = np.random.default_rng(seed)
    for _ in range(max_tries):
        P = np.zeros((V, V))
        for u in range(V):
            succ = rng.choice(V, size=k, replace=False)
            P[u, succ] = rng.dirichlet(np.ones(k))
        if support_is_primitive(P, power) and (np.linalg.matrix_power(P, power) > 0).all():
            return stationary(P), P
    raise RuntimeError(f"no primitive sparse bigram found in {max_tries} draws (V={V}, k={k})")


def exact_entropy(pi: np.ndarray, P: np.ndarray, L: int) -> float:
    """H(q) in nats of length-L sequences: H(pi) + (L - 1) * sum_u pi_u H(P_u) (pi stationary)."""
    h_pi = -xlogy(pi, pi).sum()
    h_rows = -xlogy(P, P).sum(axis=1)  # (V,)
    return float(h_pi + (L - 1) * (pi @ h_rows))


def log_q(x: np.ndarray, pi: np.ndarray, P: np.ndarray) -> np.ndarray:
    """log q(x) for a batch x (B, L) of ints -> (B,) float64; -inf where a transition has prob 0."""
    x = np.asarray(x)
    with np.errstate(divide="ignore"):
        lp = np.log(P)
        lpi = np.log(pi)
    return lpi[x[:, 0]] + lp[x[:, :-1], x[:, 1:]].sum(axis=1)


def sample_direct(pi: np.ndarray, P: np.ndarray, L: int, B: int, rng: np.random.Generator) -> np.ndarray:
    """B ancestral samples of length L from the chain -> (B, L) int64 (float64 inverse-CDF draws)."""
    x = np.empty((B, L), dtype=np.int64)
    x[:, 0] = sample_categorical_f64(np.broadcast_to(pi, (B, pi.size)), rng)
    for i in range(1, L):
        x[:, i] = sample_categorical_f64(P[x[:, i - 1]], rng)
    return x


def invalid_pairs(x: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Number of adjacent pairs (x_i, x_{i+1}) with P = 0, per sequence -> (B,) int."""
    x = np.asarray(x)
    return (P[x[:, :-1], x[:, 1:]] == 0).sum(axis=1)


def invalid_pair_rate(x: np.ndarray, P: np.ndarray) -> float:
    """Fraction of the B * (L - 1) adjacent pairs that are forbidden (token-level error rate)."""
    x = np.asarray(x)
    n_pairs = x.shape[0] * (x.shape[1] - 1)
    return float(invalid_pairs(x, P).sum() / n_pairs) if n_pairs else 0.0
