"""Unit tests of the PIE judges (`tasks/pie/criteria.py`, claims P1-P4 of the paper sheet) on synthetic numbers.

Every branch of every judge: PASS, FAIL (naming the check that failed), INCONCLUSIVE (naming the gate that failed,
with its `passed` False in `verdict.gates`), and the inclusive boundaries of each threshold. No I/O.
"""
from __future__ import annotations

import math

import pytest

from tasks.common.claims import FAIL, INCONCLUSIVE, PASS, ci
from tasks.pie import criteria as C

TASKS = ("insertion", "deletion", "edition")
NAN = float("nan")


def _failed(v) -> list[str]:
    return [k for k, ok in v.checks.items() if not ok]


def _gates(v) -> dict[str, bool]:
    return {g.name: g.passed for g in v.gates}


# --- P1 ---------------------------------------------------------------------------------------------------------
def _p1(em=80.0, gap=40.0, em_diff=0.5, es_diff=-0.5, ci_half=1.0, **over):
    """P1 inputs, all tasks alike; `over[t]` = (stale gap, EM diff ci, ES diff ci) replaces task t."""
    stale = {t: ci(gap, gap - 5, gap + 5) for t in TASKS}
    diffs = {t: {"em": ci(em_diff, em_diff - ci_half, em_diff + ci_half),
                 "es": ci(es_diff, es_diff - ci_half, es_diff + ci_half)} for t in TASKS}
    for t, (g, e, s) in over.items():
        stale[t] = g or stale[t]
        diffs[t] = {"em": e or diffs[t]["em"], "es": s or diffs[t]["es"]}
    return C.p1(ci(em, em - 3, em + 3), stale, diffs)


def test_p1_pass_records_every_gate():
    v = _p1()
    assert v.verdict == PASS and not _failed(v) and len(v.checks) == 12
    assert _gates(v) == {C.GATE_EM_NAME: True, **{f"sanity {t}: EM_full - EM_stale (points)": True for t in TASKS}}
    assert v.gates[0].measured == 80.0 and v.gates[0].threshold == ">= 50"
    assert all(g.threshold == ">= 20" for g in v.gates[1:])


def test_p1_boundaries_are_inclusive():
    v = _p1(em=50.0, gap=20.0, em_diff=2.0, es_diff=-2.0, ci_half=1.0)   # CI [1, 3] and [-3, -1]
    assert v.verdict == PASS, v.reason


@pytest.mark.parametrize("over, check", [
    ({"deletion": (None, ci(2.01, 1.5, 2.5), None)}, "deletion: |EM diff| <= 2.0"),
    ({"edition": (None, None, ci(-2.5, -2.9, -2.1))}, "edition: |ES diff| <= 2.0"),
    ({"insertion": (None, ci(0.0, -3.01, 2.0), None)}, "insertion: EM diff CI inside +-3.0"),
    ({"deletion": (None, None, ci(0.0, -1.0, 3.2))}, "deletion: ES diff CI inside +-3.0"),
    ({"edition": (None, ci(0.0, NAN, NAN), None)}, "edition: EM diff CI inside +-3.0"),
])
def test_p1_fail_names_the_check(over, check):
    v = _p1(**over)
    assert v.verdict == FAIL and _failed(v) == [check] and check in v.reason
    assert all(_gates(v).values())


@pytest.mark.parametrize("em", [49.9, NAN])
def test_p1_em_gate_fails_inconclusive(em):
    v = _p1(em=em, em_diff=5.0)                      # checks would FAIL; the gate wins
    assert v.verdict == INCONCLUSIVE and C.GATE_EM_NAME in v.reason
    assert [g.name for g in v.gates if not g.passed] == [C.GATE_EM_NAME]


@pytest.mark.parametrize("em_diff", [0.5, 5.0])     # checks PASS, or FAIL: sanity overrides both
def test_p1_sanity_gate_fails_inconclusive(em_diff):
    v = _p1(em_diff=em_diff, deletion=(ci(19.9, 10, 30), None, None))
    assert v.verdict == INCONCLUSIVE and "vacuous" in v.reason
    assert [g.name for g in v.gates if not g.passed] == ["sanity deletion: EM_full - EM_stale (points)"]
    assert v.gates[2].measured == 19.9


def test_p1_nan_sanity_gap_and_both_gates():
    v = _p1(em=10.0, edition=(ci(NAN, NAN, NAN), None, None))
    assert v.verdict == INCONCLUSIVE
    assert [g.name for g in v.gates if not g.passed] == [C.GATE_EM_NAME, "sanity edition: EM_full - EM_stale (points)"]


# --- P2 ---------------------------------------------------------------------------------------------------------
def _p2(em=80.0, ins=-30.0, dele=-30.0):
    drops = {"insertion": ci(ins, ins - 4, ins + 4), "deletion": ci(dele, dele - 4, dele + 4)}
    return C.p2(ci(em, em - 3, em + 3), drops)


def test_p2_pass_at_boundary_and_only_em_gate():
    v = _p2(ins=-10.0, dele=-50.0)
    assert v.verdict == PASS and set(v.checks) == {f"{t}: EM_conflict <= EM_full - 10" for t in C.P2_TASKS}
    assert _gates(v) == {C.GATE_EM_NAME: True}


def test_p2_fail_not_reproduced():
    v = _p2(dele=-9.9)
    assert v.verdict == FAIL and _failed(v) == ["deletion: EM_conflict <= EM_full - 10"]
    assert "not reproduced" in v.reason


def test_p2_gate_fails_inconclusive():
    v = _p2(em=49.0, ins=0.0)
    assert v.verdict == INCONCLUSIVE and "not reproduced" not in v.reason
    assert _gates(v) == {C.GATE_EM_NAME: False}


# --- P3 ---------------------------------------------------------------------------------------------------------
def _p3(task_red=0.95, rows=((512, 0.95, 0.95), (1024, 0.97, 0.96))):
    flops = {t: {"reduction": task_red, "n_new": 400.0} for t in TASKS}
    sweep = [{"n_new": n, "flops_reduction": f, "wall_reduction": w} for n, f, w in rows]
    return C.p3(flops, sweep)


def test_p3_pass_ignores_short_lengths():
    v = _p3(task_red=0.85, rows=((256, 0.5, 0.1), (512, 0.85, 0.90), (1024, 0.97, 0.96)))
    assert v.verdict == PASS and v.gates == [] and "not reproducible" not in v.reason
    assert not any("256" in k for k in [*v.checks, *v.measured]) and len(v.checks) == 3 + 4


@pytest.mark.parametrize("kw, check", [
    ({"task_red": 0.849}, "insertion: FLOPs reduction >= 85%"),
    ({"rows": ((512, 0.84, 0.95),)}, "sweep n'=512: FLOPs reduction >= 85%"),
    ({"rows": ((512, 0.95, 0.95), (2048, 0.99, 0.5))}, "sweep n'=2048: wall-clock reduction >= 85%"),
])
def test_p3_fail_names_the_check(kw, check):
    v = _p3(**kw)
    assert v.verdict == FAIL and check in _failed(v)
    if "task_red" in kw:
        assert _failed(v) == [f"{t}: FLOPs reduction >= 85%" for t in TASKS]
    else:
        assert _failed(v) == [check]


def test_p3_no_long_sweep_inconclusive():
    v = _p3(task_red=0.5, rows=((256, 0.9, 0.9),))
    assert v.verdict == INCONCLUSIVE and "no sweep length >= 512" in v.reason and v.gates == []
    assert len(v.checks) == 3 and not any(v.checks.values())     # task checks still reported


@pytest.mark.parametrize("wall, verdict", [(0.86, PASS), (0.83, FAIL), (0.90, PASS)])
def test_p3_flags_wall_clock_near_threshold(wall, verdict):
    v = _p3(rows=((512, 0.95, wall),))
    assert v.verdict == verdict
    assert ("not reproducible" in v.reason) == (abs(wall - 0.85) < C.WALL_TOLERANCE)


def test_issue_target_reported():
    rows = [{"n_new": n, "flops_reduction": f, "wall_reduction": w}
            for n, f, w in ((512, 0.1, 0.1), (1024, 0.95, 0.89))]
    assert C.issue_target(rows) == (True, False)
    assert C.issue_target(rows[:1]) is None


# --- P4 ---------------------------------------------------------------------------------------------------------
def _mech(**over):
    m = {"cos_pie": [1.0, 0.98, 0.97], "cos_conflict": [0.6, 0.5, 0.55], "kl_pie": 1e-4, "kl_conflict": 1e-2}
    return {**m, **over}


def test_p4_pass_at_boundaries():
    v = C.p4({t: _mech() for t in TASKS})
    assert v.verdict == PASS and v.gates == [] and len(v.checks) == 12
    v = C.p4({"insertion": _mech(cos_pie=[1 - 1e-6, 1.0], kl_pie=1e-3),       # layer 1 = 1 - 1e-6, KL = KL_c / 10
              "deletion": _mech(cos_pie=[1.0, 0.9], cos_conflict=[0.5, 0.5]),   # mean cos PIE = 0.95
              "edition": _mech(cos_pie=[1.0, 1.0], cos_conflict=[0.95, 0.95])})  # conflict = PIE - 0.05
    assert v.verdict == PASS, v.reason
    assert math.isclose(v.measured["deletion: cos PIE mean"], 0.95)


@pytest.mark.parametrize("over, check", [
    ({"cos_pie": [1 - 2e-6, 0.99, 0.99]}, "layer-1 cos PIE >= 1 - 1e-6"),
    ({"cos_pie": [1.0, 0.9, 0.9], "cos_conflict": [0.5, 0.5, 0.5]}, "mean cos PIE >= 0.95"),
    ({"cos_conflict": [1.0, 0.95, 0.94]}, "mean cos conflict <= PIE - 0.05"),
    ({"kl_pie": 1.1e-3}, "KL PIE <= KL conflict / 10"),
])
def test_p4_fail_names_the_check(over, check):
    v = C.p4({"insertion": _mech(), "deletion": _mech(**over), "edition": _mech()})
    assert v.verdict == FAIL and _failed(v) == [f"deletion: {check}"]


def test_p4_missing_reused_keys_inconclusive():
    v = C.p4({"insertion": _mech(), "deletion": None, "edition": _mech(kl_pie=1.0)})
    assert v.verdict == INCONCLUSIVE and v.reason == "deletion: no reused suffix keys" and v.gates == []


# --- amended gates (issue 11: only target lines that need the context) -------------------------------------------
def test_amended_gates_are_named_and_judged_on_the_given_numbers():
    stale = {t: ci(25.0, 20, 30) for t in TASKS}
    diffs = {t: {"em": ci(0.0, -1, 1), "es": ci(0.0, -1, 1)} for t in TASKS}
    v = C.p1(ci(60.0, 55, 65), stale, diffs, ctx=True)
    assert v.verdict == PASS and all(n.endswith(C.CTX) for n in _gates(v))
    v = C.p1(ci(49.9, 45, 55), stale, diffs, ctx=True)
    assert v.verdict == INCONCLUSIVE and _gates(v)[C.GATE_EM_NAME + C.CTX] is False
    v = C.p2(ci(49.9, 45, 55), {t: ci(-30.0, -35, -25) for t in C.P2_TASKS}, ctx=True)
    assert v.verdict == INCONCLUSIVE and _gates(v) == {C.GATE_EM_NAME + C.CTX: False}
    v = C.p2(ci(50.0, 45, 55), {t: ci(-30.0, -35, -25) for t in C.P2_TASKS}, ctx=True)
    assert v.verdict == PASS


def test_report_records_the_original_verdict_beside_the_amended_one():
    from tasks.common.claims import amend
    stale = {t: ci(25.0, 20, 30) for t in TASKS}
    diffs = {t: {"em": ci(0.0, -1, 1), "es": ci(0.0, -1, 1)} for t in TASKS}
    orig = C.p1(ci(30.0, 25, 35), {t: ci(0.0, 0, 0) for t in TASKS}, diffs)
    v = amend(C.p1(ci(60.0, 55, 65), stale, diffs, ctx=True), orig, C.AMENDMENT, C.AMENDMENT_REASON)
    assert v.verdict == PASS and v.amended_from.verdict == INCONCLUSIVE
