"""Small statistics helpers shared by every paper's evaluate and report stages.

Pure numpy/scipy, no state. Used for the pre-registered criteria, e.g. the Wilson CIs on the sequence
error rate and the log-log slopes of N* against L in Feng et al., "Theoretical Benefit and Limitation of
Diffusion Language Model" (arXiv 2502.09622), and the same shapes of test in the other papers.

- ``wilson(k, n)``: Wilson score interval for a binomial proportion (vectorised).
- ``mean_se(x)``: mean and standard error of the mean (ddof=1).
- ``ols_slope(x, y)``: least-squares slope.
- ``spearman(x, y)``: Spearman rank correlation.
- ``bootstrap_ci(stat_fn, *arrays)``: percentile bootstrap, rows of all arrays resampled jointly.
- ``interp_threshold_log2(ns, values, thresh)``: the first N on a log2 grid where a curve reaches a
  threshold, linearly interpolated in log2 N (the N* of the MDM sheet).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from scipy import stats as _st

__all__ = ["wilson", "mean_se", "ols_slope", "spearman", "bootstrap_ci", "interp_threshold_log2"]


def wilson(k, n, z: float = 1.96):
    """Wilson score interval for k successes out of n trials.

    Returns ``(p, lo, hi)`` with p = k/n; scalars in, floats out; arrays in, arrays out (broadcast).
    n = 0 gives nan.
    """
    k_arr = np.asarray(k, dtype=np.float64)
    n_arr = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k_arr / n_arr
        z2 = z * z
        denom = 1.0 + z2 / n_arr
        centre = (p + z2 / (2.0 * n_arr)) / denom
        half = z * np.sqrt(p * (1.0 - p) / n_arr + z2 / (4.0 * n_arr * n_arr)) / denom
        lo = np.clip(centre - half, 0.0, 1.0)
        hi = np.clip(centre + half, 0.0, 1.0)
    if np.ndim(p) == 0:
        return float(p), float(lo), float(hi)
    return p, lo, hi


def mean_se(x) -> tuple[float, float]:
    """Mean and standard error of the mean (sample std with ddof=1 over sqrt(n)); se is nan for n < 2."""
    a = np.asarray(x, dtype=np.float64).ravel()
    if a.size == 0:
        return float("nan"), float("nan")
    se = float(a.std(ddof=1) / np.sqrt(a.size)) if a.size > 1 else float("nan")
    return float(a.mean()), se


def ols_slope(x, y) -> float:
    """Ordinary least-squares slope of y on x (with intercept); nan if fewer than 2 distinct x."""
    xa = np.asarray(x, dtype=np.float64).ravel()
    ya = np.asarray(y, dtype=np.float64).ravel()
    if xa.shape != ya.shape:
        raise ValueError(f"x and y differ in length: {xa.size} vs {ya.size}")
    xc = xa - xa.mean()
    sxx = float(xc @ xc)
    if xa.size < 2 or sxx == 0.0:
        return float("nan")
    return float(xc @ (ya - ya.mean()) / sxx)


def spearman(x, y) -> float:
    """Spearman rank correlation (ties get average ranks); nan if either input is constant."""
    xa = np.asarray(x, dtype=np.float64).ravel()
    ya = np.asarray(y, dtype=np.float64).ravel()
    if xa.size < 2 or np.ptp(xa) == 0 or np.ptp(ya) == 0:
        return float("nan")
    return float(_st.spearmanr(xa, ya).statistic)


def bootstrap_ci(stat_fn: Callable[..., float], *arrays, n_boot: int = 1000, alpha: float = 0.05,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of ``stat_fn(*arrays)``.

    Each replicate draws n row indices with replacement and applies them to every array (rows are
    resampled jointly, so paired data stay paired). Replicates where the statistic is not finite
    (e.g. an N* outside the grid) are dropped; if none is finite the result is (nan, nan).
    """
    if not arrays:
        raise ValueError("bootstrap_ci needs at least one array")
    arrs = [np.asarray(a) for a in arrays]
    n = arrs[0].shape[0]
    if any(a.shape[0] != n for a in arrs):
        raise ValueError("all arrays must have the same number of rows")
    rng = np.random.default_rng(seed)
    reps = np.empty(n_boot, dtype=np.float64)
    for b in range(n_boot):
        idx = rng.integers(0, n, size=n)
        reps[b] = stat_fn(*(a[idx] for a in arrs))
    reps = reps[np.isfinite(reps)]
    if reps.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(reps, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(lo), float(hi)


def interp_threshold_log2(ns, values, thresh: float) -> float:
    """Smallest N at which ``values`` first drops to <= ``thresh``, interpolated in log2 N.

    ``ns`` is a grid of positive step counts (sorted here, values follow), ``values`` the curve at
    those N (mostly decreasing). Returns ns[0] if the first value is already <= thresh, nan if the
    threshold is never reached or the value before the crossing is nan (n1 if it is +inf). Between
    the bracketing grid points (n0, v0 > thresh) and (n1, v1 <= thresh):
    log2 N* = log2 n0 + (v0 - thresh) / (v0 - v1) * (log2 n1 - log2 n0).
    """
    n = np.asarray(ns, dtype=np.float64).ravel()
    v = np.asarray(values, dtype=np.float64).ravel()
    if n.shape != v.shape or n.size == 0:
        raise ValueError("ns and values must be non-empty and of equal length")
    order = np.argsort(n, kind="stable")
    n, v = n[order], v[order]
    below = v <= thresh  # nan compares False: never "reached"
    if not below.any():
        return float("nan")
    j = int(np.argmax(below))
    if j == 0:
        return float(n[0])
    v0, v1 = v[j - 1], v[j]
    if np.isnan(v0):
        return float("nan")
    if np.isinf(v0):  # no value to interpolate from: the conservative choice is the grid point
        return float(n[j])
    l0, l1 = np.log2(n[j - 1]), np.log2(n[j])
    frac = (v0 - thresh) / (v0 - v1) if v0 != v1 else 1.0
    return float(2.0 ** (l0 + frac * (l1 - l0)))
