"""Reverse samplers of a masked diffusion LM (the sheet's "Samplers"), vectorised over the batch.

Feng et al., arXiv 2502.09622, analyse the standard MDM reverse process in which the tokens unmasked
in one step are drawn independently in parallel from the denoiser's conditionals. Two schedules:

(a) ``bernoulli`` (MDLM's ``ddpm_cache`` update, kuleshov-group/mdlm ``_ddpm_caching_update``):
    alpha_t = 1 - t on the uniform grid t_k = 1 - k/N; from t to s each still-masked token is revealed
    with probability (t - s)/t = 1/(N - k) at step k (probability 1 at the last step, s = 0). Tokens
    are independent, so a token is revealed at step k with probability prod_{j<k}(1 - 1/(N-j)) *
    1/(N-k) = 1/N: we draw every token's reveal step i.i.d. uniform on {0..N-1} up front, which has
    exactly the same law and lets a step touch only the tokens it reveals. The denoiser is called
    only in steps that reveal something (MDLM's cache).
(b) ``fixed`` (fixed-count): an independent random permutation per sequence split into N near-equal
    consecutive groups (sizes differ by at most one, larger groups first); group k is revealed at step
    k. N = L is exact any-order autoregressive sampling.

Categorical draws use a float64 inverse CDF (cumsum, then compare with float64 uniforms), never
float32 Gumbel-max, which lowers the effective temperature (Zheng et al., arXiv 2409.02908).

A denoiser is ``denoise(x, mask, query) -> probs (M, V)`` (see ``oracle.py``; ``query`` = the positions
revealed in this step). All randomness comes from the Generator passed in, so a seed fixes the samples.
"""
from __future__ import annotations

import numpy as np

__all__ = ["sample_categorical_f64", "group_sizes", "reveal_steps", "sample_with_steps", "sample_bernoulli",
           "sample_fixed_count", "sample_mdm", "SCHEDULES"]

SCHEDULES = ("bernoulli", "fixed")


def sample_categorical_f64(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row of ``probs`` (..., V) by float64 inverse CDF -> (...) int64.

    Rows need not be normalised (scaled by their sum); a zero-probability category is never drawn.
    """
    p = np.asarray(probs, dtype=np.float64)
    cdf = np.cumsum(p, axis=-1)  # (..., V)
    u = rng.random(cdf.shape[:-1]) * cdf[..., -1]  # (...,) in [0, total)
    idx = (cdf <= u[..., None]).sum(axis=-1)  # first v with cdf[v] > u
    last = cdf.argmax(axis=-1)  # last category with positive mass (guards rounding at u ~ total)
    return np.minimum(idx, last).astype(np.int64)


def group_sizes(L: int, N: int) -> np.ndarray:
    """Sizes of N near-equal groups covering L positions (as np.array_split: larger groups first)."""
    if not 1 <= N <= L:
        raise ValueError(f"need 1 <= N <= L, got N={N}, L={L}")
    sizes = np.full(N, L // N, dtype=np.int64)
    sizes[: L % N] += 1
    return sizes


def reveal_steps(B: int, L: int, N: int, schedule: str, rng: np.random.Generator) -> np.ndarray:
    """The step (0..N-1) at which each position is revealed -> (B, L) int64."""
    if schedule == "bernoulli":
        if N < 1:
            raise ValueError(f"need N >= 1, got {N}")
        return rng.integers(0, N, size=(B, L))
    if schedule == "fixed":
        rank = np.argsort(rng.random((B, L)), axis=1)  # (B, L): a uniform random permutation per row
        return np.repeat(np.arange(N), group_sizes(L, N))[rank]
    raise ValueError(f"unknown schedule {schedule!r}; expected one of {SCHEDULES}")


def sample_with_steps(denoise, step_of: np.ndarray, N: int,
                      rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Run the reverse process revealing position (b, i) at step ``step_of[b, i]`` -> (x (B, L), counters).

    counters: n_calls (denoiser calls), nfe_per_seq (B,) steps that reveal >= 1 token of the sequence,
    masked_before (N,) and revealed (N,) token counts per step, n_zero (zero-normaliser events, read
    from the denoiser's ``n_zero`` attribute if it has one).
    """
    B, L = step_of.shape
    x = np.zeros((B, L), dtype=np.int64)
    mask = np.ones((B, L), dtype=bool)
    order = np.argsort(step_of, axis=None, kind="stable")  # flat indices by step, row-major within a step
    revealed = np.bincount(step_of.ravel(), minlength=N)  # (N,)
    starts = np.concatenate([[0], np.cumsum(revealed)])
    zero0 = getattr(denoise, "n_zero", 0)
    n_calls = 0
    query = np.zeros((B, L), dtype=bool)
    for k in range(N):
        flat = order[starts[k]: starts[k + 1]]
        if flat.size == 0:
            continue
        query.ravel()[flat] = True
        probs = denoise(x, mask, query)  # (M, V), rows in the order of `flat`
        x.ravel()[flat] = sample_categorical_f64(probs, rng)
        mask.ravel()[flat] = False
        query.ravel()[flat] = False
        n_calls += 1
    if mask.any():  # unreachable by construction; guards schedule bugs
        raise RuntimeError("sampler finished with masked tokens left")
    srt = np.sort(step_of, axis=1)
    counters = {"n_calls": n_calls, "nfe_per_seq": 1 + (np.diff(srt, axis=1) != 0).sum(axis=1),
                "masked_before": B * L - starts[:-1], "revealed": revealed,
                "n_zero": int(getattr(denoise, "n_zero", 0) - zero0)}
    return x, counters


def sample_bernoulli(denoise, B: int, L: int, N: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Schedule (a), N steps of the ddpm_cache update with alpha_t = 1 - t -> (x (B, L), counters)."""
    return sample_with_steps(denoise, reveal_steps(B, L, N, "bernoulli", rng), N, rng)


def sample_fixed_count(denoise, B: int, L: int, N: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Schedule (b), a random permutation per sequence cut into N near-equal groups -> (x, counters)."""
    return sample_with_steps(denoise, reveal_steps(B, L, N, "fixed", rng), N, rng)


def sample_mdm(denoise, B: int, L: int, N: int, schedule: str, rng: np.random.Generator):
    """Sample B sequences of length L in N steps with ``schedule`` in ``SCHEDULES`` -> (x, counters)."""
    return sample_with_steps(denoise, reveal_steps(B, L, N, schedule, rng), N, rng)
