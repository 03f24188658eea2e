"""Every branch of GRSNN's judges G1-G6 (criteria.py), on synthetic numbers."""
import math

from tasks.grsnn import criteria as K


def test_g1_pass_fail_gate_and_unmeasurable():
    v = K.g1_delay([0.80, 0.82, 0.81], [0.50, 0.52, 0.51])
    assert v.verdict == "PASS" and v.gates_pass
    assert math.isclose(v.measured["mrr_gap"], 0.30) and math.isclose(v.measured["pooled_seed_std"], 0.01)
    v = K.g1_delay([0.80, 0.82, 0.81], [0.70, 0.72, 0.71])                 # gap 0.10 < 0.15
    assert v.verdict == "FAIL" and not v.checks["gap >= 0.15"]
    v = K.g1_delay([0.70, 0.95, 0.80], [0.50, 0.60, 0.55])                 # gap 0.27 but noisy seeds
    assert v.verdict == "FAIL" and v.checks["gap >= 0.15"] and not v.checks["gap > 3 x pooled seed std"]
    v = K.g1_delay([0.40, 0.42, 0.41], [0.10, 0.10, 0.11])                 # floor missed
    assert v.verdict == "INCONCLUSIVE" and not v.gates_pass
    v = K.g1_delay([0.80], [0.50])
    assert v.verdict == "INCONCLUSIVE" and "pooled seed std" in v.reason
    assert K.g1_delay([], [0.5]).verdict == "INCONCLUSIVE"


def test_g2_branches():
    assert K.g2_competitive(0.80, 0.90).verdict == "PASS"
    v = K.g2_competitive(0.70, 0.90)
    assert v.verdict == "FAIL" and math.isclose(v.measured["mrr_ratio"], 0.7 / 0.9)
    v = K.g2_competitive(0.80, 0.40)                                        # NBFNet-lite below its floor
    assert v.verdict == "INCONCLUSIVE" and [g.passed for g in v.gates] == [True, False]
    assert K.g2_competitive(0.45, 0.90).verdict == "INCONCLUSIVE"
    assert K.g2_competitive(0.80, None).verdict == "INCONCLUSIVE"


def test_g3_branches():
    assert K.g3_timing(0.8, 0.75, 20, 0.9).verdict == "PASS"
    v = K.g3_timing(0.8, 0.60, 20, 0.9)
    assert v.verdict == "FAIL" and list(v.checks.values()) == [False, True]
    v = K.g3_timing(0.8, 0.80, 20, 0.5)
    assert v.verdict == "FAIL" and list(v.checks.values()) == [True, False]
    assert K.g3_timing(0.3, 0.9, 20, 0.9).verdict == "INCONCLUSIVE"
    assert K.g3_timing(0.8, None, 0, 0.9).verdict == "INCONCLUSIVE"


def test_g4_g5_g6_branches():
    assert K.g4_energy(0.8, 6.0, 0.1).verdict == "PASS"
    assert K.g4_energy(0.8, 4.9, 0.3).verdict == "FAIL"
    assert K.g4_energy(0.4, 9.0, 0.1).verdict == "INCONCLUSIVE"
    assert K.g4_energy(0.8, None, None).verdict == "INCONCLUSIVE"
    assert K.g5_params(4.3).verdict == "PASS" and K.g5_params(3.9).verdict == "FAIL"
    assert K.g5_params(4.3).gates == []
    v = K.g6_inductive(0.9)
    assert v.verdict == "INCONCLUSIVE" and v.measured == {"transductive_mrr_grsnn": 0.9, "inductive_mrr_grsnn": None}


def test_smoke_is_reported_inconclusive():
    v = K.at_scale(K.g5_params(4.3), "smoke")
    assert v.verdict == "INCONCLUSIVE" and "computed PASS" in v.reason
    assert K.at_scale(K.g5_params(4.3), "default").verdict == "PASS"
    assert K.at_scale(K.g6_inductive(), "smoke").reason.startswith("optional")
