"""Unit tests of the RTO judges and gates (tasks/rto/criteria.py; sheet shared/papers/rto.md, claims C1-C5; issue 13).

Synthetic per-seed numbers drive every branch of each judge: PASS, FAIL (naming the sub-point that failed),
INCONCLUSIVE for too few seeds / missing arms, INCONCLUSIVE for each failed validity gate (accuracy, calibration,
KL, and the arm-F density gate on each axis), and the amended criteria with the original verdict recorded. No I/O.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from tasks.common.claims import FAIL, INCONCLUSIVE, PASS, Gate
from tasks.rto import criteria as C

RM_GATE = "reward_model (full pairs) held-out accuracy vs true order"
DPO_GATE = "dpo (full pairs) held-out accuracy vs true order"
KL3 = [0.5, 0.6, 0.7]
GOOD = [Gate("g", True, 1.0, ">= 0")]
BADG = [Gate("g", True, 1.0, ">= 0"), Gate("bad gate", False, 0.0, ">= 1")]


def failed(v) -> list[str]:
    return [k for k, ok in v.checks.items() if not ok]


def test_pre_registered_constants():
    assert (C.C1_MIN_SEEDS, C.C1_SE_FACTOR, C.C2_MIN_SEEDS, C.C2_SE_FACTOR) == (3, 2.0, 3, 2.0)
    assert (C.C3_MAX_FRACTION, C.C3_STRETCH_FRACTION, C.C4_MIN_DIFF) == (0.5, 0.125, 0.0)
    assert (C.GATE_RM_MIN_ACC, C.GATE_DPO_MIN_ACC, C.CAL_BAND, C.KL_MAX) == (0.70, 0.55, (0.3, 1.0), 8.0)


# --- gates ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model, acc, passed", [("reward_model", 0.70, True), ("reward_model", 0.6999, False),
                                                ("dpo", 0.55, True), ("dpo", 0.5499, False),
                                                ("dpo", float("nan"), False), ("reward_model", None, False)])
def test_accuracy_gate_boundaries(model, acc, passed):
    g = C.acc_gate(model, acc)
    assert g.name == (RM_GATE if model == "reward_model" else DPO_GATE) and g.passed == passed


@pytest.mark.parametrize("ratio, passed", [(0.3, True), (1.0, True), (0.5, True), (0.2999, False), (1.0001, False),
                                           (None, False)])
def test_calibration_gate_band(ratio, passed):
    assert C.cal_gate(ratio).passed == passed


@pytest.mark.parametrize("kls, passed", [([1.0, 8.0], True), ([1.0, 8.01], False), ([], False)])
def test_kl_gate_uses_the_largest_final_kl(kls, passed):
    g = C.kl_gate(kls)
    assert g.passed == passed and (g.measured == max(kls) if kls else g.measured is None)


@pytest.mark.parametrize("axis, vals, passed", [
    ("matched KL", [0.01, -0.005], True), ("matched KL", [0.01, -0.02], False), ("matched KL", [0.0], False),
    ("final", [0.05, 0.06], True), ("final", [-0.01, 0.0], False),
    ("rollouts", [0.4, 0.5], True), ("rollouts", [0.4, 0.51], False), ("rollouts", [math.inf, 0.2], False),
    ("final", [], False), ("final", [float("nan"), 0.1], False)])
def test_density_gate_on_every_axis(axis, vals, passed):
    g = C.density_gate(axis, vals)
    assert g.passed == passed and g.name.startswith(f"arm F (true reward): dense beats sparse on the {axis} axis")


def test_density_gate_rejects_an_unknown_axis():
    with pytest.raises(ValueError):
        C.density_gate("speed", [0.1])


def test_density_gate_failure_makes_a_claim_inconclusive_not_fail():
    gates = GOOD + [C.density_gate("matched KL", [-0.01])]
    v = C.c1_rto_vs_sparse([-0.1, -0.2, -0.1], KL3, gates)       # would FAIL on its checks
    assert v.verdict == INCONCLUSIVE and "arm F" in v.reason


# --- C1 ------------------------------------------------------------------------------------------------------------
def test_c1_pass():
    v = C.c1_rto_vs_sparse([0.10, 0.12, 0.11], KL3, GOOD)
    assert v.verdict == PASS and not failed(v) and v.measured["per seed"] == [0.1, 0.12, 0.11]


def test_c1_fail_on_mean_vs_2se_only():
    v = C.c1_rto_vs_sparse([0.01, 1.0, 0.02], KL3, GOOD)    # all > 0; mean 0.34 < 2 SE 0.66
    assert v.verdict == FAIL and failed(v) == ["mean > 2 SE"]


def test_c1_fail_on_one_negative_seed_only():
    v = C.c1_rto_vs_sparse([1.0, 1.0, 1.0, 1.0, -1e-4], KL3 + [0.8, 0.9], GOOD)
    assert v.verdict == FAIL and failed(v) == ["> 0 in every seed"]


def test_c1_nan_difference_fails():
    v = C.c1_rto_vs_sparse([0.1, 0.1, float("nan")], KL3, GOOD)
    assert v.verdict == FAIL and failed(v) == ["> 0 in every seed", "mean > 2 SE"]


def test_c1_inconclusive_with_too_few_seeds_and_on_a_failed_gate():
    v = C.c1_rto_vs_sparse([0.1, 0.2], KL3[:2], GOOD)
    assert v.verdict == INCONCLUSIVE and v.reason == "only 2 paired seeds (need 3)"
    v = C.c1_rto_vs_sparse([0.10, 0.12, 0.11], KL3, BADG)
    assert v.verdict == INCONCLUSIVE and v.reason == "gate failed: bad gate"


def test_c1_amended_pass_records_the_original_verdict():
    orig = C.c1_rto_vs_sparse([-0.01, 0.02, 0.01], KL3, GOOD)
    assert orig.verdict == FAIL
    v = C.c1_amended([0.05, 0.06, 0.07], [-0.01, 0.02, 0.01], orig, GOOD, [[1, 2]] * 3)
    assert v.verdict == PASS and v.amended_from.verdict == FAIL
    assert v.amended_from.criterion == C.ORIGINAL["C1"] and "final policies" in v.amended_from.reason


def test_c1_amended_fails_on_the_matched_kl_guard_only():
    orig = C.c1_rto_vs_sparse([-0.1, -0.11, -0.12], KL3, GOOD)
    v = C.c1_amended([0.05, 0.06, 0.07], [-0.1, -0.11, -0.12], orig, GOOD)
    assert v.verdict == FAIL and failed(v) == ["guard: not worse at matched KL (mean + 2 SE > 0)"]


def test_c1_amended_fails_on_a_negative_final_seed_and_is_inconclusive_on_gates_or_seeds():
    orig = C.c1_rto_vs_sparse([0.1, 0.1, 0.1], KL3, GOOD)
    v = C.c1_amended([1.0, 1.0, 1.0, 1.0, -1e-4], [0.1] * 5, orig, GOOD)     # mean 0.8 > 2 SE 0.4
    assert v.verdict == FAIL and failed(v) == ["final: > 0 in every seed"]
    v = C.c1_amended([0.05, 0.06, 0.07], [0.1, 0.1, 0.1], orig, BADG)
    assert v.verdict == INCONCLUSIVE and v.amended_from.verdict == PASS
    v = C.c1_amended([0.05, 0.06], [0.1, 0.1], orig, GOOD)
    assert v.verdict == INCONCLUSIVE and v.reason.startswith("only 2")


# --- C2 ------------------------------------------------------------------------------------------------------------
FIN, REF = [0.3, 0.31, 0.32], 0.1


def test_c2_pass_and_fail_branches():
    assert C.c2_rto_vs_dpo([0.05, 0.06, 0.07], KL3, FIN, REF, GOOD).verdict == PASS
    v = C.c2_rto_vs_dpo([0.05, 0.06, 0.07], KL3, [0.3, 0.05, 0.32], REF, GOOD)
    assert v.verdict == FAIL and failed(v) == ["RTO > pi_ref in every seed"]
    v = C.c2_rto_vs_dpo([0.05, -0.01, 0.07], KL3, FIN, REF, GOOD)
    assert v.verdict == FAIL and "RTO - DPO > 0 in every seed" in failed(v)


def test_c2_inconclusive_branches():
    assert C.c2_rto_vs_dpo([0.05, 0.06], KL3[:2], FIN[:2], REF, GOOD).verdict == INCONCLUSIVE
    assert C.c2_rto_vs_dpo([0.05, 0.06, 0.07], KL3, FIN, REF, BADG).verdict == INCONCLUSIVE


def test_c2_amended_branches():
    orig = C.c2_rto_vs_dpo([-0.05, 0.06, 0.07], KL3, FIN, REF, GOOD)
    v = C.c2_amended([0.2, 0.21, 0.22], [0.05, 0.06, 0.07], FIN, REF, orig, GOOD)
    assert v.verdict == PASS and v.amended_from.verdict == FAIL
    v = C.c2_amended([0.2, 0.21, 0.22], [0.05, 0.06, 0.07], [0.3, 0.0, 0.3], REF, orig, GOOD)
    assert v.verdict == FAIL and failed(v) == ["RTO > pi_ref in every seed"]
    v = C.c2_amended([0.2, 0.21, 0.22], [-0.3, -0.31, -0.32], FIN, REF, orig, GOOD)
    assert v.verdict == FAIL and failed(v) == ["guard: not worse at matched KL (mean + 2 SE > 0)"]
    assert C.c2_amended([0.2, 0.21, 0.22], [0.05, 0.06, 0.07], FIN, REF, orig, BADG).verdict == INCONCLUSIVE


# --- C3 ------------------------------------------------------------------------------------------------------------
def test_c3_pass_at_the_boundary_and_stretch_reported():
    v = C.c3_sample_efficiency([0.5, 0.1, 0.125], [1, 1, 1], GOOD)
    assert v.verdict == PASS
    assert v.measured["reaches within the paper's 1/8 (0.125) in every seed"] is False


def test_c3_fail_when_a_seed_never_reaches_or_just_above_half():
    assert C.c3_sample_efficiency([0.2, math.inf, 0.3], [1, 0, 1], GOOD).verdict == FAIL
    assert C.c3_sample_efficiency([0.2, 0.5001, 0.3], [1, 1, 1], GOOD).verdict == FAIL


def test_c3_reported_numbers_kept_and_inconclusive_branches():
    v = C.c3_sample_efficiency([0.2], [1], GOOD, {"x": 1.5})
    assert v.measured["x"] == 1.5
    assert C.c3_sample_efficiency([], [], GOOD).verdict == INCONCLUSIVE
    v = C.c3_sample_efficiency([0.2, 0.2, 0.2], [1, 1, 1], GOOD + [C.density_gate("rollouts", [0.6])])
    assert v.verdict == INCONCLUSIVE and "arm F" in v.reason


# --- C4 ------------------------------------------------------------------------------------------------------------
def test_c4_original_branches():
    assert C.c4_density([0.01, 0.0], [0, 1], [1, 1], GOOD).verdict == PASS
    assert C.c4_density([0.0], [0], [1], GOOD).verdict == FAIL
    assert C.c4_density([], [], [], GOOD).verdict == INCONCLUSIVE
    assert C.c4_density([0.1], [0], [1], BADG).verdict == INCONCLUSIVE


def test_c4_amended_branches():
    orig = C.c4_density([-0.01], [0], [1], GOOD)
    v = C.c4_amended([0.02, 0.01], [0.0, 0.01], [0, 1], orig, GOOD)
    assert v.verdict == PASS and v.amended_from.verdict == FAIL and "C - D" in v.amended_from.reason
    v = C.c4_amended([-0.02, 0.01], [0.0, 0.01], [0, 1], orig, GOOD)
    assert v.verdict == FAIL and failed(v) == ["final: C - D mean > 0"]
    v = C.c4_amended([0.02, 0.01], [-0.05, -0.051], [0, 1], orig, GOOD)
    assert v.verdict == FAIL and failed(v) == ["guard: not worse at matched KL (mean + 2 SE > 0)"]
    v = C.c4_amended([0.02], [-0.01], [0], orig, GOOD)          # one seed: the guard needs mean >= 0
    assert v.verdict == FAIL
    assert C.c4_amended([0.02], [0.0], [0], orig, BADG).verdict == INCONCLUSIVE
    v = C.c4_amended([], [], [], orig, GOOD)
    assert v.verdict == INCONCLUSIVE and v.amended_from is not None


# --- C5 ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("d, side", [(0.01, "ahead of"), (0.0, "level with"), (-0.01, "behind")])
def test_c5_is_descriptive_without_gates(d, side):
    v = C.c5_weak_rm([d], [0], [1.0], 0.6, 0.8, final_diffs=[0.02])
    assert v.verdict == INCONCLUSIVE and side in v.reason and not v.gates
    assert v.measured["RTO - PPO-sparse, 1/4 pairs, final policies"] == 0.02


def test_c5_inconclusive_when_not_run():
    v = C.c5_weak_rm([], [], [], None, 0.8)
    assert v.verdict == INCONCLUSIVE and v.reason == "1/4-pairs runs not run"


def test_guard_uses_two_se():
    assert C._guard(np.array([-0.01, 0.03, -0.01]))            # mean 0.0033, SE 0.0133: not significantly worse
    assert not C._guard(np.array([-0.1, -0.1001, -0.1002]))
