"""Every branch and gate of GDB's judges (criteria.py), on synthetic numbers."""
import numpy as np

from tasks.gdb import criteria as K

ID = 0.40   # identity C-RMSD


def test_choose_sigma_and_paired_gap():
    assert K.choose_sigma({"b05": 0.3, "b15": 0.2}) == "b15"
    assert K.choose_sigma({"b15": 0.2, "b05": 0.2}) == "b05"          # ties: first in sorted order
    gap, se = K.paired_gap(np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 1.0]))
    assert gap == 4 / 3 and se > 0


def test_floor_gate():
    assert K.floor_gate("x", 0.2, ID).passed
    assert not K.floor_gate("x", 0.4, ID).passed and not K.floor_gate("x", None, ID).passed
    assert not K.floor_gate("x", float("nan"), ID).passed


def test_g1_branches():
    v = K.g1_bridge_vs_direct([0.1, 0.11, 0.12], [0.2, 0.2, 0.2], [0.8, 0.8, 0.8], [0.6, 0.6, 0.6], 0.09, 0.01, ID)
    assert v.verdict == "PASS" and v.gates_pass
    v = K.g1_bridge_vs_direct([0.1, 0.25, 0.12], [0.2, 0.2, 0.2], [0.8, 0.8, 0.8], [0.6, 0.6, 0.6], 0.05, 0.01, ID)
    assert v.verdict == "FAIL" and not v.checks["GDB+traj C-RMSD < direct in every seed"]
    v = K.g1_bridge_vs_direct([0.1, 0.11, 0.12], [0.2, 0.2, 0.2], [0.5, 0.8, 0.8], [0.6, 0.6, 0.6], 0.09, 0.01, ID)
    assert v.verdict == "FAIL" and not v.checks["GDB+traj ADwT > direct in every seed"]
    v = K.g1_bridge_vs_direct([0.1, 0.11, 0.12], [0.2, 0.2, 0.2], [0.8, 0.8, 0.8], [0.6, 0.6, 0.6], 0.09, 0.05, ID)
    assert v.verdict == "FAIL" and not v.checks["mean C-RMSD gap > 2 SE"]
    v = K.g1_bridge_vs_direct([0.1, 0.11, 0.12], [0.5, 0.5, 0.5], [0.8, 0.8, 0.8], [0.6, 0.6, 0.6], 0.39, 0.01, ID)
    assert v.verdict == "INCONCLUSIVE" and not v.gates_pass           # direct below the identity floor
    v = K.g1_bridge_vs_direct([0.1], [0.2], [0.8], [0.6], 0.1, 0.01, ID)
    assert v.verdict == "INCONCLUSIVE" and "3 seeds" in v.reason


def test_g2_branches():
    assert K.g2_trajectory(0.2, 0.3, 0.6, 0.5, ID).verdict == "PASS"
    v = K.g2_trajectory(0.2, 0.3, 0.4, 0.5, ID)
    assert v.verdict == "FAIL" and not v.checks["GDB+traj ADwT >= GDB"]
    assert K.g2_trajectory(0.35, 0.3, 0.6, 0.5, ID).verdict == "FAIL"
    assert K.g2_trajectory(0.2, 0.45, 0.6, 0.5, ID).verdict == "INCONCLUSIVE"


def test_g3_branches():
    assert K.g3_bridge_prior(0.2, 0.3, ID).verdict == "PASS"
    assert K.g3_bridge_prior(0.3, 0.2, ID).verdict == "FAIL"
    assert K.g3_bridge_prior(0.2, 0.41, ID).verdict == "INCONCLUSIVE"


def test_g4_branches():
    assert K.g4_symmetry({"a/net": 1e-7, "a/sampler": 5e-6}).verdict == "PASS"
    v = K.g4_symmetry({"a/net": 1e-7, "b/sampler": 2e-4})
    assert v.verdict == "FAIL" and v.measured["worst"] == "b/sampler"
    assert K.g4_symmetry({}).verdict == "INCONCLUSIVE"


def test_g5_branches():
    ok = dict(var_ratio=1.0, ed_gdb=0.01, ed_reg=0.05, ed_reg_noise=0.03, true_std=0.03, gdb_crmsd=0.2, identity=ID)
    assert K.g5_coupling(**ok).verdict == "PASS"
    assert K.g5_coupling(**{**ok, "var_ratio": 0.5}).verdict == "FAIL"
    assert K.g5_coupling(**{**ok, "var_ratio": 1.4}).verdict == "FAIL"
    v = K.g5_coupling(**{**ok, "ed_gdb": 0.04})
    assert v.verdict == "FAIL" and v.checks["GDB energy distance < regression"]
    assert not v.checks["GDB energy distance < regression + matched noise"]
    assert K.g5_coupling(**{**ok, "true_std": 0.005}).verdict == "INCONCLUSIVE"    # degenerate targets
    assert K.g5_coupling(**{**ok, "gdb_crmsd": 0.5}).verdict == "INCONCLUSIVE"     # GDB below the floor


def test_smoke_verdicts_are_inconclusive_but_g4_is_judged():
    v = K.at_scale(K.g2_trajectory(0.2, 0.3, 0.6, 0.5, ID), "smoke")
    assert v.verdict == "INCONCLUSIVE" and "computed PASS" in v.reason
    assert K.at_scale(K.g4_symmetry({"a/net": 1e-7}), "smoke").verdict == "PASS"
    assert K.at_scale(K.g3_bridge_prior(0.3, 0.2, ID), "default").verdict == "FAIL"
