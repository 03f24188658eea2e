"""Every branch and gate of the BUSGen judges (criteria.py), on synthetic numbers."""
from tasks.busgen import criteria as C
from tasks.common.claims import ci

OK = C.calibration_gates(0.93, 0.75)


def test_calibration_gate_bands():
    assert all(g.passed for g in OK)
    assert not C.calibration_gates(0.99, 0.75)[0].passed          # task too easy
    assert not C.calibration_gates(0.86, 0.75)[0].passed
    assert not C.calibration_gates(0.93, 0.66)[1].passed
    assert not C.calibration_gates(0.93, 0.84)[1].passed
    assert not C.calibration_gates(float("nan"), 0.75)[0].passed
    assert all(g.passed for g in C.calibration_gates(0.87, 0.83))  # band edges are inside


def test_p1a_branches():
    assert C.p1a(ci(0.05, 0.01, 0.09), OK, {}).verdict == "PASS"
    v = C.p1a(ci(0.05, -0.01, 0.09), OK, {})
    assert v.verdict == "FAIL" and not v.checks["95% CI > 0"]
    v = C.p1a(ci(0.02, 0.005, 0.04), OK, {})
    assert v.verdict == "FAIL" and not v.checks["AUC difference >= 0.03"]
    assert C.p1a(ci(0.05, 0.01, 0.09), C.calibration_gates(0.99, 0.75), {}).verdict == "INCONCLUSIVE"


def test_p1b_exceeds_noninferior_fail():
    assert C.p1b(ci(0.03, 0.01, 0.05), OK, {}).verdict == "PASS"
    v = C.p1b(ci(-0.01, -0.03, 0.01), OK, {})
    assert v.verdict == "INCONCLUSIVE" and "non-inferior" in v.reason
    v = C.p1b(ci(-0.02, -0.04, -0.005), OK, {})                    # the margin itself is non-inferior
    assert v.verdict == "INCONCLUSIVE"
    v = C.p1b(ci(-0.05, -0.08, -0.02), OK, {})
    assert v.verdict == "FAIL" and "not reproduced" in v.reason
    assert C.p1b(ci(0.03, 0.01, 0.05), C.calibration_gates(0.93, 0.9), {}).verdict == "INCONCLUSIVE"


def test_p2_branches():
    assert C.p2(ci(0.06, 0.02, 0.1), OK, {}).verdict == "PASS"
    assert C.p2(ci(0.04, 0.02, 0.1), OK, {}).verdict == "FAIL"
    assert C.p2(ci(0.06, 0.02, 0.1), C.calibration_gates(0.5, 0.75), {}).verdict == "INCONCLUSIVE"


def test_p3_branches():
    ns = [64, 256, 1024]
    assert C.p3(ns, [0.70, 0.80, 0.85], [0.71, 0.82, 0.90], OK, {}).verdict == "PASS"
    v = C.p3(ns, [0.70, 0.80, 0.78], [0.71, 0.82, 0.90], OK, {})     # dip of 0.02
    assert v.verdict == "FAIL" and abs(v.measured["largest_dip"] - 0.02) < 1e-12
    assert C.p3(ns, [0.70, 0.80, 0.795], [0.71, 0.82, 0.9], OK, {}).verdict == "PASS"   # dip 0.005 allowed
    v = C.p3(ns, [0.70, 0.75, 0.85], [0.71, 0.82, 0.90], OK, {})     # gap 0.07 at N = 256
    assert v.verdict == "FAIL" and not v.measured["as_effective_as_real_at_max_N"]
    v = C.p3(ns, [0.70, 0.80, 0.89], [0.71, 0.82, 0.90], OK, {})
    assert v.measured["as_effective_as_real_at_max_N"]
    assert C.p3([512, 1024], [0.8, 0.85], [0.8, 0.85], OK, {}).verdict == "INCONCLUSIVE"  # nothing <= 256
    assert C.p3(ns, [0.70, 0.80, 0.85], [0.71, 0.82, 0.9], C.calibration_gates(0.93, 0.5), {}).verdict == "INCONCLUSIVE"


def test_p4_branches():
    assert C.p4(ci(0.05, 0.01, 0.09), OK, {}).verdict == "PASS"
    assert C.p4(ci(0.05, -0.01, 0.09), OK, {}).verdict == "FAIL"
    assert C.p4(ci(0.02, 0.01, 0.03), OK, {}).verdict == "FAIL"
    assert C.p4(ci(0.05, 0.01, 0.09), C.calibration_gates(0.8, 0.75), {}).verdict == "INCONCLUSIVE"


def test_p5_branches_and_positive_control():
    ctl = {"pixel": (0.3, 0.95), "feature": (0.5, 0.9)}               # copies: detected in both spaces
    gen = {"pixel": (1.1, 0.52), "feature": (0.95, 0.55)}
    assert C.p5(gen, ctl, {}).verdict == "PASS"
    v = C.p5({"pixel": (0.8, 0.52), "feature": (0.95, 0.55)}, ctl, {})
    assert v.verdict == "FAIL" and not v.checks["DCR ratio (pixel) >= 0.9"]
    v = C.p5({"pixel": (1.1, 0.52), "feature": (0.95, 0.65)}, ctl, {})
    assert v.verdict == "FAIL" and not v.checks["MIA AUC (feature) <= 0.6"]
    v = C.p5(gen, {"pixel": (0.3, 0.95), "feature": (1.0, 0.5)}, {})   # control invisible in feature space
    assert v.verdict == "INCONCLUSIVE" and not v.gates[1].passed and v.gates[0].passed


def test_smoke_guard():
    v = C.p2(ci(0.06, 0.02, 0.1), OK, {})
    assert C.smoke_guard(v, "default").verdict == "PASS"
    s = C.smoke_guard(v, "smoke")
    assert s.verdict == "INCONCLUSIVE" and "computed PASS" in s.reason
