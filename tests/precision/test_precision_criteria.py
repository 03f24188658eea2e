"""Unit tests of the precision judges (tasks/precision/criteria.py; claims P-mech, P3, P1, P2 of
shared/papers/precision.md) on synthetic numbers: every PASS / FAIL / INCONCLUSIVE branch and every gate. No I/O.
"""
import math

import pytest

from tasks.precision import criteria as C

BITS = [3, 4, 5, 6, 8, 11]
TRAINED, UNDER = C.fp32_gate({2: 0.99, 8: 0.97}), C.fp32_gate({2: 0.99, 8: 0.90})


def _failed(v):
    return sorted(k for k, ok in v.checks.items() if not ok)


def _gates(v):
    return {g.name: g.passed for g in v.gates}


# --- P-mech -------------------------------------------------------------------------------------------------------
def _mech(m_cap=4096, add_max_n=64, add_bits=tuple(range(3, 12)) + (24,), low=None, fp32=None, b24=4096):
    low = low or {3: 4, 4: 9, 5: 11, 6: 13, 8: 26, 11: 64}
    fp32 = fp32 or {3: 4, 4: 10, 5: 19, 6: 38, 8: 114, 11: 845}
    return {"m_cap": m_cap, "bits": sorted(low), "add_max_n": add_max_n, "add_bits": list(add_bits),
            "m_max": {"low": {**{str(b): m for b, m in low.items()}, "24": b24},
                      "fp32": {**{str(b): m for b, m in fp32.items()}, "24": b24}}}


MECH_METRICS = {"slope_low": 0.5, "slope_fp32": 0.96, "add_cla_min_acc": 1.0}


def test_mech_pass_and_slope_edges():
    for sf in (0.6, 0.96, 1.4):
        v = C.judge_mech(_mech(), {**MECH_METRICS, "slope_fp32": sf})
        assert v.verdict == "PASS" and v.gates == [] and not _failed(v)
    assert v.measured["m_max_low"]["11"] == 64 and v.measured["m_max_fp32_b24"] == 4096


@pytest.mark.parametrize("mech, metrics, failed", [
    (_mech(), {**MECH_METRICS, "slope_fp32": 0.59}, ["slope_fp32_in_range"]),
    (_mech(), {**MECH_METRICS, "slope_fp32": 1.41}, ["slope_fp32_in_range"]),
    (_mech(), {**MECH_METRICS, "slope_low": 0.3}, ["slope_low_gt_min"]),                # strictly greater
    (_mech(), {**MECH_METRICS, "add_cla_min_acc": 0.999}, ["add_cla_exact"]),
    (_mech(low={3: 4, 4: 9, 5: 8, 6: 13, 8: 26, 11: 64}), MECH_METRICS, ["increasing_low"]),   # the b=5 dip
    (_mech(fp32={3: 4, 4: 10, 5: 10, 6: 38, 8: 114, 11: 845}), MECH_METRICS, ["increasing_fp32"]),
    (_mech(low={3: 4, 4: 9, 5: 11, 6: 13, 8: 26, 11: 4096}), MECH_METRICS, ["finite_low"]),
    (_mech(fp32={3: 4, 4: 10, 5: 19, 6: 38, 8: 114, 11: 4096}), MECH_METRICS, ["finite_fp32"]),
    (_mech(b24=4095), MECH_METRICS, ["fp32_no_failure_to_4096"]),
])
def test_mech_fail_names_the_sub_point(mech, metrics, failed):
    v = C.judge_mech(mech, metrics)
    assert v.verdict == "FAIL" and _failed(v) == failed and v.reason == "not met: " + ", ".join(failed)


def test_mech_ignores_bits_above_11_for_finite_and_increasing():
    mech = _mech()
    mech["bits"].append(13)
    mech["m_max"]["low"]["13"] = mech["m_max"]["fp32"]["13"] = 2       # neither increasing nor relevant
    assert C.judge_mech(mech, MECH_METRICS).verdict == "PASS"


@pytest.mark.parametrize("mech, uncovered", [
    (_mech(m_cap=1024, b24=1024), "fp32_no_failure_to_4096"),
    (_mech(add_max_n=16), "add_cla_exact"),
    (_mech(add_bits=(3, 4, 8, 11)), "add_cla_exact"),
])
def test_mech_inconclusive_when_grid_does_not_cover(mech, uncovered):
    v = C.judge_mech(mech, MECH_METRICS)
    assert v.verdict == "INCONCLUSIVE" and v.gates == []
    assert v.reason.startswith("not measurable: not covered by this profile's grid: " + uncovered)


def test_mech_small_grid_still_fails_on_a_covered_sub_point():
    v = C.judge_mech(_mech(add_max_n=16), {**MECH_METRICS, "slope_low": 0.2})
    assert v.verdict == "FAIL" and _failed(v) == ["slope_low_gt_min"]


def test_mech_committed_default_run_numbers_give_the_same_verdict():
    # reports/precision/claims.json (profile default): FAIL on increasing_low only (b=5 dips below b=4)
    mech = _mech(low={3: 4, 4: 9, 5: 8, 6: 13, 8: 26, 11: 64})
    v = C.judge_mech(mech, {"slope_low": 0.47391195394031455, "slope_fp32": 0.9375670164149597,
                            "add_cla_min_acc": 1.0})
    assert v.verdict == "FAIL" and v.reason == "not met: increasing_low"


# --- P3 and its gate ----------------------------------------------------------------------------------------------
def test_fp32_gate():
    assert C.fp32_gate({2: 0.95, 8: 0.99}) == C.Gate("P3 fp32 trained: min exact match over k", True, 0.95,
                                                     ">= 0.95 at every k")
    g = C.fp32_gate({2: 0.99, 3: 0.9499, 8: 0.97})
    assert not g.passed and g.measured == 0.9499
    g = C.fp32_gate({2: 0.99, 8: float("nan")})
    assert not g.passed and math.isnan(g.measured)


def test_p3_pass_and_fail():
    v = C.judge_p3({2: 0.99, 8: 0.95})
    assert v.verdict == "PASS" and v.gates == [] and v.measured == {"acc_fp32_k2": 0.99, "acc_fp32_k8": 0.95}
    v = C.judge_p3({2: 0.9555, 3: 0.18525, 8: 0.047})
    assert v.verdict == "FAIL" and _failed(v) == ["fp32_ge_95_every_k"] and v.gates == []
    assert "k = 3 (0.185), 8 (0.047)" in v.reason and "k = 2" not in v.reason


def test_collapse_gate():
    assert C.collapse_gate(0.5).passed and C.collapse_gate(0.5).threshold == ">= 0.5"
    assert "fq4" in C.collapse_gate(0.9).name and "fq8" in C.collapse_gate(0.9, "fq8").name
    for bad in (0.4999, float("nan"), None):
        assert not C.collapse_gate(bad).passed


# --- P1 -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fp32, low, verdict", [
    ((2000, 2000), (1920, 2000), "PASS"),        # 4 pp apart, CIs disjoint: within 5 pp
    ((10, 10), (9, 10), "PASS"),                 # 10 pp apart, Wilson CIs overlap
    ((2000, 2000), (1880, 2000), "FAIL"),        # 6 pp apart, CIs disjoint
    ((2000, 2000), (1000, 2000), "FAIL"),        # 50% exactly: the control has not collapsed
])
def test_p1_checks(fp32, low, verdict):
    v = C.judge_p1(fp32, low, TRAINED)
    assert v.verdict == verdict and all(_gates(v).values()) and len(v.gates) == 2
    assert _failed(v) == ([] if verdict == "PASS" else ["within_5pp_or_cis_overlap"])
    assert set(v.measured) == {"acc_fp32_k2", "acc_fq4_k2", "abs_diff"}


@pytest.mark.parametrize("low, train_gate, failed", [
    ((1920, 2000), UNDER, ["P3 fp32 trained: min exact match over k"]),
    ((999, 2000), TRAINED, ["k=2 control not collapsed under fq4"]),
    ((999, 2000), UNDER, ["P3 fp32 trained: min exact match over k", "k=2 control not collapsed under fq4"]),
    ((0, 0), TRAINED, ["k=2 control not collapsed under fq4"]),                          # no items: NaN
])
def test_p1_gates(low, train_gate, failed):
    v = C.judge_p1((2000, 2000), low, train_gate)
    assert v.verdict == "INCONCLUSIVE" and sorted(n for n, ok in _gates(v).items() if not ok) == sorted(failed)
    assert v.reason == "gate failed: " + ", ".join(failed) and "within_5pp_or_cis_overlap" in v.checks


def test_p1_committed_default_run_numbers_give_the_same_verdict():
    v = C.judge_p1((3822, 4000), (3942, 4000), C.fp32_gate({2: 0.9555, 3: 0.18525, 8: 0.047}))
    assert v.verdict == "INCONCLUSIVE" and v.checks == {"within_5pp_or_cis_overlap": True}
    assert _gates(v) == {"P3 fp32 trained: min exact match over k": False, "k=2 control not collapsed under fq4": True}


# --- P2 -----------------------------------------------------------------------------------------------------------
KS = [2, 3, 4, 5, 6, 8]
GOOD = {"rho": 0.94, "did": 0.30, "did_ci": (0.22, 0.38), "did_per_seed": [0.31, 0.29], "k_max": 8,
        "g": [0.0, 0.05, 0.1, 0.2, 0.25, 0.3], "ks": KS}


def test_p2_pass_and_edges():
    for st in (GOOD, {**GOOD, "rho": 0.7, "did": 0.15}):
        v = C.judge_p2(st, TRAINED, 0.99)
        assert v.verdict == "PASS" and not _failed(v) and all(_gates(v).values()) and len(v.gates) == 2
    assert v.measured["g"] == {"2": 0.0, "3": 0.05, "4": 0.1, "5": 0.2, "6": 0.25, "8": 0.3}
    assert v.measured["did_g8_minus_g2"] == {"value": 0.15, "lo": 0.22, "hi": 0.38}


@pytest.mark.parametrize("change, failed", [
    ({"rho": 0.69}, ["rho_ge_0.7"]),
    ({"rho": float("nan")}, ["rho_ge_0.7"]),
    ({"did": 0.149}, ["did_ge_15pp"]),
    ({"did_ci": (0.0, 0.4)}, ["did_ci_excludes_0"]),                          # must exclude 0 strictly
    ({"did_per_seed": [0.31, -0.02]}, ["seeds_agree_positive"]),
    ({"did_per_seed": [0.31]}, ["seeds_agree_positive"]),                     # one seed cannot agree
    ({"rho": -0.03, "did": 0.018, "did_ci": (0.006, 0.03), "did_per_seed": [0.068, -0.0315]},
     ["did_ge_15pp", "rho_ge_0.7", "seeds_agree_positive"]),                 # the committed default run
])
def test_p2_fail_names_the_sub_point(change, failed):
    v = C.judge_p2({**GOOD, **change}, TRAINED, 0.99)
    assert v.verdict == "FAIL" and _failed(v) == failed


@pytest.mark.parametrize("train_gate, low_k2, failed", [
    (UNDER, 0.99, ["P3 fp32 trained: min exact match over k"]),
    (TRAINED, 0.2, ["k=2 control not collapsed under fq4"]),
    (TRAINED, float("nan"), ["k=2 control not collapsed under fq4"]),
    (UNDER, 0.2, ["P3 fp32 trained: min exact match over k", "k=2 control not collapsed under fq4"]),
])
def test_p2_gates(train_gate, low_k2, failed):
    v = C.judge_p2(GOOD, train_gate, low_k2)
    assert v.verdict == "INCONCLUSIVE" and sorted(n for n, ok in _gates(v).items() if not ok) == sorted(failed)
    assert v.reason == "gate failed: " + ", ".join(failed) and not _failed(v)       # sub-points kept, not judged


def test_arm_missing():
    for cid in ("P1", "P2"):
        v = C.arm_missing(cid, TRAINED)
        assert (v.id, v.verdict) == (cid, "INCONCLUSIVE") and "fq4 not trained" in v.reason
        assert v.gates == [TRAINED] and v.checks == {}


# --- amendments (issue 12) ------------------------------------------------------------------------------------------
DIP = {3: 4, 4: 9, 5: 8, 6: 13, 8: 26, 11: 64}       # the committed default run: one dip at b = 5
RISING = "rising_trend_low_rho_ge_0.9"


def test_mech_amended_passes_the_dip_and_records_the_original_fail():
    v = C.judge_mech_amended(_mech(low=DIP), {**MECH_METRICS, "slope_low": 0.4739})
    assert v.verdict == "PASS" and not _failed(v) and RISING in v.checks and "increasing_low" not in v.checks
    assert "increasing_fp32" in v.checks                           # fp32 accumulation keeps strict increase
    assert v.measured["spearman_rho_low"] == pytest.approx(1 - 6 * 2 / (6 * 35))     # 0.943
    a = v.amended_from
    assert a.verdict == "FAIL" and a.criterion == C.MECH_ORIGINAL and "2^(b/2)" in a.reason


def test_mech_amended_pass_when_original_passes_too():
    v = C.judge_mech_amended(_mech(), MECH_METRICS)
    assert v.verdict == "PASS" and v.amended_from.verdict == "PASS"


@pytest.mark.parametrize("low, metrics, failed", [
    ({3: 4, 4: 9, 5: 8, 6: 7, 8: 26, 11: 64}, MECH_METRICS, [RISING]),                 # rho = 0.83 < 0.9
    ({3: 64, 4: 32, 5: 16, 6: 13, 8: 9, 11: 4}, {**MECH_METRICS, "slope_low": -0.5}, [RISING, "slope_low_gt_min"]),
    ({3: 8, 4: 8, 5: 8, 6: 8, 8: 8, 11: 8}, {**MECH_METRICS, "slope_low": 0.0}, [RISING, "slope_low_gt_min"]),  # NaN
    (DIP, {**MECH_METRICS, "slope_low": 0.3}, ["slope_low_gt_min"]),                  # trend alone is not enough
])
def test_mech_amended_fail_branches(low, metrics, failed):
    v = C.judge_mech_amended(_mech(low=low), metrics)
    assert v.verdict == "FAIL" and _failed(v) == sorted(failed) and v.amended_from.verdict == "FAIL"


def test_mech_amended_still_strict_for_fp32_and_inconclusive_on_small_grid():
    v = C.judge_mech_amended(_mech(fp32={3: 4, 4: 10, 5: 10, 6: 38, 8: 114, 11: 845}), MECH_METRICS)
    assert v.verdict == "FAIL" and _failed(v) == ["increasing_fp32"]
    v = C.judge_mech_amended(_mech(low=DIP, add_max_n=16), MECH_METRICS)
    assert v.verdict == "INCONCLUSIVE" and v.amended_from.verdict == "FAIL"       # original fails a covered point


def test_fp32_gate_restricted_to_ks():
    acc = {2: 0.9555, 3: 0.18525, 8: 0.047}
    g = C.fp32_gate(acc, C.P1_GATE_KS)
    assert g == C.Gate("fp32 trained at k = 2", True, 0.9555, ">= 0.95 at k = 2")
    assert not C.fp32_gate({2: 0.9499, 3: 0.99}, (2,)).passed
    g = C.fp32_gate({3: 0.99}, (2,))                                                  # k = 2 not measured
    assert not g.passed and math.isnan(g.measured)
    assert not C.fp32_gate({}).passed and C.fp32_gate({}).measured is None


def test_p1_amended_gate_covers_k2_only():
    acc = {2: 0.9555, 3: 0.18525, 8: 0.047}                     # the committed default run
    v = C.judge_p1_amended((3822, 4000), (3942, 4000), acc)
    assert v.verdict == "PASS" and _gates(v) == {"fp32 trained at k = 2": True,
                                                 "k=2 control not collapsed under fq4": True}
    assert v.amended_from.verdict == "INCONCLUSIVE" and v.amended_from.criterion == C.P1_ORIGINAL


@pytest.mark.parametrize("acc, low, verdict, original", [
    ({2: 0.99, 8: 0.99}, (1920, 2000), "PASS", "PASS"),               # gate passes either way
    ({2: 0.99, 8: 0.5}, (1860, 2000), "FAIL", "INCONCLUSIVE"),        # 6 pp apart: judged now, was gated
    ({2: 0.90, 8: 0.99}, (1920, 2000), "INCONCLUSIVE", "INCONCLUSIVE"),   # fp32 under-trained at k = 2
    ({2: 0.99, 8: 0.99}, (999, 2000), "INCONCLUSIVE", "INCONCLUSIVE"),    # the k = 2 control collapsed
])
def test_p1_amended_branches(acc, low, verdict, original):
    fp32 = (round(acc[2] * 2000), 2000)
    v = C.judge_p1_amended(fp32, low, acc)
    assert (v.verdict, v.amended_from.verdict) == (verdict, original)
