"""Pre-registered pass criteria of the RTO paper (sheet shared/papers/rto.md, "Claims and pass criteria"; issue 13),
C1-C5, and their validity gates.

Pure judges from measured numbers (per-seed arrays, floats) to a `Verdict`; fixed as code before the comparison
arms ran; nothing here reads a result to choose a threshold. `report.py` computes the numbers (matched-KL
interpolation, rollouts to reach a target, final-policy differences) and calls these.

Gates (a failed gate makes a claim INCONCLUSIVE, never FAIL):
- reward learners: RM held-out accuracy vs the true order >= GATE_RM_MIN_ACC (C1, C3); DPO's >= GATE_DPO_MIN_ACC
  (C2, C4; DPO's accuracy is also reported against the bigram-table Bradley-Terry reference on the same pairs);
- calibration: the summed clipped DPO token term's std on pi_ref samples is CAL_BAND x the RM score's (C1-C4);
- regularisation: the largest final KL(pi || pi_ref) of the arms a claim compares <= KL_MAX nats;
- density (arm F, PPO on the TRUE reward, dense vs sparse): on the axis the claim uses, dense must beat sparse
  (`density_gate`), otherwise the toy cannot show density there (C1, C3, C4; C2 compares RTO with DPO, not
  density, and has no F gate).

Amended criteria (`amended_*`, recorded with `amend` and the original verdict; reasons in tasks/rto/README.md):
C1, C2 on the final policies as the paper compares them (matched KL as a guard); C4 on the C - D contrast.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from tasks.common.claims import Gate, Verdict, amend, at_least, at_most, ci, inconclusive, judge
from tasks.common.stats import mean_se

# --- pre-registered criteria ---------------------------------------------------------------------------------------
C1_MIN_SEEDS = 3              # RTO - PPO-sparse at matched KL > 0 in every one of (at least) 3 seeds ...
C1_SE_FACTOR = 2.0            # ... and mean difference > 2 SE
C2_MIN_SEEDS = 3              # same test vs DPO; plus RTO final true reward > pi_ref's in every seed
C2_SE_FACTOR = C1_SE_FACTOR
C3_MAX_FRACTION = 0.5         # RTO reaches PPO-sparse's final true reward within <= 50 % of the rollouts, every seed
C3_STRETCH_FRACTION = 0.125   # the paper's 1/8 (reported, not judged)
C4_MIN_DIFF = 0.0             # B - D (amended: C - D) > 0 in the mean over the paired seeds (secondary)
GUARD_SE_FACTOR = 2.0         # amended C1/C2/C4 guard: not worse at matched KL (mean + 2 SE > 0)
# --- validity gates ------------------------------------------------------------------------------------------------
GATE_RM_MIN_ACC = 0.70        # issue 13: the RM must learn the preferences (was 0.58 at chance-like features)
GATE_DPO_MIN_ACC = 0.55       # DPO must beat chance (reported against the BT reference)
CAL_BAND = (0.3, 1.0)         # std(summed clipped DPO term) / std(RM score) on pi_ref samples
KL_MAX = 8.0                  # "a KL that stays in a few nats"

AXES = ("matched KL", "final", "rollouts")
ORIGINAL = {
    "C1": "RTO - PPO-sparse true reward at matched KL > 0 in every one of 3 seeds, and mean > 2 SE",
    "C2": "RTO - DPO true reward at matched KL > 0 in every seed and mean > 2 SE, and RTO > pi_ref in every seed",
    "C4": "B - D (RTO - DPO sum on the last token) true reward at matched KL > 0 in the mean over seeds",
}
REASONS = {
    "C1": "the paper compares the final policies of PPO and RTO trained with the same PPO settings (Table 1, "
          "AlpacaEval / Arena-Hard of the final models); it does not match KL. Matching at the smaller final KL was "
          "the sheet's addition and is kept as a guard (RTO not worse at matched KL)",
    "C2": "the paper compares the final RTO policy with the final DPO policy (Table 1), not at matched KL; the "
          "matched-KL comparison is kept as a guard",
    "C4": "the claim is that the same DPO signal put on the last token recovers less; B - D also differs in the RM "
          "(B has it, D not), so it mixes 'RM present' with 'dense'; C - D (both DPO signal only, dense vs summed "
          "at the end) is the contrast the claim names. Judged on the final policies like C1, matched KL as a guard",
}


def acc_gate(model: str, acc: float | None, item: str = "full") -> Gate:
    """Validity: `model` ("reward_model" or "dpo") trained on `item` pairs has held-out accuracy vs the true order
    >= its threshold."""
    thr = GATE_RM_MIN_ACC if model == "reward_model" else GATE_DPO_MIN_ACC
    return at_least(f"{model} ({item} pairs) held-out accuracy vs true order", acc, thr)


def cal_gate(ratio: float | None) -> Gate:
    """Validity: std of the summed clipped DPO token term / std of the RM score on pi_ref samples in CAL_BAND."""
    ok = ratio is not None and CAL_BAND[0] <= ratio <= CAL_BAND[1]
    return Gate("calibrated DPO term std / RM std (pi_ref samples)", bool(ok), ratio, f"in [{CAL_BAND[0]:g}, {CAL_BAND[1]:g}]")


def kl_gate(final_kls: Sequence[float]) -> Gate:
    """Validity: the largest final KL of the compared runs <= KL_MAX (missing runs fail)."""
    k = np.asarray(final_kls, float)
    return at_most("largest final KL(pi || pi_ref) of the compared runs (nats)", float(k.max()) if k.size else None, KL_MAX)


def density_gate(axis: str, f_values: Sequence[float]) -> Gate:
    """Validity (arm F): PPO on the true reward, dense vs sparse, per F seed, on the claim's `axis`:
    "matched KL" / "final": dense - sparse true reward, the mean over F seeds must be > 0; "rollouts": the fraction
    of sparse's rollouts dense needs to reach sparse's final true reward must be <= C3_MAX_FRACTION in every F seed.
    No F seed (or NaN) fails."""
    if axis not in AXES:
        raise ValueError(f"unknown axis {axis!r}")
    v = np.asarray(f_values, float)
    name = f"arm F (true reward): dense beats sparse on the {axis} axis"
    if not v.size or np.isnan(v).any():
        return Gate(name, False, None, "F run")
    if axis == "rollouts":
        return Gate(name + " (worst F seed's rollout fraction)", bool(v.max() <= C3_MAX_FRACTION), float(v.max()),
                    f"<= {C3_MAX_FRACTION:g}")
    return Gate(name + " (dense - sparse, mean over F seeds)", bool(v.mean() > 0), float(v.mean()), "> 0")


def _se_ci(d: np.ndarray, k: float = 2.0) -> dict:
    """Mean with a +-k SE interval (nan bounds when the SE is undefined)."""
    m, se = mean_se(d)
    return ci(m, m - k * se, m + k * se) if np.isfinite(se) else ci(m, np.nan, np.nan)


def _r(xs, nd: int) -> list[float]:
    return [round(float(v), nd) for v in xs]


def _guard(d: np.ndarray) -> bool:
    """Not worse at matched KL: mean + GUARD_SE_FACTOR * SE > 0 (mean >= 0 when the SE is undefined)."""
    m, se = mean_se(d)
    return bool(m + GUARD_SE_FACTOR * se > 0) if np.isfinite(se) else bool(m >= 0)


def _all_pos_and_se(d: np.ndarray, factor: float) -> dict[str, bool]:
    m, se = mean_se(d)
    return {"> 0 in every seed": bool(np.all(d > 0)), f"mean > {factor:g} SE": bool(m > factor * se)}


# --- C1 ------------------------------------------------------------------------------------------------------------
def c1_rto_vs_sparse(diffs: Sequence[float], matched_kl: Sequence[float], gates: list[Gate]) -> Verdict:
    """C1 (original): RTO - PPO-sparse true reward at matched KL (one value per paired seed) > 0 in every seed and
    mean > 2 SE; needs >= C1_MIN_SEEDS paired seeds."""
    d = np.asarray(diffs, float)
    if d.size < C1_MIN_SEEDS:
        return inconclusive("C1", f"only {d.size} paired seeds (need {C1_MIN_SEEDS})", gates=gates)
    meas = {"RTO - PPO-sparse at matched KL (mean, +-2 SE)": _se_ci(d), "per seed": _r(d, 4),
            "matched KL per seed": _r(matched_kl, 3)}
    return judge("C1", _all_pos_and_se(d, C1_SE_FACTOR), meas, gates=gates)


def final_policy(cid: str, what: str, final_diffs: Sequence[float], matched_diffs: Sequence[float],
                 min_seeds: int, gates: list[Gate], extra_checks: dict[str, bool] | None = None,
                 extra_meas: dict[str, Any] | None = None) -> Verdict:
    """Amended C1 / C2 shape: final-policy true-reward difference `what` > 0 in every seed and mean > 2 SE, and the
    guard: not worse at matched KL (mean + 2 SE > 0)."""
    f, m = np.asarray(final_diffs, float), np.asarray(matched_diffs, float)
    if f.size < min_seeds or m.size != f.size:
        return inconclusive(cid, f"only {f.size} paired seeds (need {min_seeds})", gates=gates)
    meas = {f"{what}, final policies (mean, +-2 SE)": _se_ci(f), "per seed (final)": _r(f, 4),
            f"{what} at matched KL (guard; mean, +-2 SE)": _se_ci(m), **(extra_meas or {})}
    checks = {**{f"final: {k}": v for k, v in _all_pos_and_se(f, C1_SE_FACTOR).items()},
              "guard: not worse at matched KL (mean + 2 SE > 0)": _guard(m), **(extra_checks or {})}
    return judge(cid, checks, meas, gates=gates)


def c1_amended(final_diffs, matched_diffs, original: Verdict, gates: list[Gate], final_kls=None) -> Verdict:
    """C1 amended: RTO - PPO-sparse on the final policies (every seed > 0, mean > 2 SE), guard at matched KL."""
    extra = {"final KL RTO / PPO-sparse per seed": final_kls} if final_kls is not None else None
    new = final_policy("C1", "RTO - PPO-sparse", final_diffs, matched_diffs, C1_MIN_SEEDS, gates, extra_meas=extra)
    return amend(new, original, ORIGINAL["C1"], REASONS["C1"])


# --- C2 ------------------------------------------------------------------------------------------------------------
def c2_rto_vs_dpo(diffs: Sequence[float], matched_kl: Sequence[float], rto_final: Sequence[float],
                  ref_true: float, gates: list[Gate]) -> Verdict:
    """C2 (original): RTO - DPO true reward at matched KL (per RTO seed) > 0 in every seed and mean > 2 SE, and RTO's
    final true reward (per seed) > pi_ref's in every seed; needs >= C2_MIN_SEEDS RTO seeds."""
    d, fin = np.asarray(diffs, float), np.asarray(rto_final, float)
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


def c2_amended(final_diffs, matched_diffs, rto_final, ref_true: float, original: Verdict, gates: list[Gate]) -> Verdict:
    """C2 amended: RTO - DPO on the final policies (every seed > 0, mean > 2 SE), RTO > pi_ref in every seed,
    guard at matched KL."""
    fin = np.asarray(rto_final, float)
    new = final_policy("C2", "RTO - DPO", final_diffs, matched_diffs, C2_MIN_SEEDS, gates,
                       extra_checks={"RTO > pi_ref in every seed": bool(fin.size and np.all(fin > ref_true))},
                       extra_meas={"RTO final true reward - pi_ref (per seed)": _r(fin - ref_true, 4)})
    return amend(new, original, ORIGINAL["C2"], REASONS["C2"])


# --- C3 ------------------------------------------------------------------------------------------------------------
def c3_sample_efficiency(fractions: Sequence[float], above: Sequence[float], gates: list[Gate],
                         reported: dict[str, Any] | None = None) -> Verdict:
    """C3: the fraction of PPO-sparse's rollouts RTO needs to reach PPO-sparse's final true reward (per paired seed;
    inf if never) <= C3_MAX_FRACTION in every seed. `above` (share of curve points with RTO above PPO-sparse), the
    1/8 stretch target and `reported` (KL at reach, the 1/4-pairs data-scaling numbers) are reported, not judged."""
    fr = np.asarray(fractions, float)
    if not fr.size:
        return inconclusive("C3", "RTO / PPO-sparse runs missing", gates=gates)
    meas = {"rollout fraction RTO needs to reach PPO-sparse's final reward (per seed)": _r(fr, 3),
            "share of curve points with RTO above PPO-sparse (per seed)": _r(above, 3),
            f"reaches within the paper's 1/8 ({C3_STRETCH_FRACTION}) in every seed":
                bool(np.all(fr <= C3_STRETCH_FRACTION)),
            **(reported or {})}
    checks = {f"fraction <= {C3_MAX_FRACTION} in every seed": bool(np.all(fr <= C3_MAX_FRACTION))}
    return judge("C3", checks, meas, gates=gates)


# --- C4 ------------------------------------------------------------------------------------------------------------
def c4_density(diffs: Sequence[float], seeds: Sequence[int], matched_kl: Sequence[float], gates: list[Gate]) -> Verdict:
    """C4 (original, secondary): mean over paired seeds of B - D (RTO - DPO-summed-on-last-token) at matched KL >
    C4_MIN_DIFF."""
    d = np.asarray(diffs, float)
    if not d.size:
        return inconclusive("C4", "arm D (dpo_end) or paired RTO seed missing", gates=gates)
    meas = {"B - D at matched KL (mean over paired seeds)": float(d.mean()), "paired seeds": list(seeds),
            "matched KL": _r(matched_kl, 3)}
    return judge("C4", {f"B - D > {C4_MIN_DIFF:g}": bool(d.mean() > C4_MIN_DIFF)}, meas, gates=gates)


def c4_amended(final_diffs: Sequence[float], matched_diffs: Sequence[float], seeds: Sequence[int],
               original: Verdict, gates: list[Gate]) -> Verdict:
    """C4 amended: C - D (DPO tokens dense vs the same signal summed on the last token) on the final policies, mean
    over paired seeds > C4_MIN_DIFF, guard: not worse at matched KL."""
    f, m = np.asarray(final_diffs, float), np.asarray(matched_diffs, float)
    if not f.size or m.size != f.size:
        new = inconclusive("C4", "arm C or D missing", gates=gates)
    else:
        meas = {"C - D, final policies (mean, +-2 SE)": _se_ci(f), "per seed (final)": _r(f, 4),
                "C - D at matched KL (guard; mean, +-2 SE)": _se_ci(m), "paired seeds": list(seeds)}
        checks = {f"final: C - D mean > {C4_MIN_DIFF:g}": bool(f.mean() > C4_MIN_DIFF),
                  "guard: not worse at matched KL (mean + 2 SE > 0)": _guard(m)}
        new = judge("C4", checks, meas, gates=gates)
    return amend(new, original, ORIGINAL["C4"], REASONS["C4"])


# --- C5 ------------------------------------------------------------------------------------------------------------
def c5_weak_rm(diffs: Sequence[float], seeds: Sequence[int], matched_kl: Sequence[float],
               weak_rm_acc: float | None, full_rm_acc: float | None, final_diffs: Sequence[float] = ()) -> Verdict:
    """C5: no pre-registered criterion; RTO - PPO-sparse at matched KL (and on the final policies) with the 1/4-pairs
    RM and DPO, reported descriptively. INCONCLUSIVE by design (and if not run); no gate."""
    d = np.asarray(diffs, float)
    if not d.size:
        return inconclusive("C5", "1/4-pairs runs not run")
    m = float(d.mean())
    meas = {"RTO - PPO-sparse, 1/4 pairs, at matched KL": m, "seeds": list(seeds), "matched KL": list(matched_kl),
            "weak RM held-out accuracy": weak_rm_acc, "full RM held-out accuracy": full_rm_acc}
    if len(final_diffs):
        meas["RTO - PPO-sparse, 1/4 pairs, final policies"] = float(np.mean(final_diffs))
    side = "ahead of" if m > 0 else "level with" if m == 0 else "behind"
    return inconclusive("C5", f"descriptive only (no pre-registered criterion; {d.size} seed): RTO is {side} "
                        f"PPO-sparse by {abs(m):.4f} true reward at matched KL with the weaker RM", meas)
