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
