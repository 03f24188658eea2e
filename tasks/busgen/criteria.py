"""Pre-registered criteria of P1a, P1b, P2-P5 (shared/papers/busgen.md, "Claims and pass criteria"), as pure
functions of measured numbers, fixed before the comparison arms were run and unit-tested on every branch.

Calibration gate (P1-P4): on real `val`, the 20 k-real task classifier's AUC in [0.87, 0.98] and the 64-real
classifier's in [0.67, 0.83]. P5 gate: the positive control (re-speckled copies of the adaptation images) is
detected, i.e. fails the P5 criterion, in each distance space. `smoke` verdicts are computed and shown, then
reported INCONCLUSIVE (sheet, Verdict rules).
"""
from __future__ import annotations

from tasks.common.claims import FAIL, INCONCLUSIVE, PASS, Gate, Verdict, judge

BAND_LARGE = (0.87, 0.98)        # val AUC of the 20 k-real task classifier (target 0.90-0.95 +- 0.03)
BAND_FEW = (0.67, 0.83)          # val AUC of the 64-real classifier (target 0.70-0.80 +- 0.03)
P1A_MIN = 0.03                   # AUC(gen_2048) - AUC(real_fewshot)
P1B_NONINF = -0.02               # non-inferiority margin vs foundation_ft
P2_MIN = 0.05                    # AUC(adapted) - AUC(scratch) at N = 1024
P3_DIP = 0.01                    # largest allowed dip of AUC(gen_N) along N
P3_TRACK = 0.03                  # |AUC(gen_N) - AUC(real_N)| for N <= 256
P3_TRACK_MAX_N = 256
P3_AS_REAL = 0.02                # "as effective as real" at the largest N (reported)
P4_MIN = 0.03                    # mean AUC on B, C: (iii) - (ii)
P5_DCR = 0.9                     # median DCR(gen) >= 0.9 x median DCR(held-out)
P5_MIA = 0.60                    # membership-inference AUC <= 0.60


def band(name: str, measured: float | None, lo: float, hi: float) -> Gate:
    ok = measured is not None and measured == measured and lo <= measured <= hi
    return Gate(name, bool(ok), measured, f"in [{lo:g}, {hi:g}]")


def calibration_gates(val_auc_large: float, val_auc_few: float) -> list[Gate]:
    return [band("val AUC, 20k-real task classifier", val_auc_large, *BAND_LARGE),
            band("val AUC, 64-real task classifier", val_auc_few, *BAND_FEW)]


def p1a(diff: dict, gates: list[Gate], measured: dict) -> Verdict:
    """diff = {value, lo, hi} of mean AUC(gen_max) - AUC(real_fewshot) (paired bootstrap on seed means)."""
    return judge("P1a", {f"AUC difference >= {P1A_MIN}": diff["value"] >= P1A_MIN, "95% CI > 0": diff["lo"] > 0},
                 {"auc_gen_minus_real_fewshot": diff, **measured}, gates)


def p1b(diff: dict, gates: list[Gate], measured: dict) -> Verdict:
    """'exceeds' (CI > 0) -> PASS; otherwise difference >= -0.02 -> INCONCLUSIVE 'non-inferior'; else FAIL."""
    m = {"auc_gen_minus_foundation_ft": diff, **measured}
    v = judge("P1b", {"95% CI of the difference > 0 (exceeds)": diff["lo"] > 0}, m, gates)
    if v.verdict == FAIL and diff["value"] >= P1B_NONINF:
        return Verdict("P1b", INCONCLUSIVE, f"non-inferior, not exceeding: difference {diff['value']:.4f} >= "
                       f"{P1B_NONINF} but its CI includes 0", m, {**v.checks, f"difference >= {P1B_NONINF} "
                       "(non-inferior)": True}, gates)
    if v.verdict == FAIL:
        return Verdict("P1b", FAIL, f"not reproduced: difference {diff['value']:.4f} < {P1B_NONINF}", m,
                       {**v.checks, f"difference >= {P1B_NONINF} (non-inferior)": False}, gates)
    return v


def p2(diff: dict, gates: list[Gate], measured: dict) -> Verdict:
    """diff = AUC(adapted, device A, N) - AUC(scratch, N) on device-A test."""
    return judge("P2", {f"AUC(adapted) - AUC(scratch) >= {P2_MIN}": diff["value"] >= P2_MIN},
                 {"auc_adapted_minus_scratch": diff, **measured}, gates)


def p3(ns: list[int], auc_gen: list[float], auc_real: list[float], gates: list[Gate], measured: dict) -> Verdict:
    """Seed-mean AUC curves on the N grid: non-decreasing (dips <= 0.01) and tracking real for N <= 256."""
    dips = [auc_gen[i] - max(auc_gen[:i + 1]) for i in range(len(ns))]
    worst_dip = -min(dips)
    gaps = [abs(g - r) for n, g, r in zip(ns, auc_gen, auc_real) if n <= P3_TRACK_MAX_N]
    worst_gap = max(gaps) if gaps else float("nan")
    last_gap = auc_real[-1] - auc_gen[-1]
    m = {"largest_dip": worst_dip, f"max_abs_gap_N<={P3_TRACK_MAX_N}": worst_gap, "gap_real_minus_gen_at_max_N":
         last_gap, "as_effective_as_real_at_max_N": bool(abs(last_gap) <= P3_AS_REAL), **measured}
    return judge("P3", {f"AUC(gen_N) non-decreasing (dips <= {P3_DIP})": worst_dip <= P3_DIP,
                        f"|AUC(gen_N) - AUC(real_N)| <= {P3_TRACK} for N <= {P3_TRACK_MAX_N}": bool(gaps)
                        and worst_gap <= P3_TRACK}, m, gates,
                 unmeasurable=None if gaps else f"no N <= {P3_TRACK_MAX_N} on the grid")


def p4(diff: dict, gates: list[Gate], measured: dict) -> Verdict:
    """diff = mean AUC over devices B, C of (iii) A/B/C bank minus (ii) A-only bank (paired bootstrap)."""
    return judge("P4", {f"mean AUC(B, C): (iii) - (ii) >= {P4_MIN}": diff["value"] >= P4_MIN,
                        "95% CI > 0": diff["lo"] > 0}, {"auc_BC_abc_minus_a_only": diff, **measured}, gates)


def p5_holds(dcr_ratio: float, mia: float) -> bool:
    """The P5 criterion in one space: not closer than fresh data, and no membership signal."""
    return dcr_ratio >= P5_DCR and mia <= P5_MIA


def p5(gen: dict[str, tuple[float, float]], control: dict[str, tuple[float, float]], measured: dict) -> Verdict:
    """gen / control: space -> (DCR ratio, MIA AUC) for the adapted bank and the positive control."""
    gates = [Gate(f"positive control detected ({sp})", not p5_holds(*control[sp]), {"dcr_ratio": control[sp][0],
                  "mia_auc": control[sp][1]}, f"DCR ratio < {P5_DCR} or MIA AUC > {P5_MIA}") for sp in control]
    checks = {}
    for sp, (r, a) in gen.items():
        checks[f"DCR ratio ({sp}) >= {P5_DCR}"] = r >= P5_DCR
        checks[f"MIA AUC ({sp}) <= {P5_MIA}"] = a <= P5_MIA
    return judge("P5", checks, measured, gates)


def smoke_guard(v: Verdict, profile: str) -> Verdict:
    """smoke: the computed verdict is kept in the reason and reported INCONCLUSIVE."""
    if profile != "smoke" or v.verdict == INCONCLUSIVE:
        return v
    return Verdict(v.id, INCONCLUSIVE, f"smoke profile (computed {v.verdict}: {v.reason})", v.measured, v.checks,
                   v.gates, v.amended_from)


__all__ = ["PASS", "FAIL", "INCONCLUSIVE", "calibration_gates", "p1a", "p1b", "p2", "p3", "p4", "p5", "smoke_guard"]
