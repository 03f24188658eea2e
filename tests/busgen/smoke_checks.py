"""BUSGen's own checks of its smoke run (called by tests/test_smoke.py): behaviour, never that a claim PASSes."""
from __future__ import annotations

import json
import math


def _finite(x) -> bool:
    if isinstance(x, dict):
        return all(_finite(v) for k, v in x.items() if k in ("value", "lo", "hi"))
    return not isinstance(x, float) or math.isfinite(x)


def check(root, out) -> None:
    assert out["adapt_gen"]["base_max_abs_change"] == 0.0                # the pretrained base stayed frozen
    assert 0 < out["adapt_gen"]["lora_params"] < out["pretrain_gen"]["params"]
    for k in ("task", "task_a", "scratch", "scaling"):
        assert out["generate"][f"n_{k}"] > 0 and 0 < out["generate"][f"mean_{k}"] < 255
    for k, v in out["downstream-task"].items():
        if k.startswith("auc_"):
            assert 0.0 <= v <= 1.0, k
    assert 0 <= out["privacy"]["mia_auc_control_pixel"] <= 1
    claims = json.loads((root / "reports/busgen/claims.json").read_text())
    assert [c["id"] for c in claims["claims"]] == ["P1a", "P1b", "P2", "P3", "P4", "P5"]
    assert all(c["verdict"] == "INCONCLUSIVE" for c in claims["claims"])       # smoke verdicts are not evidence
    assert all(_finite(v) for c in claims["claims"] for v in c["measured"].values())
    assert all(c["gates"] for c in claims["claims"])
    figs = {p.name for p in (root / "reports/busgen/figures").iterdir()}
    assert figs == {"p1_p2_auc.png", "p3_scaling.png", "p4_devices.png", "p5_privacy.png", "samples.png"}
