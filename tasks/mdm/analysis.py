"""The numbers behind the MDM verdicts (Feng et al., arXiv 2502.09622): grid blocks, N*, slopes, bootstrap CIs.

`Curves` holds one (language, schedule, denoiser) block of the L x N grid; `n_stars` interpolates N* on the
log2 N grid (nan outside it); the thresholds, checks and gates of PC1-PC4 are in `criteria.py`.

N* slopes get a parametric bootstrap CI over samples and language seeds: each replicate resamples the seeds with
replacement and redraws every cell's Δ ~ Normal(Δ̂, SE) and SER ~ Binomial(B, p̂)/B.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tasks.common.stats import interp_threshold_log2, ols_slope, wilson


@dataclass
class Curves:
    """Seed-indexed arrays over (L, N) for one (language, schedule, denoiser) block; nan where N is off-grid."""

    Ls: list[int]
    Ns: list[int]
    delta: np.ndarray        # (S, nL, nN)
    se: np.ndarray           # (S, nL, nN)
    k: np.ndarray            # (S, nL, nN) invalid sequences
    B: np.ndarray            # (S, nL, nN) samples
    extra: dict = field(default_factory=dict)

    def mean_delta(self) -> tuple[np.ndarray, np.ndarray]:
        S = self.delta.shape[0]
        return self.delta.mean(0), np.sqrt((self.se ** 2).sum(0)) / S

    def ser(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return wilson(self.k.sum(0), self.B.sum(0))


@dataclass
class FloorSER(Curves):
    """A sparse-language block whose SER is read above a per-L floor (the amended PC4, criteria.py):
    SER_par(N, L) = 1 - (1 - SER(N, L)) / (1 - SER_floor(L)), the share of the floor-valid sequences that parallel
    sampling breaks (P(valid) = P(floor-valid) * P(no parallel error), the two taken as independent). The floor is the
    model's any-order SER, fixed-count N = L at the same L; `fk`, `fB` (S, nL) are its invalid counts and samples.
    SER_par = SER when the floor is 0 (the oracle), and 0 at the floor cell itself."""

    fk: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    fB: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    @staticmethod
    def relative(ser: np.ndarray, floor: np.ndarray) -> np.ndarray:
        """(nL, nN) SER and (nL,) floor -> SER_par (nan where the floor is missing or 1)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            out = 1.0 - (1.0 - ser) / (1.0 - floor[:, None])
        return np.where(np.isfinite(out), out, np.nan)

    def floor(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return wilson(self.fk.sum(0), self.fB.sum(0))

    def ser(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """SER_par with a conservative interval: the cell's Wilson bounds against the floor's opposite bounds."""
        p, lo, hi = wilson(self.k.sum(0), self.B.sum(0))
        f, flo, fhi = self.floor()
        return self.relative(p, f), self.relative(lo, fhi), self.relative(hi, flo)


def floor_relative_ser(c: Curves, fixed: Curves) -> FloorSER:
    """`c` (a sparse block) read above the floor SER of `fixed` (fixed-count, N = L, same L and seed); an L without
    that cell gets a nan floor (every SER_par of that L nan)."""
    S, nL = c.k.shape[0], len(c.Ls)
    fk, fB = np.full((S, nL), np.nan), np.full((S, nL), np.nan)
    for i, L in enumerate(c.Ls):
        if L in fixed.Ls and L in fixed.Ns and fixed.k.shape[0] == S:
            fk[:, i], fB[:, i] = fixed.k[:, fixed.Ls.index(L), fixed.Ns.index(L)], fixed.B[:, fixed.Ls.index(L), fixed.Ns.index(L)]
    return FloorSER(c.Ls, c.Ns, c.delta, c.se, c.k, c.B, dict(c.extra), fk, fB)


def curves(rows: list[dict], language: str, schedule: str, denoiser: str) -> Curves:
    sel = [r for r in rows if r["language"] == language and r["schedule"] == schedule and r["denoiser"] == denoiser]
    Ls = sorted({r["L"] for r in sel})
    Ns = sorted({r["N"] for r in sel})
    S = max(r["lang_seed"] for r in sel) + 1
    shape = (S, len(Ls), len(Ns))
    c = Curves(Ls, Ns, *(np.full(shape, np.nan) for _ in range(4)))
    for r in sel:
        i = (r["lang_seed"], Ls.index(r["L"]), Ns.index(r["N"]))
        c.delta[i], c.se[i], c.k[i], c.B[i] = r["delta_ter"], r["delta_se"], r["n_invalid_seq"], r["B"]
    return c


def n_star(Ns: list[int], vals: np.ndarray, thresh: float) -> float:
    """Interpolated N* on the log2 grid; nan when outside the grid (never reached, or reached at the first N)."""
    ok = np.isfinite(vals) | np.isposinf(vals)
    ns, v = np.asarray(Ns, float)[ok], vals[ok]
    if v.size == 0 or v[0] <= thresh:
        return float("nan")
    return interp_threshold_log2(ns, v, thresh)


def n_stars(c: Curves, metric: str, thresh: float, vals: np.ndarray | None = None) -> np.ndarray:
    if vals is None:
        vals = c.mean_delta()[0] if metric == "ter" else c.ser()[0]
    return np.array([n_star(c.Ns, vals[i], thresh) for i in range(len(c.Ls))])


def slope(Ls, stars: np.ndarray) -> float:
    return ols_slope(np.log2(Ls), np.log2(stars)) if np.isfinite(stars).all() else float("nan")


def boot_stars(c: Curves, metric: str, thresh: float, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, nL) N* replicates from the parametric bootstrap over samples and seeds."""
    rng = np.random.default_rng(seed)
    S = c.delta.shape[0]
    out = np.full((n_boot, len(c.Ls)), np.nan)
    for b in range(n_boot):
        idx = rng.integers(0, S, S)
        if metric == "ter":
            d = rng.normal(c.delta[idx], np.nan_to_num(c.se[idx]))
            vals = d.mean(0)
        else:
            k = rng.binomial(np.nan_to_num(c.B[idx]).astype(int), np.nan_to_num(c.k[idx] / c.B[idx]))
            vals = np.where(np.isnan(c.B[idx]).any(0), np.nan, k.sum(0) / np.nan_to_num(c.B[idx]).sum(0))
            if isinstance(c, FloorSER):   # redraw the floor cells too
                fB = np.nan_to_num(c.fB[idx]).astype(int)
                fk = rng.binomial(fB, np.nan_to_num(c.fk[idx] / np.where(fB > 0, fB, 1)))
                fl = np.where(np.isnan(c.fB[idx]).any(0), np.nan, fk.sum(0) / np.maximum(fB.sum(0), 1))
                vals = c.relative(vals, fl)
        out[b] = n_stars(c, metric, thresh, vals)
    return out


def ci_of(reps: np.ndarray) -> tuple[float, float]:
    reps = reps[np.isfinite(reps)]
    return (float("nan"), float("nan")) if reps.size == 0 else tuple(map(float, np.quantile(reps, [0.025, 0.975])))


def boot_slope_ci(c: Curves, metric: str, thresh: float, n_boot: int, seed: int) -> tuple[float, float]:
    reps = boot_stars(c, metric, thresh, n_boot, seed)
    return ci_of(np.array([slope(c.Ls, r) for r in reps]))


def boot_ratio_growth_ci(ter: Curves, ser: Curves, eps: float, delta: float, n_boot: int,
                         seed: int) -> tuple[float, float]:
    """Bootstrap CI of (N*_SER/N*_TER)(L_max) / (N*_SER/N*_TER)(L_min) (PC3); the SER replicates use seed + 1."""
    bt, bs = boot_stars(ter, "ter", eps, n_boot, seed), boot_stars(ser, "ser", delta, n_boot, seed + 1)
    return ci_of((bs[:, -1] / bt[:, -1]) / (bs[:, 0] / bt[:, 0]))
