"""PIE's own checks of its smoke run (called by tests/test_smoke.py)."""
from __future__ import annotations

from tasks.common.runner import run_stage
from tasks.pie.edits import TASKS


def check(root, out) -> None:
    ev, bm = out["evaluate"], out["benchmark"]
    for t in TASKS:
        assert ev[f"{t}_agree_full"] == 100.0 and ev[f"{t}_agree_suffix"] == 100.0
        assert ev[f"{t}_kl_suffix"] < 1e-6 and ev[f"{t}_cos_pie_L1"] > 1 - 1e-6
        assert 0 < ev[f"{t}_flops_ratio_pie_full"] < 1
    for n in (256, 512):
        assert 0 < bm[f"flops_ratio_pie_full_n{n}"] < 0.2 and bm[f"ms_ratio_pie_suffix_n{n}"] > 0
    figs = {p.name for p in (root / "reports/pie/figures").iterdir()}
    assert figs == {"accuracy.png", "cosine_per_layer.png", "cost_vs_length.png"}
    assert (root / "reports/pie/plots/train/loss.csv").exists()
    again = run_stage("pie", "evaluate", root=root, track=False)   # deterministic for a seed (timings aside)
    assert {k: v for k, v in again.items() if "_ms_" not in k} == {k: v for k, v in ev.items() if "_ms_" not in k}
