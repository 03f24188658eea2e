"""Unit tests of the RTO judges (tasks/rto/criteria.py; sheet shared/papers/rto.md, claims C1-C5).

Synthetic per-seed numbers drive every branch of each judge: PASS, FAIL (naming the sub-point that failed),
INCONCLUSIVE for too few seeds / missing arms, and INCONCLUSIVE for each failed validity gate. No I/O.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from tasks.common.claims import FAIL, INCONCLUSIVE, PASS
from tasks.rto import criteria as C

OK, BAD = 0.7, 0.5                                  # held-out accuracies either side of the gate
RM_GATE = "reward_model (full pairs) held-out accuracy vs true order"
DPO_GATE = "dpo (full pairs) held-out accuracy vs true order"
KL3 = [0.5, 0.6, 0.7]


def failed(v) -> list[str]:
    return [k for k, ok in v.checks.items() if not ok]


def test_pre_registered_constants_match_the_sheet():
    assert (C.C1_MIN_SEEDS, C.C1_SE_FACTOR, C.C2_MIN_SEEDS, C.C2_SE_FACTOR) == (3, 2.0, 3, 2.0)
    assert (C.C3_MAX_FRACTION, C.C3_STRETCH_FRACTION, C.C4_MIN_DIFF, C.GATE_MIN_ACC) == (0.5, 0.125, 0.0, 0.55)


@pytest.mark.parametrize("acc, passed", [(0.55, True), (0.5499, False), (float("nan"), False), (None, False)])
def test_accuracy_gate_boundary(acc, passed):
    g = C.acc_gate("dpo", acc)
    assert (g.name, g.passed, g.threshold) == (DPO_GATE, passed, ">= 0.55")


# --- C1: RTO vs PPO-sparse at matched KL -----------------------------------------------------------------------
def test_c1_pass():
    v = C.c1_rto_vs_sparse([0.10, 0.12, 0.11], KL3, OK)
    assert v.verdict == PASS and not failed(v)
    assert [(g.name, g.passed, g.measured) for g in v.gates] == [(RM_GATE, True, OK)]
    assert v.measured["per seed"] == [0.1, 0.12, 0.11]


def test_c1_fail_on_mean_vs_2se_only():
    v = C.c1_rto_vs_sparse([0.01, 1.0, 0.02], KL3, OK)    # all > 0; mean 0.34 < 2 SE 0.66
    assert v.verdict == FAIL and failed(v) == ["mean > 2 SE"]


def test_c1_fail_on_one_negative_seed_only():
    v = C.c1_rto_vs_sparse([1.0, 1.0, 1.0, 1.0, -1e-4], KL3 + [0.8, 0.9], OK)   # mean 0.8 > 2 SE 0.4
    assert v.verdict == FAIL and failed(v) == ["> 0 in every seed"]


def test_c1_nan_difference_fails():
    v = C.c1_rto_vs_sparse([0.1, 0.1, float("nan")], KL3, OK)
    assert v.verdict == FAIL and failed(v) == ["> 0 in every seed", "mean > 2 SE"]


def test_c1_inconclusive_with_too_few_seeds_records_the_gate():
    v = C.c1_rto_vs_sparse([0.1, 0.2], KL3[:2], BAD)
    assert v.verdict == INCONCLUSIVE and v.reason == "only 2 paired seeds (need 3)"
    assert [(g.name, g.passed) for g in v.gates] == [(RM_GATE, False)]


def test_c1_inconclusive_when_rm_gate_fails():
    v = C.c1_rto_vs_sparse([0.10, 0.12, 0.11], KL3, BAD)
    assert v.verdict == INCONCLUSIVE and v.reason == f"gate failed: {RM_GATE}"
    assert [(g.name, g.passed, g.measured) for g in v.gates] == [(RM_GATE, False, BAD)]


# --- C2: RTO vs DPO at matched KL, and RTO > pi_ref ------------------------------------------------------------
FIN, REF = [0.3, 0.31, 0.32], 0.1


def test_c2_pass():
    v = C.c2_rto_vs_dpo([0.10, 0.12, 0.11], KL3, FIN, REF, OK)
    assert v.verdict == PASS and not failed(v)
    assert [(g.name, g.passed) for g in v.gates] == [(DPO_GATE, True)]
    assert v.measured["RTO final true reward - pi_ref (per seed)"] == [0.2, 0.21, 0.22]


def test_c2_fail_on_pi_ref_only():
    v = C.c2_rto_vs_dpo([0.10, 0.12, 0.11], KL3, [0.3, 0.1, 0.32], REF, OK)   # equal to pi_ref is not above
    assert v.verdict == FAIL and failed(v) == ["RTO > pi_ref in every seed"]


def test_c2_fail_on_matched_kl_difference():
    v = C.c2_rto_vs_dpo([0.10, -0.12, 0.11], KL3, FIN, REF, OK)
    assert v.verdict == FAIL and failed(v) == ["RTO - DPO > 0 in every seed", "mean > 2 SE"]


def test_c2_inconclusive_with_too_few_seeds():
    v = C.c2_rto_vs_dpo([0.1], [0.5], [0.3], REF, OK)
    assert v.verdict == INCONCLUSIVE and v.reason == "only 1 RTO seeds (need 3)"


def test_c2_inconclusive_when_dpo_gate_fails():
    v = C.c2_rto_vs_dpo([0.10, 0.12, 0.11], KL3, FIN, REF, 0.54)
    assert v.verdict == INCONCLUSIVE and v.reason == f"gate failed: {DPO_GATE}"
    assert [(g.name, g.passed, g.measured) for g in v.gates] == [(DPO_GATE, False, 0.54)]


# --- C3: rollouts to reach PPO-sparse's final reward -----------------------------------------------------------
STRETCH = "reaches within the paper's 1/8 (0.125) in every seed"


def test_c3_pass_at_the_boundary_and_stretch_reported():
    v = C.c3_sample_efficiency([0.3, 0.5, 0.1], [0.9, 0.8, 1.0], OK)
    assert v.verdict == PASS and list(v.checks) == ["fraction <= 0.5 in every seed"]
    assert v.measured[STRETCH] is False
    assert C.c3_sample_efficiency([0.1, 0.125], [1.0, 1.0], OK).measured[STRETCH] is True


def test_c3_fail_when_a_seed_never_reaches():
    v = C.c3_sample_efficiency([0.3, math.inf, 0.1], [0.9, 0.2, 1.0], OK)
    assert v.verdict == FAIL and failed(v) == ["fraction <= 0.5 in every seed"]


def test_c3_fail_just_above_half():
    assert C.c3_sample_efficiency([0.5001], [0.5], OK).verdict == FAIL


def test_c3_reported_numbers_are_kept_not_judged():
    rep = {"data scaling (reported)": -0.5}
    v = C.c3_sample_efficiency([0.2], [1.0], OK, rep)
    assert v.verdict == PASS and v.measured["data scaling (reported)"] == -0.5


def test_c3_inconclusive_when_runs_missing():
    v = C.c3_sample_efficiency([], [], OK)
    assert v.verdict == INCONCLUSIVE and v.reason == "RTO / PPO-sparse runs missing"


def test_c3_inconclusive_when_rm_gate_fails():
    v = C.c3_sample_efficiency([0.2, 0.3, 0.1], [1.0, 1.0, 1.0], BAD)
    assert v.verdict == INCONCLUSIVE and v.reason == f"gate failed: {RM_GATE}"
    assert [(g.name, g.passed) for g in v.gates] == [(RM_GATE, False)]


# --- C4: density (B - D) ---------------------------------------------------------------------------------------
def test_c4_pass_and_dense_only_reported():
    v = C.c4_density(np.array([0.05]), [0], [0.4], OK, dense_only_diffs=np.array([-0.2]))
    assert v.verdict == PASS and list(v.checks) == ["B - D > 0"]
    assert v.measured["C - D at matched KL (density only, reported)"] == pytest.approx(-0.2)
    assert [(g.name, g.passed) for g in v.gates] == [(DPO_GATE, True)]


def test_c4_fail_on_zero_mean_and_no_dense_only_entry():
    v = C.c4_density([0.1, -0.1], [0, 1], [0.4, 0.5], OK, dense_only_diffs=np.array([]))
    assert v.verdict == FAIL and failed(v) == ["B - D > 0"]
    assert "C - D at matched KL (density only, reported)" not in v.measured


def test_c4_inconclusive_when_arm_d_missing():
    v = C.c4_density(np.array([]), [], [], OK)
    assert v.verdict == INCONCLUSIVE and v.reason == "arm D (dpo_end) or paired RTO seed missing"


def test_c4_inconclusive_when_dpo_gate_fails():
    v = C.c4_density([0.05], [0], [0.4], BAD)
    assert v.verdict == INCONCLUSIVE and v.reason == f"gate failed: {DPO_GATE}"
    assert [(g.name, g.passed) for g in v.gates] == [(DPO_GATE, False)]


# --- C5: weaker RM, descriptive ---------------------------------------------------------------------------------
@pytest.mark.parametrize("d, side", [([0.02], "ahead of"), ([0.0], "level with"), ([-0.03], "behind")])
def test_c5_is_descriptive_without_gates(d, side):
    v = C.c5_weak_rm(d, [0], [0.3], 0.6, 0.7)
    assert v.verdict == INCONCLUSIVE and v.gates == [] and v.checks == {}
    assert v.reason == (f"descriptive only (no pre-registered criterion; 1 seed): RTO is {side} PPO-sparse by "
                        f"{abs(d[0]):.4f} true reward at matched KL with the weaker RM")
    assert v.measured["weak RM held-out accuracy"] == 0.6


def test_c5_inconclusive_when_not_run():
    v = C.c5_weak_rm([], [], [], 0.6, 0.7)
    assert v.verdict == INCONCLUSIVE and v.reason == "1/4-pairs runs not run" and v.measured == {}
