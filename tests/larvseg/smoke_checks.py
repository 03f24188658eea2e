"""LarvSeg's own checks of its smoke run (called by tests/test_smoke.py): behaviour, never that a claim PASSes."""
from __future__ import annotations

import json
import math

from tasks.common.runner import run_stage
from tasks.larvseg import TRAIN_ITEMS


def _finite(x) -> bool:
    if isinstance(x, dict):
        return all(_finite(v) for k, v in x.items() if k in ("value", "lo", "hi"))
    return not isinstance(x, float) or math.isfinite(x)


def check(root, out) -> None:
    assert out["prepare"]["n_seg"] == 256 and 0.4 < out["prepare"]["cls_context_ratio"] < 0.95
    assert len(TRAIN_ITEMS) == sum(k.startswith("train-") for k in out)
    for it in TRAIN_ITEMS:
        assert 0.0 <= out["evaluate"][f"test_base_{it}"] <= 100.0
        assert math.isfinite(out[f"train-{it}"]["final_loss"])
    assert 0.0 <= out["train-larvseg-s0"]["bank_purity_final"] <= 1.0
    claims = json.loads((root / "reports/larvseg/claims.json").read_text())
    assert [c["id"] for c in claims["claims"]] == ["C1", "C2", "C3", "L4"]
    assert all(c["verdict"] == "INCONCLUSIVE" for c in claims["claims"])       # smoke verdicts are not evidence
    assert all(_finite(v) for c in claims["claims"] for v in c["measured"].values() if isinstance(v, (float, dict)))
    figs = {p.name for p in (root / "reports/larvseg/figures").iterdir()}
    assert figs == {"c1_miou_by_method.png", "c2_paired_seeds.png", "c3_propagation.png", "l4_attention_auc.png"}
    # deterministic for a seed: the same stage again gives the same metrics
    assert run_stage("larvseg", "train", "larvseg-s0", root=root, track=False) == out["train-larvseg-s0"]
