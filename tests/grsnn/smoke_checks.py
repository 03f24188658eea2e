"""GRSNN's own checks of its smoke run (called by tests/test_smoke.py): behaviour, never that a claim PASSes."""
from __future__ import annotations

import json
import math

from tasks.common.runner import run_stage
from tasks.grsnn import TRAIN_ITEMS


def _finite(x) -> bool:
    if isinstance(x, dict):
        return all(_finite(v) for k, v in x.items() if k in ("value", "lo", "hi") or not isinstance(v, dict))
    return not isinstance(x, float) or math.isfinite(x)


def check(root, out) -> None:
    assert out["prepare"]["n_train"] + out["prepare"]["n_valid"] + out["prepare"]["n_test"] == out["prepare"]["n_derived"]
    assert out["prepare"]["n_edges"] == 2 * out["prepare"]["n_base_facts"]
    assert len(TRAIN_ITEMS) == sum(k.startswith("train-") for k in out)
    for it in TRAIN_ITEMS:
        assert 0.0 < out["evaluate"][f"mrr_{it}"] <= 1.0
    assert out["analyse"]["params_ratio_k1"] > 1.0
    claims = json.loads((root / "reports/grsnn/claims.json").read_text())
    assert [c["id"] for c in claims["claims"]] == ["G1", "G2", "G3", "G4", "G5", "G6"]
    assert all(c["verdict"] == "INCONCLUSIVE" for c in claims["claims"])       # smoke verdicts are not evidence
    assert all(_finite(v) for c in claims["claims"] if c["id"] != "G6" for v in c["measured"].values()
               if isinstance(v, (float, dict)))
    figs = {p.name for p in (root / "reports/grsnn/figures").iterdir()}
    assert figs == {"g1_mrr_by_arm.png", "g2_competitive.png", "g3_delays.png", "g4_energy.png", "g5_params.png"}
    # deterministic for a seed: the same stage again gives the same metrics
    assert run_stage("grsnn", "train", "nodelay-s0", root=root, track=False) == out["train-nodelay-s0"]
