"""Unit tests of OPZO's pre-registered judges (tasks/opzo/criteria.py; sheet claims C1-C7).

Synthetic numbers on each side of every threshold: PASS, FAIL and INCONCLUSIVE for every branch, and each gate
failing on its own (-> INCONCLUSIVE with that gate's `passed` False). No I/O.
"""
from __future__ import annotations

import math

import pytest

from tasks.common.claims import ci
from tasks.opzo import criteria as K

BP_OK = {"d1": 95.0, "d2": 90.0}


def d(v: float) -> dict:
    return ci(v, v - 1.0, v + 1.0)


def failed_gates(v) -> list[str]:
    return [g.name for g in v.gates if not g.passed]


def failed_checks(v) -> list[str]:
    return [k for k, ok in v.checks.items() if not ok]


# --- BP gate (C1, C2, C5) ------------------------------------------------------------------------------------------
def test_bp_gates_one_per_dataset_at_the_floor():
    gs = K.bp_gates({"d1": 50.0, "d2": 49.99})
    assert [(g.name, g.passed, g.measured) for g in gs] == [
        ("d1 BP-online accuracy (points)", True, 50.0), ("d2 BP-online accuracy (points)", False, 49.99)]
    assert [g.passed for g in K.bp_gates({"d1": 80.0})] == [True, False]                 # d2 missing
    assert [g.passed for g in K.bp_gates({"d1": None, "d2": math.nan})] == [False, False]


# --- C1, C2 --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn, thr", [(K.c1_close_to_bp, -3.0), (K.c2_beats_zo, 15.0)])
def test_c1_c2_pass_at_threshold_fail_below(fn, thr):
    v = fn({"d1": d(thr), "d2": d(thr + 5)}, BP_OK)
    assert v.verdict == "PASS" and v.gates_pass and len(v.gates) == 2
    v = fn({"d1": d(thr + 5), "d2": d(thr - 0.01)}, BP_OK)
    assert v.verdict == "FAIL"
    assert failed_checks(v) == [f"d2: OPZO - {'BP' if thr < 0 else 'ZO'} >= {thr:+.1f}"]


@pytest.mark.parametrize("fn", [K.c1_close_to_bp, K.c2_beats_zo])
def test_c1_c2_inconclusive_on_missing_arm_or_failed_bp_gate(fn):
    v = fn({"d1": d(20.0), "d2": None}, BP_OK)
    assert v.verdict == "INCONCLUSIVE" and v.reason == "arm missing on d2" and v.checks == {}
    v = fn({"d1": d(20.0)}, BP_OK)                                                       # key absent = missing
    assert v.verdict == "INCONCLUSIVE" and v.reason == "arm missing on d2"
    for ds in ("d1", "d2"):
        v = fn({"d1": d(20.0), "d2": d(20.0)}, {**BP_OK, ds: 40.0})     # checks hold, gate fails
        assert v.verdict == "INCONCLUSIVE" and failed_gates(v) == [f"{ds} BP-online accuracy (points)"]
        assert not failed_checks(v)


# --- C3 ------------------------------------------------------------------------------------------------------------
def test_c3_without_conv_is_inconclusive_and_reports_the_fc_subpoint():
    key = "FC: OPZO >= DFA - 1.0"
    v = K.c3_at_least_dfa({"d1": d(-1.0), "d2": d(2.0)})
    assert v.verdict == "INCONCLUSIVE" and v.checks == {key: True} and v.gates == []
    assert "holds on 2 dataset(s)" in v.reason and "not reproduced at this scale" in v.reason
    v = K.c3_at_least_dfa({"d1": d(-1.01), "d2": d(2.0)})
    assert v.verdict == "INCONCLUSIVE" and v.checks == {key: False} and "does not hold on 2" in v.reason
    v = K.c3_at_least_dfa({"d1": d(0.0), "d2": None})
    assert v.checks == {key: True} and "holds on 1 dataset(s)" in v.reason and list(v.measured) == [
        "d1 FC OPZO - DFA (points)"]
    v = K.c3_at_least_dfa({})
    assert v.verdict == "INCONCLUSIVE" and v.checks == {key: False} and "on 0 dataset(s)" in v.reason


def test_c3_with_conv_pass_fail_and_gate():
    fc, conv = "FC: OPZO >= DFA - 1.0", "conv: OPZO > DFA"
    v = K.c3_at_least_dfa({"d1": d(-1.0), "d2": d(2.0)}, d(0.1), 95.0, {"d1 conv OPZO - BP (points)": d(-2.0)})
    assert v.verdict == "PASS" and v.checks == {fc: True, conv: True} and v.gates_pass
    assert [g.name for g in v.gates] == ["d1 conv BP-online accuracy (points)"]
    assert "d1 conv OPZO - BP (points)" in v.measured and "d1 conv OPZO - DFA (points)" in v.measured
    v = K.c3_at_least_dfa({"d1": d(1.0), "d2": d(2.0)}, d(0.0), 95.0)            # OPZO = DFA is not > DFA
    assert v.verdict == "FAIL" and v.checks[conv] is False and "not reproduced at this scale" in v.reason
    v = K.c3_at_least_dfa({"d1": d(-1.5), "d2": d(2.0)}, d(3.0), 95.0)           # conv holds, FC does not
    assert v.verdict == "FAIL" and v.checks == {fc: False, conv: True} and "not reproduced" not in v.reason
    v = K.c3_at_least_dfa({"d1": d(1.0), "d2": d(2.0)}, d(5.0), 89.9)            # conv BP did not learn
    assert v.verdict == "INCONCLUSIVE" and not v.gates_pass
    v = K.c3_at_least_dfa({"d1": d(1.0), "d2": d(2.0)}, d(5.0), None)            # conv BP missing: gate fails
    assert v.verdict == "INCONCLUSIVE" and not v.gates_pass
    v = K.c3_at_least_dfa({"d1": d(1.0), "d2": d(2.0)}, d(5.0), 90.0)            # at the gate threshold
    assert v.verdict == "PASS"


# --- C4 ------------------------------------------------------------------------------------------------------------
def layer(co=0.5, cz=0.1, vo=1.0, vz=10.0) -> dict:
    return {"cos_opzo": co, "cos_zo": cz, "relvar_opzo": vo, "relvar_zo": vz}


def test_c4_pass_at_both_factors():
    v = K.c4_gradient_quality({"d1 L0": layer(), "d2 L1": layer(0.9, 0.01, 0.1, 100.0)})
    assert v.verdict == "PASS" and v.gates_pass and len(v.checks) == 4
    assert [g.name for g in v.gates] == ["mid-training probe layers", "non-finite probe values"]


@pytest.mark.parametrize("bad, failed", [
    (layer(co=0.49), "d2 L1: cos OPZO >= 5 x cos ZO"),
    (layer(vo=1.01), "d2 L1: relvar OPZO <= 0.1 x relvar ZO"),
])
def test_c4_fail_names_the_layer_and_subpoint(bad, failed):
    v = K.c4_gradient_quality({"d1 L0": layer(), "d2 L1": bad})
    assert v.verdict == "FAIL" and failed_checks(v) == [failed]


def test_c4_inconclusive_without_probes_or_with_nonfinite_values():
    v = K.c4_gradient_quality({})
    assert v.verdict == "INCONCLUSIVE" and failed_gates(v) == ["mid-training probe layers"]
    v = K.c4_gradient_quality({"d1 L0": layer(), "d1 L1": layer(vz=math.inf)})
    assert v.verdict == "INCONCLUSIVE" and failed_gates(v) == ["non-finite probe values"]
    assert v.gates[1].measured == 1
    v = K.c4_gradient_quality({"d1 L0": layer(cz=math.nan)})
    assert v.verdict == "INCONCLUSIVE" and failed_gates(v) == ["non-finite probe values"]


# --- C5 ------------------------------------------------------------------------------------------------------------
def test_c5_pass_fail_inconclusive():
    v = K.c5_momentum(d(5.0), 0.99, BP_OK)
    assert v.verdict == "PASS" and v.measured["lam best"] == 0.99 and len(v.gates) == 2
    v = K.c5_momentum(d(4.99), 0.99, BP_OK)
    assert v.verdict == "FAIL" and failed_checks(v) == ["d1: OPZO(lam best) - OPZO(lam 0) >= 5.0"]
    v = K.c5_momentum(None, 0.99, BP_OK)
    assert v.verdict == "INCONCLUSIVE" and v.reason == "arm missing"
    v = K.c5_momentum(d(10.0), 0.99, {"d1": 90.0, "d2": 10.0})      # BP gate on both datasets, as C1/C2
    assert v.verdict == "INCONCLUSIVE" and failed_gates(v) == ["d2 BP-online accuracy (points)"]


# --- C6 ------------------------------------------------------------------------------------------------------------
def test_c6_pass_at_spread_three_fail_above():
    v = K.c6_noise_robustness({"a": 90.0, "b": 93.0, "c": 91.0})
    assert v.verdict == "PASS" and v.measured["spread (points)"] == pytest.approx(3.0) and v.gates_pass
    v = K.c6_noise_robustness({"a": 90.0, "b": 93.5, "c": 91.0})
    assert v.verdict == "FAIL" and failed_checks(v) == ["max - min <= 3.0"]


def test_c6_inconclusive_on_missing_variant_or_untrained_nets():
    v = K.c6_noise_robustness({"a": 90.0, "b": None, "c": 91.0})
    assert v.verdict == "INCONCLUSIVE" and v.reason == "variants missing: ['b']" and v.checks == {}
    assert K.c6_noise_robustness({}).verdict == "INCONCLUSIVE"
    v = K.c6_noise_robustness({"a": 11.0, "b": 10.0, "c": 49.9})     # spread would fail; the gate decides first
    assert v.verdict == "INCONCLUSIVE" and failed_gates(v) == ["best noise variant accuracy (points)"]
    v = K.c6_noise_robustness({"a": 48.0, "b": 49.0, "c": 49.9})     # spread holds between untrained nets
    assert v.verdict == "INCONCLUSIVE" and not failed_checks(v)


# --- C7 ------------------------------------------------------------------------------------------------------------
T = {"d1": 6, "d2": 12}
ANALYTIC = {"bp": 68096.0, "opzo_g_only": 5120.0, "memory_bp": 68096.0, "memory_opzo": 5120.0}


def run_metrics(fwd=(6, 12), back=(0, 0), rg=(0, 0), macs=10240.0) -> dict:
    m = {"d1_feedback_macs_per_sample_step": macs}
    for ds, f, b, r in zip(T, fwd, back, rg):
        m |= {f"{ds}_forward_calls_per_batch": f, f"{ds}_layer_backward_per_batch": b, f"{ds}_requires_grad_seen": r}
    return m


def test_c7_pass_and_ratios():
    v = K.c7_cost([run_metrics(), run_metrics()], [run_metrics(macs=68096.0)], T, ANALYTIC)
    assert v.verdict == "PASS" and v.gates == [] and len(v.checks) == 6
    assert v.measured["BP / OPZO feedback-MAC ratio (counted)"] == pytest.approx(6.65)
    assert v.measured["BP / OPZO ratio, g = M e only (analytic)"] == pytest.approx(13.3)


@pytest.mark.parametrize("bad, failed", [
    (run_metrics(fwd=(6, 24)), "d2: forward calls per batch = T = 12"),
    (run_metrics(back=(1, 0)), "d1: no backward pass through layers"),
    (run_metrics(rg=(0, 1)), "d2: requires_grad off on the hidden path"),
])
def test_c7_fail_when_one_opzo_run_breaks_a_subpoint(bad, failed):
    v = K.c7_cost([run_metrics(), bad], [run_metrics(macs=68096.0)], T, ANALYTIC)
    assert v.verdict == "FAIL" and failed_checks(v) == [failed]


def test_c7_inconclusive_without_opzo_or_bp_runs():
    for opzo, bp in (([], [run_metrics()]), ([run_metrics()], [])):
        v = K.c7_cost(opzo, bp, T, ANALYTIC)
        assert v.verdict == "INCONCLUSIVE" and v.reason == "OPZO or BP training metrics missing"


# --- amended C2 (issue 14): judged where the readout-only arm leaves >= 15 points of headroom -------------------------
RO = {"d1": 89.0, "d2": 78.1}            # readout-only accuracies: d1 headroom 11 (not judged), d2 21.9 (judged)


def test_c2_amended_judges_only_datasets_with_headroom_and_keeps_the_original():
    v = K.c2_amended({"d1": d(9.0), "d2": d(15.0)}, RO, BP_OK)
    assert v.verdict == "PASS" and list(v.checks) == ["d2: OPZO - ZO >= +15.0"]
    assert v.measured["not judged (headroom < 15)"] == ["d1"] and "not judged" in v.reason
    assert v.measured["d1 headroom 100 - readout-only (points)"] == pytest.approx(11.0)
    assert v.amended_from.verdict == "FAIL" and v.amended_from.criterion == K.C2_ORIGINAL   # d1 +9 < +15
    v = K.c2_amended({"d1": d(9.0), "d2": d(14.99)}, RO, BP_OK)
    assert v.verdict == "FAIL" and failed_checks(v) == ["d2: OPZO - ZO >= +15.0"]
    assert v.amended_from.verdict == "FAIL"
    v = K.c2_amended({"d1": d(16.0), "d2": d(20.0)}, {"d1": 85.0, "d2": 70.0}, BP_OK)   # headroom exactly 15: judged
    assert v.verdict == "PASS" and len(v.checks) == 2 and v.measured["not judged (headroom < 15)"] == []
    assert v.amended_from.verdict == "PASS" and "not judged" not in v.reason


def test_c2_amended_inconclusive_branches():
    v = K.c2_amended({"d1": d(20.0), "d2": d(20.0)}, {"d1": 89.0, "d2": 90.0}, BP_OK)   # no dataset has headroom
    assert v.verdict == "INCONCLUSIVE" and v.reason == "no dataset with headroom >= 15 points"
    assert v.amended_from.verdict == "PASS"
    v = K.c2_amended({"d1": d(20.0), "d2": d(20.0)}, {"d1": 89.0, "d2": None}, BP_OK)   # readout arm not run
    assert v.verdict == "INCONCLUSIVE" and v.reason == "readout-only arm missing on d2"
    v = K.c2_amended({"d1": d(20.0), "d2": None}, RO, BP_OK)
    assert v.verdict == "INCONCLUSIVE" and v.reason == "OPZO or ZO arm missing on d2"
    assert v.amended_from.verdict == "INCONCLUSIVE"
    v = K.c2_amended({"d1": d(9.0), "d2": d(30.0)}, RO, {**BP_OK, "d1": 40.0})       # BP gate still applies
    assert v.verdict == "INCONCLUSIVE" and failed_gates(v) == ["d1 BP-online accuracy (points)"]
    assert "not judged" not in v.reason


# --- amended C5 (issue 14): D2, >= 3 seed-paired differences; "toward ZO" reported ---------------------------------
def test_c5_amended_pass_fail_and_reported_toward_zo():
    v = K.c5_amended(d(3.0), d(5.0), [4.0, 5.0, 6.0], d(25.0), d(30.0), 0.99, BP_OK)
    assert v.verdict == "PASS" and list(v.checks) == ["d2: mean paired OPZO(lam best) - OPZO(lam 0) >= 5.0"]
    assert v.measured["d2 paired differences per seed (points)"] == [4.0, 5.0, 6.0]
    assert v.measured["d2 share of the OPZO - ZO gap lost at lam 0 (reported)"] == pytest.approx(5.0 / 30.0)
    assert v.measured["d2 OPZO(lam 0) - ZO (points; 'toward ZO', reported)"]["value"] == 25.0
    assert v.amended_from.verdict == "FAIL" and v.amended_from.criterion == K.C5_ORIGINAL     # d1 +3 < +5
    v = K.c5_amended(d(6.0), d(4.99), [4.0, 5.0, 5.97], None, None, 0.99, BP_OK)
    assert v.verdict == "FAIL" and v.amended_from.verdict == "PASS"
    assert not any("toward" in k for k in v.measured)                                         # ZO arm missing
    v = K.c5_amended(d(6.0), d(6.0), [6.0] * 3, d(1.0), d(0.0), 0.99, BP_OK)                 # no gap: nan share
    assert math.isnan(v.measured["d2 share of the OPZO - ZO gap lost at lam 0 (reported)"])


def test_c5_amended_inconclusive_branches():
    v = K.c5_amended(d(6.0), d(9.0), [9.0, 9.0], None, None, 0.99, BP_OK)                   # 2 seeds < 3
    assert v.verdict == "INCONCLUSIVE" and v.reason == "D2 lam = 0 arm: 2 paired seed(s), needs >= 3"
    assert v.amended_from.verdict == "PASS"
    v = K.c5_amended(None, None, None, None, None, 0.99, BP_OK)
    assert v.verdict == "INCONCLUSIVE" and v.amended_from.verdict == "INCONCLUSIVE"
    v = K.c5_amended(d(6.0), d(9.0), [9.0] * 3, None, None, 0.99, {"d1": 90.0, "d2": 10.0})
    assert v.verdict == "INCONCLUSIVE" and failed_gates(v) == ["d2 BP-online accuracy (points)"]
