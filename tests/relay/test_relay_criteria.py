"""Every branch and gate of RELAY's judges C1-C6 (criteria.py), on synthetic numbers."""
from tasks.relay import criteria as C


def ci(v, lo, hi):
    return {"value": v, "lo": lo, "hi": hi}


def c1(verdict="PASS"):
    if verdict == "PASS":
        return C.c1_premise(99.0, 40.0, ci(59, 55, 63))
    return C.c1_premise(90.0, 40.0, ci(50, 45, 55))


def test_c1_branches():
    v = C.c1_premise(99.0, 40.0, ci(59, 55, 63))
    assert v.verdict == "PASS" and v.gates_pass
    v = C.c1_premise(99.0, 80.0, ci(19, 15, 23))
    assert v.verdict == "FAIL" and "premise not reproduced" in v.reason
    v = C.c1_premise(99.0, 60.0, ci(39, -1, 60))                        # gap met, CI includes 0
    assert v.verdict == "FAIL"
    v = C.c1_premise(90.0, 10.0, ci(80, 75, 85))
    assert v.verdict == "INCONCLUSIVE" and not v.gates[0].passed


def test_c2_branches_and_c1_dependence():
    assert C.c2_looped_vs_ar(99, 80, 40, ci(40, 35, 45), c1()).verdict == "PASS"
    assert C.c2_looped_vs_ar(99, 50, 40, ci(10, 5, 15), c1()).verdict == "FAIL"
    assert C.c2_looped_vs_ar(99, 70, 40, ci(30, -2, 50), c1()).verdict == "FAIL"
    v = C.c2_looped_vs_ar(90, 80, 40, ci(40, 35, 45), c1())
    assert v.verdict == "INCONCLUSIVE" and not v.gates[0].passed
    v = C.c2_looped_vs_ar(99, 80, 40, ci(40, 35, 45), c1("INCONCLUSIVE"))
    assert v.verdict == "INCONCLUSIVE" and not v.gates[1].passed


def test_c3_branches_notably_and_gates():
    v = C.c3_aligned_vs_vanilla(99, 80, 95, 60, ci(20, 15, 25))
    assert v.verdict == "PASS" and "notably (>= 10)" in v.reason
    v = C.c3_aligned_vs_vanilla(99, 65, 95, 60, ci(5, 1, 9))
    assert v.verdict == "PASS" and "not 'notably'" in v.reason
    assert C.c3_aligned_vs_vanilla(99, 55, 95, 60, ci(-5, -9, -1)).verdict == "FAIL"
    assert C.c3_aligned_vs_vanilla(99, 62, 95, 60, ci(2, -1, 5)).verdict == "FAIL"
    v = C.c3_aligned_vs_vanilla(99, 80, 85, 20, ci(60, 55, 65))
    assert v.verdict == "INCONCLUSIVE" and not v.gates[0].passed
    v = C.c3_aligned_vs_vanilla(94, 80, 95, 20, ci(60, 55, 65))
    assert v.verdict == "INCONCLUSIVE" and not v.gates[1].passed


def test_c4_branches():
    assert C.c4_chain_accuracy(99, {7: 97.0, 8: 95.0, 9: 91.0}).verdict == "PASS"
    v = C.c4_chain_accuracy(99, {7: 97.0, 8: 95.0, 9: 85.0})
    assert v.verdict == "FAIL" and not v.checks["token accuracy >= 90 % at length 9"]
    assert C.c4_chain_accuracy(99, {}).verdict == "FAIL"
    assert C.c4_chain_accuracy(90, {7: 97.0}).verdict == "INCONCLUSIVE"


def test_c5_branches():
    ok = dict(relay_id=98, relay_ood=75, ar_ood=40, looped_id=99, looped_ood=80, gain_ci=ci(35, 30, 40),
              near_ci=ci(-5, -8, -2))
    assert C.c5_relay(**ok, c1=c1()).verdict == "PASS"
    assert C.c5_relay(**{**ok, "relay_ood": 55, "gain_ci": ci(15, 10, 20)}, c1=c1()).verdict == "FAIL"  # gain < 20
    assert C.c5_relay(**{**ok, "relay_ood": 65, "near_ci": ci(-15, -18, -12)}, c1=c1()).verdict == "FAIL"  # far
    assert C.c5_relay(**{**ok, "near_ci": ci(-5, -12, 1)}, c1=c1()).verdict == "FAIL"     # CI reaches -10
    assert C.c5_relay(**{**ok, "relay_id": 90}, c1=c1()).verdict == "FAIL"                 # ID lost
    assert C.c5_relay(**ok, c1=c1("INCONCLUSIVE")).verdict == "INCONCLUSIVE"
    assert C.c5_relay(**{**ok, "looped_id": 80}, c1=c1()).verdict == "INCONCLUSIVE"


def test_c6_branches():
    assert C.c6_selfchain(3.0, 35.0, ci(14.5, 10, 19), c1()).verdict == "PASS"
    assert C.c6_selfchain(20.0, 35.0, ci(-2.5, -6, 1), c1()).verdict == "FAIL"
    assert C.c6_selfchain(15.0, 35.0, ci(2.5, -1, 6), c1()).verdict == "FAIL"          # CI includes 0
    v = C.c6_selfchain(1.0, 5.0, ci(1.5, 0.5, 2.5), c1())
    assert v.verdict == "INCONCLUSIVE" and not v.gates[1].passed
    assert C.c6_selfchain(3.0, 35.0, ci(14.5, 10, 19), c1("FAIL")).verdict == "INCONCLUSIVE"


def test_smoke_reports_inconclusive_with_the_computed_verdict():
    v = C.at_scale(c1(), "smoke")
    assert v.verdict == "INCONCLUSIVE" and "computed PASS" in v.reason
    assert C.at_scale(c1(), "default").verdict == "PASS"
