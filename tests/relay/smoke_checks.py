"""RELAY's own checks of its smoke run (called by tests/test_smoke.py): behaviour, never that a claim PASSes."""
from __future__ import annotations

import json
import math


def _finite(x) -> bool:
    if isinstance(x, dict):
        return all(_finite(v) for k, v in x.items() if k in ("value", "lo", "hi"))
    return not isinstance(x, float) or math.isfinite(x)


def check(root, out) -> None:
    prep = out["prepare"]
    assert prep["n_train"] > 0 and prep["n_stage2"] > 0 and prep["n_selfchain"] > 0
    assert out["generate_chains"]["n_chains"] == prep["n_stage2"]
    ev = out["evaluate"]
    for arm in ("ar", "aligned", "vanilla", "relay", "selfchain"):
        assert 0.0 <= ev[f"{arm}_id_acc"] <= 100.0 and 0.0 <= ev[f"{arm}_ood_acc"] <= 100.0
    claims = json.loads((root / "reports/relay/claims.json").read_text())
    assert [c["id"] for c in claims["claims"]] == ["C1", "C2", "C3", "C4", "C5", "C6"]
    assert all(c["verdict"] == "INCONCLUSIVE" for c in claims["claims"])       # smoke verdicts are not evidence
    assert all(_finite(v) for c in claims["claims"] for v in c["measured"].values() if isinstance(v, (float, dict)))
    figs = {p.name for p in (root / "reports/relay/figures").iterdir()}
    assert figs == {"accuracy_by_length.png", "chain_token_accuracy.png", "hit_matrices.png"}
