"""Unit tests of the MDM judges (tasks/mdm/criteria.py; PC1-PC4 of shared/papers/mdm.md) on synthetic grids:
every PASS / FAIL / INCONCLUSIVE branch of C1-C4 and every PC4 gate. No I/O, no bootstrap (CIs are given).

Synthetic grids follow the sheet's prototype: Δ_TER ≈ 2.6/N (N*_TER flat in L), SER = 1 - exp(-L/2N) (N*_SER ∝ L),
fixed-count SER a function of N/L only.
"""
import math

import numpy as np
import pytest

from tasks.mdm import criteria as C
from tasks.mdm.analysis import Curves

LS, NS = [64, 128, 256, 512], [4, 8, 16, 32, 64, 128, 256, 512]
TLS, TNS = [16, 32, 64], [1, 2, 4, 8, 16, 32, 64]      # trained grid (PC4)
FIXED = {0.125: 0.97, 0.25: 0.8, 0.5: 0.4, 1.0: 0.0}   # fixed-count SER by N/L
CI = (0.8, 1.2)                                        # a bootstrap slope CI excluding 0


def ter_fn(N, L):
    return 2.6 / N


def ser_fn(N, L):
    return 1 - math.exp(-0.5 * L / N)


def fixed_fn(N, L):
    return FIXED.get(N / L, 1.0)


def grid(f, Ls=LS, Ns=NS, metric="ter", B=1000, se=0.002, **cells) -> Curves:
    """One-seed Curves with f(N, L) as Δ (metric "ter") or SER (metric "ser") where N <= L; `cells` override
    single cells, keyed "N_L" (value None: off-grid)."""
    shape = (1, len(Ls), len(Ns))
    c = Curves(list(Ls), list(Ns), *(np.full(shape, np.nan) for _ in range(4)))
    for i, L in enumerate(Ls):
        for j, N in enumerate(Ns):
            v = cells.get(f"{N}_{L}", f(N, L)) if N <= L else None
            if v is None:
                continue
            c.delta[0, i, j], c.se[0, i, j], c.B[0, i, j] = (v if metric == "ter" else 0.0), se, B
            c.k[0, i, j] = round(B * v) if metric == "ser" else 0
    return c


def _failed(v):
    return sorted(k for k, ok in v.checks.items() if not ok)


def _gates(v):
    return {g.name: g.passed for g in v.gates}


# --- C1 = PC1 -----------------------------------------------------------------------------------------------------
def test_c1_pass():
    v = C.judge_c1(grid(ter_fn), (-0.05, 0.05))
    assert v.verdict == "PASS" and v.gates == [] and not _failed(v)
    assert set(v.measured["nstar_ter_0.05"].values()) == {v.measured["nstar_ter_0.05"]["64"]}
    assert v.measured["slope_log2_nstar_ter"] == {"value": 0.0, "lo": -0.05, "hi": 0.05}
    assert v.measured["spearman_rho_per_L"] == {"64": -1.0, "128": -1.0, "256": -1.0, "512": -1.0}
    assert list(v.measured["delta_at_Lmax_vs_bound"]) == ["8", "16", "32", "64"]


@pytest.mark.parametrize("f, cells, failed", [
    (ter_fn, {"128_512": 0.3, "256_512": 0.5, "512_512": 0.7}, ["a_monotone_in_N"]),      # Δ rises at large N
    (ter_fn, {"128_512": 0.06, "256_512": 0.045, "512_512": 0.05}, ["a_monotone_in_N"]),   # ρ = -0.83 > -0.9
    (ter_fn, {"8_512": 0.5}, ["b_no_growth_in_L"]),                                        # 0.5 > 1.2·0.325 + 3 SE
    (ter_fn, {"8_512": 0.402}, ["b_no_growth_in_L"]),                                      # 0.402 > 0.3985
    (lambda N, L: 2.6 / N * 64 / L, {}, ["c_nstar_flat"]),                                 # N* ∝ 1/L: slope -1
    (lambda N, L: 2.6 / N * (L / 64) ** -0.3, {}, ["c_nstar_flat"]),                       # slope -0.31, spread 0.92
    (lambda N, L: 2.6 / N / (2.83 if L in (128, 256) else 1), {}, ["c_nstar_flat"]),       # slope 0, spread 1.5
])
def test_c1_fail(f, cells, failed):
    v = C.judge_c1(grid(f, **cells), (-0.05, 0.05))
    assert v.verdict == "FAIL" and _failed(v) == failed and v.reason == "not met: " + ", ".join(failed)


def test_c1_edges_and_doubled_tolerances():
    v = C.judge_c1(grid(lambda N, L: 2.6 / N / (1.5 if L == 512 else 1)), (-0.5, 0.5))   # spread log2 1.5 < 1
    assert v.verdict == "PASS"                                                         # a decrease in L is allowed
    v = C.judge_c1(grid(ter_fn, **{"8_512": 0.396}), (-0.05, 0.05))                    # within 3 pooled SE
    assert v.verdict == "PASS" and v.measured["delta_at_Lmax_vs_bound"]["8"] == [0.396, 0.3985]
    for cells in ({"128_512": 0.06, "256_512": 0.045, "512_512": 0.05}, {}):           # ρ = -0.83 <= -0.8
        checks, _, missing = C.pc1_checks(grid(lambda N, L: 2.6 / N / (2.83 if L in (128, 256) else 1), **cells),
                                          CI, tol=2)                                   # spread 1.5 <= 2
        assert all(checks.values()) and missing == []


@pytest.mark.parametrize("f, Ls, Ns, reason", [
    (lambda N, L: 0.06 + 2.6 / N if L == 512 else 2.6 / N, LS, NS, "N*_TER(0.05) outside the grid at L=[512]"),
    (lambda N, L: 0.01 / N if L == 64 else 2.6 / N, LS, NS, "N*_TER(0.05) outside the grid at L=[64]"),
    (ter_fn, [128, 256, 512], [4, 128, 256, 512], "no N of (8, 16, 32, 64) on the grid at both L_min and L_max"),
])
def test_c1_unmeasurable_is_inconclusive(f, Ls, Ns, reason):
    v = C.judge_c1(grid(f, Ls, Ns), (-0.05, 0.05))
    assert v.verdict == "INCONCLUSIVE" and v.reason == f"not measurable: {reason}" and v.gates == []
    assert "c_nstar_flat" in _failed(v)


# --- C2 = PC2 -----------------------------------------------------------------------------------------------------
def _c2(bern=None, fixed=None, slope_ci=CI):
    return C.judge_c2(bern or grid(ser_fn, metric="ser"), fixed or grid(fixed_fn, metric="ser"), slope_ci)


def test_c2_pass_and_saturated_pairs_skipped():
    v = _c2(grid(ser_fn, metric="ser", **{"16_512": 0.6}))      # (128, 512) at N=16 would not separate: skipped
    assert v.verdict == "PASS" and v.gates == [] and not _failed(v)
    assert [(q["N"], q["L"]) for q in v.measured["pairs_L_4L"]] == [(16, 64), (32, 64), (32, 128), (64, 64), (64, 128)]
    assert v.measured["slope_log2_nstar_ser"]["value"] == pytest.approx(1.0)
    assert v.measured["fixed_ser_spread_across_L"] == {"0.25": 0.0, "0.5": 0.0}
    v = _c2(grid(ser_fn, metric="ser", **{"16_256": None}))     # (64, 256) at N=16: no 4L cell, skipped
    assert v.verdict == "PASS" and (16, 64) not in [(q["N"], q["L"]) for q in v.measured["pairs_L_4L"]]


@pytest.mark.parametrize("bern, fixed, slope_ci, failed", [
    ({"cells": {"16_256": 0.865}}, {}, CI, ["a_ser_grows_L_to_4L"]),                     # (64, 256) at N=16 equal
    ({"cells": {"16_256": 0.885}}, {}, CI, ["a_ser_grows_L_to_4L"]),                     # higher, Wilson CIs overlap
    ({}, {}, (-0.1, 2.0), ["b_nstar_linear"]),                                           # CI includes 0
    ({"f": lambda N, L: 1 - math.exp(-0.5 * L / N * (L / 64) ** -0.35)}, {}, CI, ["b_nstar_linear"]),   # slope 0.65
    ({"f": lambda N, L: 1 - math.exp(-32 / N)}, {}, CI, ["a_ser_grows_L_to_4L", "b_nstar_linear"]),     # flat in L
    ({}, {"cells": {"128_512": 0.9}}, CI, ["c_fixed_count_flat_in_N_over_L"]),           # spread 0.1 > 0.08
])
def test_c2_fail(bern, fixed, slope_ci, failed):
    v = _c2(grid(bern.get("f", ser_fn), metric="ser", **bern.get("cells", {})),
            grid(fixed_fn, metric="ser", **fixed.get("cells", {})), slope_ci)
    assert v.verdict == "FAIL" and _failed(v) == failed


@pytest.mark.parametrize("bern, fixed, reason", [
    (grid(ser_fn, metric="ser", **{"512_512": 0.6}), None, "N*_SER(0.5) outside the grid at L=[512]"),
    (grid(ser_fn, [64, 128], metric="ser"), None, "no unsaturated (L, 4L) pair at N in (16, 32, 64)"),
    (None, grid(fixed_fn, [64], metric="ser"),
     "fixed-count SER at N/L=0.25 on fewer than 2 L; fixed-count SER at N/L=0.5 on fewer than 2 L"),
])
def test_c2_unmeasurable_is_inconclusive(bern, fixed, reason):
    v = _c2(bern, fixed)
    assert v.verdict == "INCONCLUSIVE" and v.reason == f"not measurable: {reason}" and _failed(v)


# --- C3 = PC3 -----------------------------------------------------------------------------------------------------
def test_c3_pass_fail_inconclusive():
    ter, ser = grid(ter_fn), grid(ser_fn, metric="ser")
    v = C.judge_c3(ter, ser, (6.0, 10.0))
    assert v.verdict == "PASS" and v.gates == [] and v.measured["ratio_growth"]["value"] == pytest.approx(8.0)
    assert v.measured["L_range"] == [64, 512]
    v = C.judge_c3(ter, grid(lambda N, L: 1 - math.exp(-32 / N), metric="ser"), (0.8, 1.2))   # N*_SER flat
    assert v.verdict == "FAIL" and _failed(v) == ["ratio_growth_ge_4"]
    assert v.measured["ratio_growth"]["value"] == pytest.approx(1.0)
    for t, s in ((grid(lambda N, L: 0.06 + 2.6 / N if L == 512 else 2.6 / N), ser),
                 (ter, grid(ser_fn, metric="ser", **{"64_64": 0.6}))):
        v = C.judge_c3(t, s, (math.nan, math.nan))
        assert v.verdict == "INCONCLUSIVE" and "outside the grid" in v.reason and _failed(v) == ["ratio_growth_ge_4"]


# --- C4 = PC4 and its gate ----------------------------------------------------------------------------------------
def _trained(ter=ter_fn, ter_cells=None, ser=ser_fn, fixed_cells=None, dense_fixed="ok", Ns=TNS, ter_ci=(-0.1, 0.1)):
    tf = grid(lambda N, L: 0.01, TLS, Ns) if dense_fixed == "ok" else dense_fixed
    sf = grid(fixed_fn, TLS, TNS, metric="ser", **(fixed_cells or {}))
    gates = C.c4_gates(tf, sf)
    return C.judge_c4(grid(lambda N, L: ter(N, L) / 2, TLS, TNS, **(ter_cells or {})),
                      grid(ser, TLS, TNS, metric="ser"), sf, ter_ci, CI, gates)


def test_c4_pass_with_doubled_tolerances():
    ter = lambda N, L: 2.6 / N / (2.83 if L == 32 else 1)                     # N*_TER spread 1.5 <= 2 grid steps
    fixed = grid(fixed_fn, TLS, TNS, metric="ser", **{"8_32": 0.9})           # SER spread 0.1 <= 0.16 at N/L = 1/4
    assert not C.pc1_checks(grid(lambda N, L: ter(N, L) / 2, TLS, TNS), CI, eps=0.1)[0]["c_nstar_flat"]
    assert not C.pc2_checks(grid(ser_fn, TLS, TNS, metric="ser"), fixed, CI)[0]["c_fixed_count_flat_in_N_over_L"]
    v = _trained(ter=ter, fixed_cells={"8_32": 0.9})
    assert v.verdict == "PASS" and not _failed(v) and all(_gates(v).values())
    assert sorted(_gates(v)) == ["SER fixed-count N=L, L=16", "Δ_TER fixed-count N=L, L=16",
                                 "Δ_TER fixed-count N=L, L=32", "Δ_TER fixed-count N=L, L=64"]
    assert "nstar_ter_0.1" in v.measured and v.measured["fixed_ser_spread_across_L"]["0.25"] == pytest.approx(0.1)
    v = _trained(ter=lambda N, L: 2.6 / N * (L / 16) ** -0.3, ter_ci=(-0.4, -0.2))       # N*_TER slope -0.31
    assert v.verdict == "PASS" and -0.4 < v.measured["slope_log2_nstar_ter"]["value"] < -0.2
    v = _trained(ter_cells={"8_64": 0.24})                                     # <= 1.4·0.1625 + 6 pooled SE
    assert v.verdict == "PASS" and v.measured["delta_at_Lmax_vs_bound"]["8"] == [0.24, 0.2445]


def test_c4_fail_and_unmeasurable():
    v = _trained(ter_cells={"8_64": 0.5})                                      # 0.5 > 1.4·0.1625 + 6 SE
    assert v.verdict == "FAIL" and _failed(v) == ["ter_b_no_growth_in_L"] and all(_gates(v).values())
    v = _trained(ter=lambda N, L: 0.3 + 2.6 / N if L == 64 else 2.6 / N)      # Δ never <= 0.1 at L = 64
    assert v.verdict == "INCONCLUSIVE" and v.reason == "not measurable: N*_TER(0.1) outside the grid at L=[64]"
    assert all(_gates(v).values())


@pytest.mark.parametrize("kw, failed", [
    ({"dense_fixed": grid(lambda N, L: 0.12 if L == 64 else 0.01, TLS, TNS)}, ["Δ_TER fixed-count N=L, L=64"]),
    ({"dense_fixed": grid(lambda N, L: 0.01, TLS, TNS, **{"32_32": math.nan})}, ["Δ_TER fixed-count N=L, L=32"]),
    ({"fixed_cells": {"16_16": 0.3}}, ["SER fixed-count N=L, L=16"]),
    ({"dense_fixed": None}, ["Δ_TER fixed-count N=L"]),                                # no dense fixed-count block
    ({"dense_fixed": grid(lambda N, L: 0.01, TLS, [1, 2, 4])}, ["Δ_TER fixed-count N=L"]),   # no N = L cell
    ({"dense_fixed": grid(lambda N, L: {16: 0.0855, 32: 0.1043, 64: 0.122}[L], TLS, TNS),      # committed default
      "fixed_cells": {"16_16": 0.648}},                                                      # run's gate numbers
     ["SER fixed-count N=L, L=16", "Δ_TER fixed-count N=L, L=32", "Δ_TER fixed-count N=L, L=64"]),
])
def test_c4_failed_gate_is_inconclusive_never_pass(kw, failed):
    v = _trained(**kw)
    assert v.verdict == "INCONCLUSIVE" and sorted(n for n, ok in _gates(v).items() if not ok) == failed
    assert v.reason.startswith("gate failed: ") and v.reason.endswith("(under-trained)") and not _failed(v)


def test_c4_gate_without_the_N_eq_L_cell_at_smallest_L_fails():
    sf = grid(fixed_fn, TLS, [1, 2, 4, 8], metric="ser")
    g = C.c4_gates(grid(lambda N, L: 0.01, TLS, TNS), sf)[-1]
    assert g.name == "SER fixed-count N=L, L=16" and not g.passed and g.measured is None


# --- amended C4 (issue 14): PC1 on the excess over the model's own floor Δ_fixed(N = L) --------------------------------
FLOOR = {16: 0.06, 32: 0.08, 64: 0.095}                # gate-passing floors, above the absolute ε = 0.1 / 2


def _amended(ter, floor=FLOOR, fixed_cells=None, dense_fixed=None):
    tf = grid(lambda N, L: floor[L], TLS, TNS) if dense_fixed is None else dense_fixed
    sf = grid(fixed_fn, TLS, TNS, metric="ser", **(fixed_cells or {}))
    gates = C.c4_gates(tf, sf)
    tt, st = grid(ter, TLS, TNS), grid(ser_fn, TLS, TNS, metric="ser")
    orig = C.judge_c4(tt, st, sf, (-0.1, 0.1), CI, gates)
    return C.judge_c4_amended(tt, st, sf, tf, (-0.1, 0.1), CI, gates, orig)


def test_excess_over_floor_subtracts_the_N_eq_L_cell_per_L_and_adds_SEs():
    ex = C.excess_over_floor(grid(lambda N, L: 1.0 / N, TLS, TNS), grid(lambda N, L: FLOOR[L], TLS, TNS))
    assert ex.delta[0, 2, TNS.index(8)] == pytest.approx(1 / 8 - 0.095)
    assert ex.se[0, 0, 0] == pytest.approx(math.hypot(0.002, 0.002))
    assert ex.extra["floor"][0].tolist() == [0.06, 0.08, 0.095]
    ex = C.excess_over_floor(grid(lambda N, L: 1.0 / N, TLS, TNS), grid(lambda N, L: 0.05, TLS, [1, 2, 4, 8, 16, 32]))
    assert np.isnan(ex.delta[0, 2]).all() and np.isfinite(ex.delta[0, 1, :6]).all()    # no N = 64 cell: L = 64 nan
    assert np.isnan(C.excess_over_floor(grid(ter_fn, TLS, TNS), None).delta).all()


def test_c4_amended_pass_where_the_absolute_eps_was_unmeasurable():
    ter = lambda N, L: FLOOR[L] + 1.3 / N                                     # floor + a flat 1.3/N above it
    v = _amended(ter)
    assert v.verdict == "PASS" and all(_gates(v).values()) and not _failed(v)
    assert v.measured["floor_delta_fixed_N_eq_L"] == {"16": 0.06, "32": 0.08, "64": 0.095}
    stars = set(v.measured["excess_nstar_ter_0.1"].values())                  # 1.3/N = 0.1 at N = 13: same every L
    assert len(stars) == 1 and 8 < stars.pop() < 16                            # (interpolated on the log2 grid)
    assert v.amended_from.criterion == C.C4_ORIGINAL and v.amended_from.verdict == "INCONCLUSIVE"   # Δ > 0.1 at L=64
    v = _amended(lambda N, L: 0.01 + 1.3 / N, floor={16: 0.01, 32: 0.01, 64: 0.01})   # low floor: both agree
    assert v.verdict == "PASS" and v.amended_from.verdict == "PASS"


def test_c4_amended_fail_inconclusive_and_gate():
    v = _amended(lambda N, L: FLOOR[L] + (1.3 / N) * (4 if L == 64 else 1))   # excess grows with L: FAIL
    assert v.verdict == "FAIL" and "ter_b_no_growth_in_L" in _failed(v) and "ter_c_nstar_flat" in _failed(v)
    v = _amended(lambda N, L: FLOOR[L] + 0.3 + 1.3 / N if L == 32 else FLOOR[L] + 1.3 / N)   # never within ε of floor
    assert v.verdict == "INCONCLUSIVE" and v.reason == "not measurable: N*_TER(0.1) outside the grid at L=[32]"
    v = _amended(lambda N, L: {16: 0.0855, 32: 0.1043, 64: 0.122}[L] + 1.3 / N,               # committed default run
                 floor={16: 0.0855, 32: 0.1043, 64: 0.122}, fixed_cells={"16_16": 0.648})
    assert v.verdict == "INCONCLUSIVE" and v.reason.endswith("(under-trained)") and v.amended_from.verdict == "INCONCLUSIVE"
    assert sorted(n for n, ok in _gates(v).items() if not ok) == [
        "SER fixed-count N=L, L=16", "Δ_TER fixed-count N=L, L=32", "Δ_TER fixed-count N=L, L=64"]
    v = _amended(ter_fn, dense_fixed=grid(lambda N, L: 0.05, TLS, [1, 2, 4]))   # no floor cell: gate fails too
    assert v.verdict == "INCONCLUSIVE" and not _gates(v)["Δ_TER fixed-count N=L"]


# --- amended C4, SER half (issue 14): PC2 on the parallel-sampling SER above the any-order floor -------------------
SER_FLOOR = {16: 0.17, 32: 0.41, 64: 0.72}             # the first gate-passing run's floors (SER_fixed at N = L)
TNS_X = TNS + [128, 256]                               # the trained SER grid reaches N = 4L


def _with_floor(f_par, Ls=TLS, Ns=TNS_X, fixed=False, **cells):
    """SER = 1 - (1 - floor)(1 - f_par): a parallel-sampling part f_par on top of SER_FLOOR (N up to 4L)."""
    def f(N, L):
        if fixed and N == L:
            return SER_FLOOR[L]
        return 1 - (1 - SER_FLOOR[L]) * (1 - f_par(N, L))
    c = grid(f, Ls, Ns, metric="ser", **cells) if fixed else _grid_4L(f, Ls, Ns)
    return c


def _grid_4L(f, Ls, Ns, B=1000):
    shape = (1, len(Ls), len(Ns))
    c = Curves(list(Ls), list(Ns), *(np.full(shape, np.nan) for _ in range(4)))
    for i, L in enumerate(Ls):
        for j, N in enumerate(Ns):
            if N <= 4 * L:
                c.delta[0, i, j], c.se[0, i, j], c.B[0, i, j], c.k[0, i, j] = 0.0, 0.002, B, round(B * f(N, L))
    return c


def test_floor_relative_ser_inverts_the_floor_and_is_identity_at_floor_zero():
    from tasks.mdm.analysis import floor_relative_ser
    sf = _with_floor(fixed_fn, fixed=True)
    rel = floor_relative_ser(_with_floor(ser_fn), sf)
    p = rel.ser()[0]
    assert p[2, TNS_X.index(64)] == pytest.approx(ser_fn(64, 64), abs=2e-3)       # floor removed
    assert floor_relative_ser(sf, sf).ser()[0][1, TNS_X.index(32)] == 0.0          # the floor cell itself
    lo, hi = rel.ser()[1:]
    assert (lo[np.isfinite(p)] <= p[np.isfinite(p)]).all() and (hi[np.isfinite(p)] >= p[np.isfinite(p)]).all()
    plain = grid(ser_fn, TLS, TNS, metric="ser")
    same = floor_relative_ser(plain, grid(fixed_fn, TLS, TNS, metric="ser"))      # FIXED[1.0] = 0: no floor
    np.testing.assert_allclose(same.ser()[0], plain.ser()[0])
    gone = floor_relative_ser(plain, grid(fixed_fn, TLS, [1, 2, 4], metric="ser"))   # no N = L cell: nan
    assert np.isnan(gone.ser()[0]).all()


def _amended_ser(f_par, fixed_cells=None):
    tf = grid(lambda N, L: FLOOR[L], TLS, TNS)
    sf = _with_floor(fixed_fn, fixed=True, **(fixed_cells or {}))
    gates = C.c4_gates(tf, sf)
    tt, st = grid(lambda N, L: FLOOR[L] + 1.3 / N, TLS, TNS), _with_floor(f_par)
    orig = C.judge_c4(tt, st, sf, (-0.1, 0.1), CI, gates)
    return C.judge_c4_amended(tt, st, sf, tf, (-0.1, 0.1), CI, gates, orig)


def test_c4_amended_ser_pass_where_the_floor_hid_the_crossing():
    v = _amended_ser(ser_fn)
    assert v.amended_from.verdict == "INCONCLUSIVE"                                 # absolute N* off-grid at L=64
    assert v.measured["absolute_nstar_ser_0.5"]["64"] is None or math.isnan(v.measured["absolute_nstar_ser_0.5"]["64"])
    assert v.verdict == "PASS" and not _failed(v), v.reason
    stars = v.measured["floor_rel_nstar_ser_0.5"]
    assert stars["32"] / stars["16"] == pytest.approx(2, rel=0.1) and stars["64"] / stars["32"] == pytest.approx(2, rel=0.1)
    assert v.measured["floor_ser_fixed_N_eq_L"] == pytest.approx({"16": 0.17, "32": 0.41, "64": 0.72}, abs=1e-3)


def test_c4_amended_ser_fail_and_inconclusive():
    v = _amended_ser(lambda N, L: 1 - math.exp(-8.0 / N))              # parallel part flat in L: N* flat -> FAIL
    assert v.verdict == "FAIL" and "ser_b_nstar_linear" in _failed(v)
    v = _amended_ser(lambda N, L: 0.9 if L == 64 else ser_fn(N, L))     # never reaches 0.5 above the floor at L=64
    assert v.verdict == "INCONCLUSIVE" and "N*_SER(0.5) outside the grid at L=[64]" in v.reason
    v = _amended_ser(ser_fn, fixed_cells={"16_16": 0.3})               # the gate still judges the absolute floor
    assert v.verdict == "INCONCLUSIVE" and not _gates(v)["SER fixed-count N=L, L=16"]
