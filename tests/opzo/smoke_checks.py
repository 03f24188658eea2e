"""OPZO's own checks of its smoke run (called by tests/test_smoke.py)."""
from __future__ import annotations

import json

from tasks.common.runner import run_stage
from tasks.opzo import CONV_ITEMS, TRAIN_ITEMS


def check(root, out) -> None:
    assert out["prepare"]["n_test"] == 447 and out["prepare"]["n_train"] == 1150
    tr = out["train-opzo-s0"]
    assert tr["d1_forward_calls_per_batch"] == tr["d1_T"] and tr["d2_forward_calls_per_batch"] == tr["d2_T"]
    assert tr["d1_layer_backward_per_batch"] == 0 and out["train-bp-s0"]["d1_layer_backward_per_batch"] > 0
    assert "d2_T" not in out["train-opzo_rad-s0"]                               # ablations: D1 only
    assert "d2_T" in out["train-opzo_nomom-s1"] and "d2_T" in out["train-readout-s0"]   # C5 on D2, C2 headroom
    assert 0.0 <= out["evaluate"]["acc_opzo_d1_mean"] <= 1.0
    assert len(TRAIN_ITEMS) == sum(k.startswith("train-") for k in out)
    assert len(CONV_ITEMS) == sum(k.startswith("train_conv-") for k in out)
    assert out["train_conv-opzo-s0"]["d1_forward_calls_per_batch"] == 6
    assert 0.0 <= out["evaluate"]["acc_conv_opzo_d1_mean"] <= 1.0
    claims = json.loads((root / "reports/opzo/claims.json").read_text())
    c3 = next(c for c in claims["claims"] if c["id"] == "C3")
    assert "d1 conv OPZO - DFA (points)" in c3["measured"]                    # the conv arm is judged
    assert [g["name"] for g in c3["gates"]] == ["d1 conv BP-online accuracy (points)"]
    figs = {p.name for p in (root / "reports/opzo/figures").iterdir()}
    assert figs == {"accuracy.png", "accuracy_vs_epochs.png", "alignment_vs_samples.png", "variance_vs_samples.png"}
    assert (root / "reports/opzo/plots/train-opzo-s0/d1_val_acc.csv").exists()
    # deterministic for a seed: the same stage again gives the same metrics (timings live in history.json)
    assert run_stage("opzo", "train", "opzo-s0", root=root, track=False) == tr
