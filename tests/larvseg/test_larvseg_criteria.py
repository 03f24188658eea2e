"""Every branch and gate of LarvSeg's judges (criteria.py), on synthetic numbers."""
from tasks.larvseg import criteria as K


def test_c1_branches():
    v = K.c1(0.5, [30.0, 28.0, 32.0], 60.0)
    assert v.verdict == "PASS" and v.gates_pass and abs(v.measured["novel_gain"] - 29.5) < 1e-9
    assert K.c1(0.0, [15.0, 18.0, 20.0], 60.0).verdict == "FAIL"
    v = K.c1(0.0, [40.0], 45.0)
    assert v.verdict == "INCONCLUSIVE" and not v.gates[0].passed
    assert K.c1(None, [40.0], 60.0).verdict == "INCONCLUSIVE"
    assert K.c1(0.0, [], 60.0).verdict == "INCONCLUSIVE"


def test_c2_branches():
    good = dict(larvseg_novel=[46.0, 44.0, 41.0], baseline_novel=[42.0, 41.0, 41.5],
                larvseg_base=[60.0, 60.0, 60.0], baseline_base=[60.5, 60.5, 60.5], seg_only_base=60.0,
                headroom_val=20.0)
    v = K.c2(**good)
    assert v.verdict == "PASS" and len(v.gates) == 2 and v.gates_pass
    assert K.c2(**{**good, "larvseg_novel": [43.0, 42.0, 42.0]}).verdict == "FAIL"          # mean gain 0.83 < 2
    v = K.c2(**{**good, "larvseg_novel": [52.0, 40.0, 41.0]})                                 # mean +2.8, 1 of 3
    assert v.verdict == "FAIL" and not v.checks["gain positive in >= 2 of 3 seeds"]
    v = K.c2(**{**good, "larvseg_base": [58.0, 59.0, 59.0]})                                  # base -1.83
    assert v.verdict == "FAIL" and not v.checks["base mIoU not lower by more than 1"]
    v = K.c2(**{**good, "headroom_val": 10.0})
    assert v.verdict == "INCONCLUSIVE" and not v.gates[1].passed and v.gates[0].passed
    assert K.c2(**{**good, "headroom_val": None}).verdict == "INCONCLUSIVE"
    assert K.c2(**{**good, "seg_only_base": 40.0}).verdict == "INCONCLUSIVE"
    assert K.c2(**{**good, "larvseg_novel": [45.0]}).verdict == "INCONCLUSIVE"              # unpaired


def test_c3_branches():
    assert K.c3(50.0, 60.0, 40.0, 60.0).verdict == "PASS"
    v = K.c3(45.0, 60.0, 30.0, 60.0)                                                         # 0.75 x base
    assert v.verdict == "FAIL" and not v.checks["novel >= 0.8 x base"]
    v = K.c3(50.0, 60.0, 46.0, 60.0)                                                         # margin 4 < 5
    assert v.verdict == "FAIL" and not v.checks["novel >= random-init novel + 5"]
    assert K.c3(50.0, 60.0, 40.0, 49.9).verdict == "INCONCLUSIVE"
    assert K.c3(None, 60.0, 40.0, 60.0).verdict == "INCONCLUSIVE"


def test_l4_and_smoke():
    assert K.l4(0.85, 60.0).verdict == "PASS"
    assert K.l4(0.7, 60.0).verdict == "FAIL"
    assert K.l4(0.9, 10.0).verdict == "INCONCLUSIVE"
    assert K.l4(None, 60.0).verdict == "INCONCLUSIVE"
    v = K.at_scale(K.l4(0.85, 60.0), "smoke")
    assert v.verdict == "INCONCLUSIVE" and "computed PASS" in v.reason
    assert K.at_scale(K.l4(0.7, 60.0), "default").verdict == "FAIL"
