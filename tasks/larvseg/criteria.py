"""Pre-registered criteria of LarvSeg's claims C1-C3 and the L4 diagnostic (sheet shared/papers/larvseg.md,
"Claims and pass criteria"), as pure functions from measured numbers to a `Verdict`.

Fixed as code before any comparison arm ran; nothing here reads a result to choose a threshold. mIoU values are
dataset-level (mmseg) percentages on D_test unless named D_val.
Training floor (every claim): seg_only base mIoU on D_test >= 50; below it the claims are INCONCLUSIVE.
C2 also needs headroom: the oracle - baseline novel-mIoU gap on D_val >= 15 (else INCONCLUSIVE).
`smoke` verdicts are computed and shown, then reported INCONCLUSIVE (sheet, Verdict rules).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tasks.common.claims import INCONCLUSIVE, Verdict, at_least, inconclusive, judge

FLOOR_BASE = 50.0            # seg_only base mIoU on D_test
C1_MIN_GAIN = 20.0           # novel mIoU(baseline, seed mean) - novel mIoU(seg_only)
C2_MIN_GAIN = 2.0            # mean over paired seeds of novel mIoU(larvseg) - novel mIoU(baseline)
C2_MIN_POS_SEEDS = 2         # ... positive in >= 2 of 3 seeds
C2_MAX_BASE_DROP = 1.0       # base mIoU(larvseg) not lower than baseline by more than 1.0 (seed means)
HEADROOM_MIN = 15.0          # oracle - baseline novel mIoU on D_val
C3_RATIO = 0.8               # propagation mIoU_novel >= 0.8 x mIoU_base (seg_only)
C3_MARGIN = 5.0              # ... and >= random-init propagation mIoU_novel + 5
L4_MIN_AUC = 0.8             # expected per-image attention ROC-AUC


def floor_gate(seg_only_base: float | None):
    return at_least("seg_only base mIoU on D_test", seg_only_base, FLOOR_BASE)


def c1(seg_only_novel: float | None, baseline_novel: Sequence[float], seg_only_base: float | None,
       extra: dict | None = None) -> Verdict:
    gate = floor_gate(seg_only_base)
    if seg_only_novel is None or not len(baseline_novel):
        return inconclusive("C1", "an arm is missing (seg_only or baseline)", dict(extra or {}), [gate])
    gain = float(np.mean(baseline_novel)) - seg_only_novel
    meas = {"novel_gain": gain, "novel_baseline": float(np.mean(baseline_novel)), "novel_seg_only": seg_only_novel,
            **(extra or {})}
    return judge("C1", {f"novel mIoU gain >= {C1_MIN_GAIN:g}": gain >= C1_MIN_GAIN}, meas, [gate])


def c2(larvseg_novel: Sequence[float], baseline_novel: Sequence[float], larvseg_base: Sequence[float],
       baseline_base: Sequence[float], seg_only_base: float | None, headroom_val: float | None,
       extra: dict | None = None) -> Verdict:
    """Per-seed lists, paired by position (same init and data order)."""
    gates = [floor_gate(seg_only_base), at_least("oracle - baseline novel mIoU on D_val", headroom_val, HEADROOM_MIN)]
    n = len(larvseg_novel)
    if n == 0 or n != len(baseline_novel) or n != len(larvseg_base) or n != len(baseline_base):
        return inconclusive("C2", "paired seeds missing (larvseg and baseline need the same seeds)",
                            dict(extra or {}), gates)
    d = np.asarray(larvseg_novel, float) - np.asarray(baseline_novel, float)
    db = float(np.mean(larvseg_base) - np.mean(baseline_base))
    meas = {"novel_gain_mean": float(d.mean()), "novel_gain_per_seed": [float(x) for x in d],
            "base_change": db, **(extra or {})}
    checks = {f"mean novel gain >= +{C2_MIN_GAIN:g}": d.mean() >= C2_MIN_GAIN,
              f"gain positive in >= {C2_MIN_POS_SEEDS} of {n} seeds": int((d > 0).sum()) >= C2_MIN_POS_SEEDS,
              f"base mIoU not lower by more than {C2_MAX_BASE_DROP:g}": db >= -C2_MAX_BASE_DROP}
    return judge("C2", checks, meas, gates)


def c3(prop_novel: float | None, prop_base: float | None, random_novel: float | None,
       seg_only_base: float | None, extra: dict | None = None) -> Verdict:
    gate = floor_gate(seg_only_base)
    if prop_novel is None or prop_base is None or random_novel is None:
        return inconclusive("C3", "propagation not measured (seg_only or the random-init control missing)",
                            dict(extra or {}), [gate])
    meas = {"prop_novel": prop_novel, "prop_base": prop_base, "prop_novel_random_init": random_novel,
            "novel_over_base": prop_novel / prop_base if prop_base > 0 else float("nan"), **(extra or {})}
    checks = {f"novel >= {C3_RATIO:g} x base": prop_novel >= C3_RATIO * prop_base,
              f"novel >= random-init novel + {C3_MARGIN:g}": prop_novel >= random_novel + C3_MARGIN}
    return judge("C3", checks, meas, [gate])


def l4(auc_mean: float | None, seg_only_base: float | None, extra: dict | None = None) -> Verdict:
    """Diagnostic: PASS when the expected concentration (mean per-image AUC >= 0.8) is seen."""
    gate = floor_gate(seg_only_base)
    meas = {"attention_auc": auc_mean, **(extra or {})}
    if auc_mean is None or auc_mean != auc_mean:
        return inconclusive("L4", "no CA attention measured (no larvseg item)", meas, [gate])
    return judge("L4", {f"mean per-image attention AUC >= {L4_MIN_AUC:g}": auc_mean >= L4_MIN_AUC}, meas, [gate])


def at_scale(v: Verdict, profile: str) -> Verdict:
    """smoke: the computed verdict is kept in the reason and reported INCONCLUSIVE."""
    if profile != "smoke" or v.verdict == INCONCLUSIVE:
        return v
    return Verdict(v.id, INCONCLUSIVE, f"smoke profile (computed {v.verdict}: {v.reason})", v.measured, v.checks,
                   v.gates)
