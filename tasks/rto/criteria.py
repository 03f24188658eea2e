"""Pre-registered pass criteria of the RTO paper (sheet shared/papers/rto.md, "Claims and pass criteria"), C1-C5.

Pure judges from measured numbers (per-seed arrays, floats) to a `Verdict`; fixed as code before any result was
seen, nothing here reads a result to choose a threshold. `report.py` computes the numbers (matched-KL
interpolation, rollouts to reach a target) and calls these. Gates: the RM (C1, C3) or DPO (C2, C4) held-out
pairwise accuracy against the true order must reach `GATE_MIN_ACC`, otherwise the comparison is vacuous
(INCONCLUSIVE). C5 has no criterion (descriptive, INCONCLUSIVE by design) and no gate.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from tasks.common.claims import Gate, Verdict, at_least, ci, inconclusive, judge
from tasks.common.stats import mean_se

# --- pre-registered criteria ---------------------------------------------------------------------------------------
C1_MIN_SEEDS = 3              # RTO - PPO-sparse at matched KL > 0 in every one of (at least) 3 seeds ...
C1_SE_FACTOR = 2.0            # ... and mean difference > 2 SE
C2_MIN_SEEDS = 3              # same test vs DPO; plus RTO final true reward > pi_ref's in every seed
C2_SE_FACTOR = C1_SE_FACTOR
C3_MAX_FRACTION = 0.5         # RTO reaches PPO-sparse's final true reward within <= 50 % of the rollouts, every seed
C3_STRETCH_FRACTION = 0.125   # the paper's 1/8 (reported, not judged)
C4_MIN_DIFF = 0.0             # B - D at matched KL > 0 in the mean over the paired seeds (secondary)
GATE_MIN_ACC = 0.55           # validity: RM / DPO held-out accuracy vs the true order must beat chance


def acc_gate(model: str, acc: float | None, item: str = "full") -> Gate:
    """Validity gate: `model` ("reward_model" or "dpo") trained on `item` pairs has held-out accuracy vs the true
    order >= GATE_MIN_ACC."""
    return at_least(f"{model} ({item} pairs) held-out accuracy vs true order", acc, GATE_MIN_ACC)


def _se_ci(d: np.ndarray) -> dict:
    """Mean with a +-2 SE interval (nan bounds when the SE is undefined)."""
    m, se = mean_se(d)
    return ci(m, m - 2 * se, m + 2 * se) if np.isfinite(se) else ci(m, np.nan, np.nan)


def _r(xs, nd: int) -> list[float]:
    return [round(float(v), nd) for v in xs]


def c1_rto_vs_sparse(diffs: Sequence[float], matched_kl: Sequence[float], rm_acc: float | None) -> Verdict:
    """C1: RTO - PPO-sparse true reward at matched KL (one value per paired seed) > 0 in every seed and mean >
    2 SE; needs >= C1_MIN_SEEDS paired seeds; gated on the full-pairs RM."""
    d, gates = np.asarray(diffs, float), [acc_gate("reward_model", rm_acc)]
    if d.size < C1_MIN_SEEDS:
        return inconclusive("C1", f"only {d.size} paired seeds (need {C1_MIN_SEEDS})", gates=gates)
    m, se = mean_se(d)
    meas = {"RTO - PPO-sparse at matched KL (mean, +-2 SE)": _se_ci(d), "per seed": _r(d, 4),
            "matched KL per seed": _r(matched_kl, 3)}
    checks = {"> 0 in every seed": bool(np.all(d > 0)), f"mean > {C1_SE_FACTOR:g} SE": bool(m > C1_SE_FACTOR * se)}
    return judge("C1", checks, meas, gates=gates)


def c2_rto_vs_dpo(diffs: Sequence[float], matched_kl: Sequence[float], rto_final: Sequence[float],
                  ref_true: float, dpo_acc: float | None) -> Verdict:
    """C2: RTO - DPO true reward at matched KL (per RTO seed) > 0 in every seed and mean > 2 SE, and RTO's final
    true reward (per seed) > pi_ref's in every seed; needs >= C2_MIN_SEEDS RTO seeds; gated on the full-pairs DPO."""
    d, fin, gates = np.asarray(diffs, float), np.asarray(rto_final, float), [acc_gate("dpo", dpo_acc)]
    if d.size < C2_MIN_SEEDS:
        return inconclusive("C2", f"only {d.size} RTO seeds (need {C2_MIN_SEEDS})", gates=gates)
    m, se = mean_se(d)
    meas = {"RTO - DPO at matched KL (mean, +-2 SE)": _se_ci(d), "per seed": _r(d, 4),
            "matched KL per seed": _r(matched_kl, 3),
            "RTO final true reward - pi_ref (per seed)": _r(fin - ref_true, 4)}
    checks = {"RTO - DPO > 0 in every seed": bool(np.all(d > 0)),
              f"mean > {C2_SE_FACTOR:g} SE": bool(m > C2_SE_FACTOR * se),
              "RTO > pi_ref in every seed": bool(np.all(fin > ref_true))}
    return judge("C2", checks, meas, gates=gates)


def c3_sample_efficiency(fractions: Sequence[float], above: Sequence[float], rm_acc: float | None,
                         reported: dict[str, Any] | None = None) -> Verdict:
    """C3: the fraction of PPO-sparse's rollouts RTO needs to reach PPO-sparse's final true reward (per paired seed;
    inf if never) <= C3_MAX_FRACTION in every seed. `above` (share of curve points with RTO above PPO-sparse), the
    1/8 stretch target and `reported` (the optional 1/4-pairs data-scaling numbers) are reported, not judged.
    Gated on the full-pairs RM."""
    fr, gates = np.asarray(fractions, float), [acc_gate("reward_model", rm_acc)]
    if not fr.size:
        return inconclusive("C3", "RTO / PPO-sparse runs missing", gates=gates)
    meas = {"rollout fraction RTO needs to reach PPO-sparse's final reward (per seed)": _r(fr, 3),
            "share of curve points with RTO above PPO-sparse (per seed)": _r(above, 3),
            f"reaches within the paper's 1/8 ({C3_STRETCH_FRACTION}) in every seed":
                bool(np.all(fr <= C3_STRETCH_FRACTION)),
            **(reported or {})}
    checks = {f"fraction <= {C3_MAX_FRACTION} in every seed": bool(np.all(fr <= C3_MAX_FRACTION))}
    return judge("C3", checks, meas, gates=gates)


def c4_density(diffs: Sequence[float], seeds: Sequence[int], matched_kl: Sequence[float], dpo_acc: float | None,
               dense_only_diffs: Sequence[float] | None = None) -> Verdict:
    """C4 (secondary): mean over paired seeds of B - D (RTO - DPO-summed-on-last-token) at matched KL > C4_MIN_DIFF.
    `dense_only_diffs` (C - D) is reported, not judged. Gated on the full-pairs DPO."""
    d, gates = np.asarray(diffs, float), [acc_gate("dpo", dpo_acc)]
    if not d.size:
        return inconclusive("C4", "arm D (dpo_end) or paired RTO seed missing", gates=gates)
    meas = {"B - D at matched KL (mean over paired seeds)": float(d.mean()), "paired seeds": list(seeds),
            "matched KL": _r(matched_kl, 3)}
    if dense_only_diffs is not None and len(dense_only_diffs):
        meas["C - D at matched KL (density only, reported)"] = float(np.mean(dense_only_diffs))
    return judge("C4", {f"B - D > {C4_MIN_DIFF:g}": bool(d.mean() > C4_MIN_DIFF)}, meas, gates=gates)


def c5_weak_rm(diffs: Sequence[float], seeds: Sequence[int], matched_kl: Sequence[float],
               weak_rm_acc: float | None, full_rm_acc: float | None) -> Verdict:
    """C5: no pre-registered criterion; RTO - PPO-sparse at matched KL with the 1/4-pairs RM and DPO, reported
    descriptively. INCONCLUSIVE by design (and if not run); no gate (both RM accuracies are reported)."""
    d = np.asarray(diffs, float)
    if not d.size:
        return inconclusive("C5", "1/4-pairs runs not run")
    m = float(d.mean())
    meas = {"RTO - PPO-sparse, 1/4 pairs, at matched KL": m, "seeds": list(seeds), "matched KL": list(matched_kl),
            "weak RM held-out accuracy": weak_rm_acc, "full RM held-out accuracy": full_rm_acc}
    side = "ahead of" if m > 0 else "level with" if m == 0 else "behind"
    return inconclusive("C5", f"descriptive only (no pre-registered criterion; {d.size} seed): RTO is {side} "
                        f"PPO-sparse by {abs(m):.4f} true reward at matched KL with the weaker RM", meas)
