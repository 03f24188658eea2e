"""RTO's own checks of its smoke run (called by tests/test_smoke.py)."""
from __future__ import annotations

import json

import pytest

from tasks.rto import PPO_ITEMS


def check(root, out) -> None:
    assert {f"ppo-{i}" for i in PPO_ITEMS} <= set(out)
    claims = json.loads((root / "reports/rto/claims.json").read_text())
    assert all(c["measured"] for c in claims["claims"])
    for f in ("reward_vs_rollouts.png", "reward_vs_kl.png", "token_reward_heatmap.png"):
        assert (root / "reports/rto/figures" / f).stat().st_size > 1000
    res = json.loads((root / "outputs/rto/evaluate/results.json").read_text())
    assert res["policies"]["ref"]["kl"] == pytest.approx(0.0, abs=1e-6)
    assert all(p["kl"] >= -1e-6 for p in res["policies"].values())
    # paired seeds: every arm of a seed starts from the same policy, measured on the same prompts and samples
    starts = {it: res["curves"][it]["true"][0] for it in PPO_ITEMS}
    assert len({v for it, v in starts.items() if it.seed == 0}) == 1
    assert out["preferences"]["label_agreement"] > 0.6
    # calibration ran before PPO and PPO used its beta1; the BT reference is reported beside the RM
    cal = json.loads((root / "outputs/rto/calibrate/calibration.json").read_text())
    assert cal["full"]["ratio_unclipped"] == pytest.approx(0.5, rel=1e-4)
    assert out["ppo-rto-s0"]["beta1"] == pytest.approx(cal["full"]["beta1"])
    assert 0.0 <= out["reward_model-full"]["bt_table_acc_true_order"] <= 1.0
    gates = {g["name"] for c in claims["claims"] for g in c["gates"]}
    assert any(n.startswith("arm F (true reward)") for n in gates)
    assert {c["id"] for c in claims["claims"] if c.get("amended_from")} == {"C1", "C2", "C4"}
