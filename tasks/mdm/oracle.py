"""Exact oracle denoiser for a first-order Markov language (the sheet's "Denoisers" 1 and 2).

Feng et al., arXiv 2502.09622, prove their step bounds for a "well-trained" MDM whose conditionals are
close to the true ones; the oracle is the limiting case with zero learning error. For a bigram chain
only the nearest revealed neighbours l < i < r of a masked position i matter:

    p(x_i = v | revealed) ∝ [P^{i-l}(x_l, v), or pi_v if no left neighbour]
                           * [P^{r-i}(v, x_r), or 1 if no right neighbour].

The normaliser is 0 when tokens co-sampled earlier are jointly impossible (sparse language, tokens
revealed in the same step); we then fall back to the left factor only and count the event. This
fall-back is the sheet's choice; the paper does not say what a sampler should do there.

Everything is vectorised over the batch and the positions, the factors gathered from a precomputed
float64 stack of matrix powers. Nearest revealed indices: ``nearest_revealed`` (cumulative max /
reversed cumulative min, O(B L)) is the plain reference; the oracle uses ``nearest_revealed_at``, which
packs the revealed bits into 64-bit words and answers only the queried positions (the grid's large-N
cells reveal few tokens per step, so an O(B L) pass per step would dominate: 58 s -> 12.5 s per seed).
``noisy`` mixes any denoiser with the uniform distribution, (1 - eta) p + eta / V, to emulate a
learning error.

A denoiser here is a callable ``denoise(x, mask, query=None)``: x (B, L) ints (values at masked
positions are ignored), mask (B, L) bool (True = masked), query (B, L) bool ⊆ mask, the positions whose
conditionals the sampler needs. With ``query`` it returns float64 probs (M, V), one row per True entry
of query in row-major order (``x[query] = draws`` puts them back); without it, the full (B, L, V)
array with rows at revealed positions 0. The query form lets the oracle compute only the M rows a
step reveals, which is what makes the grid fast. The oracle counts zero-normaliser events in its
``n_zero`` attribute.
"""
from __future__ import annotations

import numpy as np

__all__ = ["power_stack", "nearest_revealed", "nearest_revealed_at", "oracle_probs", "scatter",
           "OracleDenoiser", "NoisyDenoiser", "noisy"]


def power_stack(P: np.ndarray, L: int) -> np.ndarray:
    """Matrix powers P^d for d = 0..L -> (L + 1, V, V) float64 (P^0 = I)."""
    V = P.shape[0]
    out = np.empty((L + 1, V, V), dtype=np.float64)
    out[0] = np.eye(V)
    for d in range(1, L + 1):
        np.matmul(out[d - 1], P, out=out[d])
    return out


def nearest_revealed(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest revealed index to the left (-1 if none) and right (L if none) of every position.

    mask (B, L) bool, True = masked. For a masked position i the results are l < i < r; for a
    revealed one both equal i. Returns two (B, L) int32 arrays. O(B L); the reference for
    ``nearest_revealed_at``, which the oracle uses.
    """
    B, L = mask.shape
    idx = np.arange(L, dtype=np.int32)
    left = np.where(mask, np.int32(-1), idx)  # (B, L)
    np.maximum.accumulate(left, axis=1, out=left)
    right = np.where(mask, np.int32(L), idx)[:, ::-1]  # (B, L), reversed view
    right = np.minimum.accumulate(right, axis=1)[:, ::-1]
    return left, right


_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)


def _highest_bit(v: np.ndarray) -> np.ndarray:
    """Index of the highest set bit of each nonzero uint64 (exact: 32-bit halves are exact in float64)."""
    hi = (v >> np.uint64(32)).astype(np.float64)
    lo = (v & np.uint64(0xFFFFFFFF)).astype(np.float64)
    return np.where(hi > 0, 31 + np.frexp(hi)[1], np.frexp(lo)[1] - 1).astype(np.int64)


def nearest_revealed_at(mask: np.ndarray, bi: np.ndarray, ii: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest revealed index left (-1 if none) and right (L if none) of the masked positions (bi, ii).

    Same result as ``nearest_revealed(mask)[.][bi, ii]`` at masked positions (strict neighbours also
    for revealed ones), but O(B L / 8 + M L / 64): the revealed bits of each row are packed into
    W = ceil(L / 64) uint64 words, and for each of the M queries the nearest set bit below / above it
    is found among its row's words.
    """
    B, L = mask.shape
    W = -(-L // 64)
    packed = np.zeros((B, 8 * W), dtype=np.uint8)
    packed[:, : -(-L // 8)] = np.packbits(~mask, axis=1, bitorder="little")
    words = packed.view("<u8")[bi]  # (M, W): bit j of word w = position 64 w + j revealed
    w = (ii >> 6)[:, None]  # (M, 1) word holding the query
    o = (ii & 63).astype(np.uint64)[:, None]  # (M, 1) bit offset in that word
    wi = np.arange(W)[None, :]  # (1, W)
    below = np.where(wi < w, _ALL, np.where(wi == w, ~(_ALL << o), np.uint64(0))) & words  # (M, W)
    above = np.where(wi > w, _ALL, np.where(wi == w, (_ALL << o) << np.uint64(1), np.uint64(0))) & words
    rows = np.arange(ii.size)
    nz = below != 0
    wl = W - 1 - np.argmax(nz[:, ::-1], axis=1)  # last nonzero word below
    left = np.where(nz.any(axis=1), 64 * wl + _highest_bit(below[rows, wl]), -1)
    nz = above != 0
    wr = np.argmax(nz, axis=1)  # first nonzero word above
    low = above[rows, wr]
    right = np.where(nz.any(axis=1), 64 * wr + _highest_bit(low & (~low + np.uint64(1))), L)
    return left, right


def _extended_stacks(pi: np.ndarray, powers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left stack (L+2, V, V): [d, u, v] = P^d(u, v), and row L+1 = pi (no left neighbour);
    right stack (L+2, V, V): [d, w, v] = P^d(v, w), and row L+1 = 1 (no right neighbour)."""
    n, V, _ = powers.shape
    left = np.empty((n + 1, V, V))
    left[:n] = powers
    left[n] = pi[None, :]
    right = np.empty((n + 1, V, V))
    right[:n] = powers.transpose(0, 2, 1)
    right[n] = 1.0
    return left, right


def oracle_probs(x: np.ndarray, mask: np.ndarray, pi: np.ndarray, powers: np.ndarray,
                 query: np.ndarray | None = None, stacks=None) -> tuple[np.ndarray, int]:
    """Exact conditionals at the masked ``query`` positions -> (probs (M, V) float64, n_zero events).

    Rows follow the row-major order of ``np.nonzero(query)`` (query defaults to mask). ``powers`` is
    ``power_stack(P, L')`` with L' >= L; ``stacks`` optionally caches ``_extended_stacks(pi, powers)``.
    """
    B, L = x.shape
    if query is None:
        query = mask
    left_st, right_st = stacks if stacks is not None else _extended_stacks(pi, powers)
    none = left_st.shape[0] - 1  # index of the "no neighbour" slab
    flat = np.flatnonzero(query)
    bi, ii = flat // L, flat % L  # (M,), (M,)
    if flat.size == 0:
        return np.zeros((0, pi.size)), 0
    l, r = nearest_revealed_at(mask, bi, ii)
    has_l, has_r = l >= 0, r < L
    dl = np.where(has_l, ii - l, none)
    dr = np.where(has_r, r - ii, none)
    xl = x[bi, np.maximum(l, 0)]
    xr = x[bi, np.minimum(r, L - 1)]
    lf = left_st[dl, xl]  # (M, V) left factor P^{i-l}(x_l, .) or pi
    un = lf * right_st[dr, xr]  # (M, V) times right factor P^{r-i}(., x_r) or 1
    z = un.sum(axis=1)  # (M,)
    zero = z <= 0.0
    n_zero = int(zero.sum())
    if n_zero:
        un[zero] = lf[zero]
        z[zero] = lf[zero].sum(axis=1)
    return un / z[:, None], n_zero


def scatter(probs: np.ndarray, query: np.ndarray) -> np.ndarray:
    """(M, V) rows at the True entries of query (B, L) -> (B, L, V), zeros elsewhere."""
    out = np.zeros(query.shape + probs.shape[-1:], dtype=probs.dtype)
    out[query] = probs
    return out


class OracleDenoiser:
    """The exact oracle for the chain (pi, P), for sequences of length <= L_max.

    ``n_zero`` accumulates the zero-normaliser fall-backs over calls (read it, or reset it to 0).
    """

    def __init__(self, pi: np.ndarray, P: np.ndarray, L_max: int):
        self.pi = np.asarray(pi, dtype=np.float64)
        self.V = self.pi.size
        self.powers = power_stack(np.asarray(P, dtype=np.float64), L_max)
        self._stacks = _extended_stacks(self.pi, self.powers)
        self.n_zero = 0

    def __call__(self, x: np.ndarray, mask: np.ndarray, query: np.ndarray | None = None) -> np.ndarray:
        if x.shape[1] > self.powers.shape[0] - 1:
            raise ValueError(f"length {x.shape[1]} exceeds the oracle's L_max {self.powers.shape[0] - 1}")
        probs, nz = oracle_probs(x, mask, self.pi, self.powers, mask if query is None else query,
                                 self._stacks)
        self.n_zero += nz
        return scatter(probs, mask) if query is None else probs


class NoisyDenoiser:
    """(1 - eta) * p + eta / V at the queried positions: a denoiser with a fixed learning error."""

    def __init__(self, inner, eta: float, V: int):
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {eta}")
        self.inner, self.eta, self.V = inner, float(eta), int(V)

    @property
    def n_zero(self) -> int:
        return getattr(self.inner, "n_zero", 0)

    def __call__(self, x: np.ndarray, mask: np.ndarray, query: np.ndarray | None = None) -> np.ndarray:
        p = self.inner(x, mask, query)  # (M, V) or (B, L, V)
        mixed = (1.0 - self.eta) * p + self.eta / self.V
        if query is None:  # keep rows of revealed positions at 0, as the contract says
            mixed[~mask] = 0.0
        return mixed


def noisy(denoise, eta: float, V: int) -> NoisyDenoiser:
    """Wrap ``denoise`` as the noisy oracle (1 - eta) p + eta * Uniform(V)."""
    return NoisyDenoiser(denoise, eta, V)
