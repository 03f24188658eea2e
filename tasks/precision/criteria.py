"""Pre-registered criteria of the precision paper (Feng et al., arXiv 2410.13857): claims P-mech, P3, P1, P2.

Pure functions from measured numbers (dicts, floats, counts) to a `Verdict`, with the constants of the sheet's
"Claims and pass criteria" (shared/papers/precision.md), written before any result was seen and never changed
after. `report.py` computes the numbers (accuracies, Wilson CIs, the bootstrap gap statistics) and calls these.
P1 and P2 depend on two gates: the P3 training gate (fp32 >= 95% at every k) and the k=2 ADD control of the
low-precision arm (no collapse); either failing makes them INCONCLUSIVE, never FAIL.
"""
from __future__ import annotations

import numpy as np

from tasks.common.claims import Gate, Verdict, amend, at_least, ci, inconclusive, judge
from tasks.common.stats import spearman, wilson

PRIMARY = "fq4"                 # the pre-registered primary low-precision arm
MECH_B_MAX = 11                 # P-mech: m_max finite and strictly increasing for the grid's b <= 11
SLOPE_FP32 = (0.6, 1.4)         # P-mech: fp32 accumulation, OLS slope of log2 m_max on b
SLOPE_LOW_MIN = 0.3             # P-mech: low-precision accumulation, slope > 0.3
FP32_NO_FAIL_M = 4096           # P-mech: fp32 (b = 24) decodes every count up to m = 4096
ADD_MIN_B, ADD_MAX_N = 3, 64    # P-mech: carry-lookahead ADD exact for every b >= 3 and n <= 64
GATE_ACC = 0.95                 # P3: fp32 >= 95% exact match for every k
P1_TOL = 0.05                   # P1: |acc_fp32 - acc_fq4| <= 5 pp at k = 2 (or Wilson CIs overlap)
COLLAPSE_ACC = 0.5              # implementer's choice: acc_low(k=2) < 50% = the ADD control collapsed -> INCONCLUSIVE
P2_RHO = 0.7                    # P2: Spearman rho(k, g(k)) >= 0.7
P2_DID = 0.15                   # P2: g(k_max) - g(2) >= 15 pp ...
P2_ALPHA = 0.05                 # ... with a 95% bootstrap CI excluding 0
P2_MIN_SEEDS = 2                # ... and >= 2 seeds with a positive difference-in-differences

# --- amendments (issue 12; both follow the paper's own theory, neither was chosen by the numbers it judges) -------
MECH_RHO_LOW = 0.9              # amended P-mech: Spearman rho(b, m_max_low) >= 0.9 replaces "strictly increasing"
P1_GATE_KS = (2,)               # amended P1: the fp32 training gate covers only the k P1 uses (k = 2, ADD)
MECH_ORIGINAL = ("m_max(b) finite for all b ≤ 11 and strictly increasing in b, for both accumulation variants; "
                 "fp32 accumulation: OLS slope of log2 m_max on b in [0.6, 1.4]; low-precision accumulation: slope "
                 "> 0.3; fp32 shows no failure up to m = 4096; ADD carry-lookahead construction 100% correct for "
                 "every b ≥ 3 and n ≤ 64.")
MECH_WHY = ("with rounding after every add (low-format accumulation) the error of a sum of m terms grows like "
            "c·2^-b per add, so m_max grows like 2^(b/2) (slope ~0.5, which the slope > 0.3 sub-point already "
            "encodes) and the first failing m depends on how 1/m rounds at each b: the theory predicts a rising "
            "trend, not strict monotonicity at every single b (over b = 3..13 the sequence 4, 9, 8, 13, 16, 26, 32, "
            "49, 64, 108, 128 has one dip). Strict increase is kept for fp32 accumulation, where only the output "
            "is rounded.")
P1_ORIGINAL = ("at k=2: |acc_fp32 − acc_fq4| ≤ 5 pp, or the Wilson CIs overlap; gated on the P3 gate (fp32 ≥ 95% "
               "at every k of the sweep) and on the k=2 control (acc_fq4(2) ≥ 50%).")
P1_WHY = ("P1 compares the arms at k = 2 only; the fp32 training gate is a validity check of the numbers a claim "
          "uses, so it covers k = 2 (fp32 ≥ 95% there), not k ≥ 3, which P1 never reads. P2 keeps the gate over "
          "every k of the sweep.")


def judge_mech(mech: dict, metrics: dict, amended: bool = False) -> Verdict:
    """P-mech from the mechanism stage's table (mechanism.json) and metrics (slopes, carry-lookahead accuracy).

    amended=False: the pre-registered criterion (strictly increasing for both accumulation variants).
    amended=True (issue 12): for low-format accumulation "strictly increasing" becomes Spearman rho(b, m_max) >=
    MECH_RHO_LOW (a rising trend, as the 2^(b/2) growth with per-add rounding predicts); everything else unchanged.

    INCONCLUSIVE when every sub-point this profile's grid covers holds but the grid (m_cap, ADD b/n range) is smaller
    than the criterion names; FAIL as soon as a covered sub-point fails. No gate: nothing here is trained.
    """
    m_cap, bits = mech["m_cap"], [b for b in mech["bits"] if b <= MECH_B_MAX]
    measured, checks = {}, {}
    for acc in ("low", "fp32"):
        mm = [mech["m_max"][acc][str(b)] for b in bits]
        measured[f"m_max_{acc}"] = dict(zip(map(str, bits), mm))
        checks[f"finite_{acc}"] = all(m < m_cap for m in mm)
        if amended and acc == "low":
            rho = spearman(bits, mm)
            measured["spearman_rho_low"] = rho
            checks[f"rising_trend_low_rho_ge_{MECH_RHO_LOW:g}"] = bool(rho >= MECH_RHO_LOW)    # NaN fails
        else:
            checks[f"increasing_{acc}"] = bool(np.all(np.diff(mm) > 0))
        measured[f"slope_{acc}"] = metrics[f"slope_{acc}"]
        measured[f"m_max_{acc}_b24"] = mech["m_max"][acc]["24"]
    checks["slope_fp32_in_range"] = SLOPE_FP32[0] <= measured["slope_fp32"] <= SLOPE_FP32[1]
    checks["slope_low_gt_min"] = measured["slope_low"] > SLOPE_LOW_MIN
    checks["fp32_no_failure_to_4096"] = min(measured["m_max_low_b24"], measured["m_max_fp32_b24"]) >= FP32_NO_FAIL_M
    add_bs = [int(b) for b in mech["add_bits"]]
    measured["add_cla_min_acc"] = metrics["add_cla_min_acc"]
    checks["add_cla_exact"] = metrics["add_cla_min_acc"] == 1.0
    # sub-points the grid of this profile cannot establish (a smaller m_cap or ADD grid than the criterion names)
    uncovered = [k for k, ok in (("fp32_no_failure_to_4096", m_cap >= FP32_NO_FAIL_M),
                                 ("add_cla_exact", mech["add_max_n"] >= ADD_MAX_N
                                  and set(range(ADD_MIN_B, MECH_B_MAX + 1)) <= set(add_bs))) if not ok]
    unmeasurable = None
    if uncovered and all(checks[k] for k in checks if k not in uncovered):
        unmeasurable = (f"not covered by this profile's grid: {', '.join(uncovered)} (m_cap={m_cap}, "
                        f"add_max_n={mech['add_max_n']}, add_bits={add_bs})")
    return judge("P-mech", checks, measured, gates=[], unmeasurable=unmeasurable)


def judge_mech_amended(mech: dict, metrics: dict) -> Verdict:
    """P-mech by the amended criterion, with the pre-registered criterion's verdict on the same run in amended_from."""
    return amend(judge_mech(mech, metrics, amended=True), judge_mech(mech, metrics), MECH_ORIGINAL, MECH_WHY)


def fp32_gate(acc_fp32: dict[int, float], ks: tuple[int, ...] | None = None) -> Gate:
    """The fp32 training gate: fp32 >= GATE_ACC at every k of ``ks`` (default: every k measured; a NaN or a missing
    k fails); measured = the worst of those k. ks=None is the P3 gate of P2; ks=P1_GATE_KS the amended gate of P1."""
    sel = sorted(acc_fp32) if ks is None else list(ks)
    vals = [acc_fp32.get(k, float("nan")) for k in sel]
    low = [k for k, a in zip(sel, vals) if not a >= GATE_ACC]
    worst = float(np.min(vals)) if vals else None                             # NaN propagates
    if ks is None:
        return Gate("P3 fp32 trained: min exact match over k", bool(vals) and not low, worst,
                    f">= {GATE_ACC:g} at every k")
    where = ", ".join(map(str, sel))
    return Gate(f"fp32 trained at k = {where}", bool(vals) and not low, worst, f">= {GATE_ACC:g} at k = {where}")


def judge_p3(acc_fp32: dict[int, float]) -> Verdict:
    """P3: PASS iff fp32 >= 95% at every k (pooled over seeds), else FAIL (and P1, P2 become INCONCLUSIVE)."""
    measured = {f"acc_fp32_k{k}": a for k, a in sorted(acc_fp32.items())}
    g = fp32_gate(acc_fp32)
    v = judge("P3", {"fp32_ge_95_every_k": g.passed}, measured, gates=[])
    if not g.passed:
        low = {k: a for k, a in acc_fp32.items() if not a >= GATE_ACC}
        v.reason += ("; fp32 below 95% at k = " + ", ".join(f"{k} ({a:.3f})" for k, a in sorted(low.items()))
                     + " (under-trained: P1, P2 INCONCLUSIVE)")
    return v


def collapse_gate(acc_low_k2: float | None, arm: str = PRIMARY) -> Gate:
    """The k=2 (ADD, AC0) control of P1 and P2: acc_arm(2) >= COLLAPSE_ACC, else the precision is too low."""
    return at_least(f"k=2 control not collapsed under {arm}", None if acc_low_k2 is None else float(acc_low_k2),
                    COLLAPSE_ACC)


def judge_p1(fp32_counts: tuple[int, int], low_counts: tuple[int, int], train_gate: Gate,
             arm: str = PRIMARY) -> Verdict:
    """P1 at k = 2 from pooled (correct, n) counts of fp32 and the low-precision arm; gates: P3, k=2 control."""
    a, alo, ahi = wilson(*fp32_counts)
    b, blo, bhi = wilson(*low_counts)
    measured = {"acc_fp32_k2": ci(a, alo, ahi), f"acc_{arm}_k2": ci(b, blo, bhi), "abs_diff": float(abs(a - b))}
    checks = {"within_5pp_or_cis_overlap": abs(a - b) <= P1_TOL or (alo <= bhi and blo <= ahi)}
    return judge("P1", checks, measured, gates=[train_gate, collapse_gate(b, arm)])


def judge_p2(st: dict, train_gate: Gate, low_acc_k2: float, arm: str = PRIMARY) -> Verdict:
    """P2 from the gap statistics of `report.did_stats` (rho, did, did_ci, did_per_seed, k_max, g[, ks]);
    gates: P3 and the k=2 control (a collapsed control makes the difference-in-differences uninterpretable)."""
    lo, hi = st["did_ci"]
    km = st["k_max"]
    measured = {"spearman_rho": st["rho"], f"did_g{km}_minus_g2": ci(st["did"], lo, hi),
                "did_per_seed": [round(x, 4) for x in st["did_per_seed"]],
                "g": {str(k): round(v, 4) for k, v in zip(st.get("ks", []), st["g"])}}
    n_pos = sum(x > 0 for x in st["did_per_seed"])
    checks = {"rho_ge_0.7": bool(st["rho"] >= P2_RHO), "did_ge_15pp": st["did"] >= P2_DID,
              "did_ci_excludes_0": bool(lo > 0), "seeds_agree_positive": n_pos >= P2_MIN_SEEDS}
    return judge("P2", checks, measured, gates=[train_gate, collapse_gate(low_acc_k2, arm)])


def judge_p1_amended(fp32_counts: tuple[int, int], low_counts: tuple[int, int], acc_fp32: dict[int, float],
                     arm: str = PRIMARY) -> Verdict:
    """P1 gated on fp32 at the k it uses (k = 2) instead of every k; amended_from = the verdict under the P3 gate."""
    new = judge_p1(fp32_counts, low_counts, fp32_gate(acc_fp32, P1_GATE_KS), arm)
    return amend(new, judge_p1(fp32_counts, low_counts, fp32_gate(acc_fp32), arm), P1_ORIGINAL, P1_WHY)


def arm_missing(cid: str, train_gate: Gate, arm: str = PRIMARY) -> Verdict:
    """P1 / P2 when the primary arm was not trained at this profile: INCONCLUSIVE, with the P3 gate recorded."""
    return inconclusive(cid, f"primary arm {arm} not trained at this profile", {}, gates=[train_gate])
