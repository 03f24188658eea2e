"""Precision's own checks of its smoke run (called by tests/test_smoke.py)."""
from __future__ import annotations

import numpy as np

KS = (2, 3, 4, 6, 8, 10, 12)     # the smoke profile's k grid (the default one)


def check(root, out) -> None:
    assert out["train-fq8"] == {"trained": 0} and out["train-fp32"]["trained"] == 1
    assert (root / "outputs/precision/train-bf16_pure/skipped.json").exists()
    assert (root / "reports/precision/plots/train-fq8/skipped.csv").read_text().splitlines() == ["step,skipped", "0,1"]
    assert {"m_max_fp32_b8", "slope_low", "add_cla_min_acc"} <= out["mechanism"].keys()
    assert out["mechanism"]["add_cla_min_acc"] == 1.0
    assert {f"acc_{a}_k{k}" for a in ("fp32", "fq4") for k in KS} == out["evaluate"].keys()
    assert all(0 <= v <= 1 for v in out["evaluate"].values())
    with np.load(root / "outputs/precision/evaluate/correct.npz") as z:
        assert z["fq4_s0_k8"].shape == (200,) and z["fq4_s0_k8"].dtype == bool
    assert {p.name for p in (root / "reports/precision/figures").iterdir()} >= {
        "m_max_vs_bits.png", "accuracy_and_gap_vs_k.png", "ptq_vs_k.png"}
