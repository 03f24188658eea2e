"""Pre-registered pass/fail criteria of OPZO's claims C1-C7 (sheet shared/papers/opzo.md, "Claims and pass criteria").

Pure functions from measured numbers to a `Verdict`; the report stage (report.py) computes the numbers (accuracy
differences with bootstrap CIs, probe means over seeds, counted cost) and calls these judges. Accuracies are in
points (percent); a difference is a `ci` dict {value, lo, hi} and the verdicts use its point estimate `value`.
Fixed as code before any test result was seen; nothing here reads a result to choose a threshold.

Amendments (issue 14; each keeps the original criterion and the verdict it gives on the same run in `amended_from`):
- C2: the +15 threshold cannot be met by construction on a dataset where a readout-only net (hidden layers frozen
  at init, exact readout gradient) already reaches more than 85 %: any arm that learns at least the readout then
  leaves OPZO less than 15 points to gain. C2 is judged, with the same +15, on every dataset whose readout-only
  accuracy leaves >= 15 points of headroom (100 - readout-only >= 15); the others are reported, not judged; no
  judgeable dataset (or no readout-only arm) -> INCONCLUSIVE. The headroom comes from the reference arm, not from
  OPZO or ZO, the arms being compared.
- C5: the +5 is not from the paper and D1 leaves little headroom; judged on D2 with the same +5 on the mean of at
  least 3 seed-paired differences (same init, data order and noise per seed). The claim's "degrades toward ZO_sp"
  half is reported as measured (OPZO(lam 0) - ZO_sp, and the share of the OPZO - ZO_sp gap that lam = 0 loses), not
  judged: no threshold for it exists in the paper or the sheet.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from tasks.common.claims import INCONCLUSIVE, Gate, Verdict, amend, at_least, at_most, inconclusive, judge

C1_MAX_GAP_TO_BP = 3.0        # mean OPZO >= mean BP - 3.0 points, on D1 and on D2
C2_MIN_GAIN_OVER_ZO = 15.0    # OPZO - ZO_sp >= 15 points, on D1 and on D2
C3_FC_MAX_GAP_TO_DFA = 1.0    # FC: OPZO >= DFA - 1.0; conv not run -> INCONCLUSIVE ("not reproduced at this scale")
C3_CONV_MIN_GAIN = 0.0        # conv (if run): OPZO > DFA (strictly), D1, mean over seeds
GATE_MIN_CONV_BP_ACC = 90.0   # validity of the conv arm: conv BP-online mean D1 test accuracy >= 90 points (the FC
                              # readout-only net already reaches ~88: below this the conv net has not learned)
C4_COS_FACTOR = 5.0           # every hidden layer, mid-training: median cos(OPZO, BP) >= 5 x ZO_sp's
C4_VAR_FACTOR = 0.1           # ... and relative variance of OPZO <= 1/10 of ZO_sp's
C5_MIN_MOMENTUM_GAIN = 5.0    # OPZO(lam best) - OPZO(lam = 0) >= 5 points on D1
C2_HEADROOM_DATASET = 15.0   # amended C2: judge a dataset iff 100 - readout-only accuracy >= this (points)
C5_AMENDED_DATASET = "d2"     # amended C5: OPZO(lam best) - OPZO(lam 0) >= 5 points on D2 ...
C5_MIN_PAIRED_SEEDS = 3       # ... as the mean of >= 3 seed-paired differences
C6_MAX_SPREAD = 3.0           # max - min accuracy over noise kind x position variants <= 3 points (D1, seed 0)
GATE_MIN_BP_ACC = 50.0        # validity: BP (C1, C2, C5) / the best noise variant (C6) must have learned (points)
DATASETS = ("d1", "d2")       # C1, C2 (and the BP gate): "on D1 and on D2"

Diff = Mapping[str, float]    # ci(value, lo, hi) of a difference in points


def bp_gates(bp_acc: Mapping[str, float | None]) -> list[Gate]:
    """Validity gates of C1, C2, C5: BP-online mean test accuracy (points) >= GATE_MIN_BP_ACC on every dataset
    (a dataset absent from `bp_acc`, or None, fails)."""
    return [at_least(f"{ds} BP-online accuracy (points)", bp_acc.get(ds), GATE_MIN_BP_ACC) for ds in DATASETS]


def _gap_claim(cid: str, other: str, thr: float, diffs: Mapping[str, Diff | None], gates: list[Gate]) -> Verdict:
    """OPZO - <other> >= thr on every dataset of DATASETS; INCONCLUSIVE if an arm is missing on one."""
    meas, checks = {}, {}
    for ds in DATASETS:
        dd = diffs.get(ds)
        if dd is None:
            return inconclusive(cid, f"arm missing on {ds}", gates=gates)
        meas[f"{ds} OPZO - {other} (points)"] = dd
        checks[f"{ds}: OPZO - {other} >= {thr:+.1f}"] = dd["value"] >= thr
    return judge(cid, checks, meas, gates=gates)


def c1_close_to_bp(diffs: Mapping[str, Diff | None], bp_acc: Mapping[str, float | None]) -> Verdict:
    """C1: mean OPZO acc >= mean BP-online acc - 3.0 points on D1 and on D2. `diffs[ds]`: OPZO - BP."""
    return _gap_claim("C1", "BP", -C1_MAX_GAP_TO_BP, diffs, bp_gates(bp_acc))


def c2_beats_zo(diffs: Mapping[str, Diff | None], bp_acc: Mapping[str, float | None]) -> Verdict:
    """C2: OPZO - ZO_sp >= 15 points on D1 and on D2. `diffs[ds]`: OPZO - ZO_sp."""
    return _gap_claim("C2", "ZO", C2_MIN_GAIN_OVER_ZO, diffs, bp_gates(bp_acc))


C2_ORIGINAL = "OPZO - ZO_sp >= 15 points on D1 and on D2"
C2_REASON = ("the readout-only cap makes +15 unreachable by construction where a frozen-hidden net already scores "
             "> 85 %; judged where the readout-only arm leaves >= 15 points of headroom (issue 14)")


def c2_amended(diffs: Mapping[str, Diff | None], readout_acc: Mapping[str, float | None],
               bp_acc: Mapping[str, float | None]) -> Verdict:
    """Amended C2: OPZO - ZO_sp >= 15 points on every dataset with 100 - readout-only accuracy >= 15 points (the
    others reported, not judged). `readout_acc[ds]`: mean readout-only test accuracy (points), None if not run.
    The original C2 (both datasets) is recorded in `amended_from`."""
    original = c2_beats_zo(diffs, bp_acc)
    gates = bp_gates(bp_acc)
    meas, checks, unjudged = {}, {}, []
    for ds in DATASETS:
        ro, dd = readout_acc.get(ds), diffs.get(ds)
        if ro is None or dd is None:
            return amend(inconclusive("C2", f"{'readout-only' if ro is None else 'OPZO or ZO'} arm missing on {ds}",
                                      meas, gates), original, C2_ORIGINAL, C2_REASON)
        room = 100.0 - float(ro)
        meas[f"{ds} readout-only accuracy (points)"] = float(ro)
        meas[f"{ds} headroom 100 - readout-only (points)"] = room
        meas[f"{ds} OPZO - ZO (points)"] = dd
        if room >= C2_HEADROOM_DATASET:
            checks[f"{ds}: OPZO - ZO >= {C2_MIN_GAIN_OVER_ZO:+.1f}"] = dd["value"] >= C2_MIN_GAIN_OVER_ZO
        else:
            unjudged.append(ds)
    meas["not judged (headroom < 15)"] = unjudged
    if not checks:
        new = inconclusive("C2", f"no dataset with headroom >= {C2_HEADROOM_DATASET:g} points", meas, gates)
    else:
        new = judge("C2", checks, meas, gates=gates)
        if unjudged and new.verdict != INCONCLUSIVE:
            new.reason += f" (not judged, headroom < {C2_HEADROOM_DATASET:g}: {', '.join(unjudged)})"
    return amend(new, original, C2_ORIGINAL, C2_REASON)


def c3_at_least_dfa(fc_diffs: Mapping[str, Diff | None], conv_diff: Diff | None = None,
                    conv_bp_acc: float | None = None, conv_extra: Mapping[str, object] | None = None) -> Verdict:
    """C3: FC OPZO >= DFA - 1.0 (on every dataset measured) and conv OPZO > DFA (D1). `fc_diffs[ds]`: FC OPZO - DFA;
    `conv_diff`: conv-LIF OPZO - DFA (None: conv arm not run -> INCONCLUSIVE, "not reproduced at this scale"; the
    sheet forbids claiming C3 from FC alone). Gate: the conv BP arm learned (mean D1 test accuracy >=
    GATE_MIN_CONV_BP_ACC). A conv OPZO <= DFA is a FAIL reported as "not reproduced at this scale".
    `conv_extra`: reported conv numbers (not judged)."""
    meas, held = {}, []
    for ds in DATASETS:
        dd = fc_diffs.get(ds)
        if dd is not None:
            meas[f"{ds} FC OPZO - DFA (points)"] = dd
            held.append(dd["value"] >= -C3_FC_MAX_GAP_TO_DFA)
    fc_ok = bool(held and all(held))
    fc_key = f"FC: OPZO >= DFA - {C3_FC_MAX_GAP_TO_DFA}"
    if conv_diff is None:
        return judge("C3", {fc_key: fc_ok}, meas, gates=[],
                     unmeasurable="conv-LIF arm not run: not reproduced at this scale (the sheet forbids claiming C3 "
                     f"from FC alone); FC sub-point OPZO >= DFA - {C3_FC_MAX_GAP_TO_DFA} "
                     f"{'holds' if fc_ok else 'does not hold'} on {len(held)} dataset(s)")
    meas["d1 conv OPZO - DFA (points)"] = conv_diff
    meas.update(conv_extra or {})
    gates = [at_least("d1 conv BP-online accuracy (points)", conv_bp_acc, GATE_MIN_CONV_BP_ACC)]
    v = judge("C3", {fc_key: fc_ok, "conv: OPZO > DFA": conv_diff["value"] > C3_CONV_MIN_GAIN}, meas, gates=gates)
    if v.verdict == "FAIL" and conv_diff["value"] <= C3_CONV_MIN_GAIN:
        v.reason += " (conv: not reproduced at this scale)"
    return v


def c4_gradient_quality(layers: Mapping[str, Mapping[str, float]]) -> Verdict:
    """C4: for every hidden layer at mid-training, median cos(OPZO, BP) >= 5 x ZO_sp's and OPZO relative variance
    <= 1/10 of ZO_sp's. `layers["d1 L0"]` = {cos_opzo, cos_zo, relvar_opzo, relvar_zo} (means over seeds).
    Gates: at least one probed layer, and every probe value finite."""
    meas, checks = {}, {}
    for name, v in layers.items():
        co, cz, vo, vz = (float(v[k]) for k in ("cos_opzo", "cos_zo", "relvar_opzo", "relvar_zo"))
        meas.update({f"{name} cos OPZO": co, f"{name} cos ZO": cz,
                     f"{name} relvar OPZO": vo, f"{name} relvar ZO": vz})
        checks[f"{name}: cos OPZO >= {C4_COS_FACTOR:g} x cos ZO"] = co >= C4_COS_FACTOR * cz
        checks[f"{name}: relvar OPZO <= {C4_VAR_FACTOR:g} x relvar ZO"] = vo <= C4_VAR_FACTOR * vz
    non_finite = sum(not math.isfinite(x) for x in meas.values())
    gates = [at_least("mid-training probe layers", len(layers), 1),
             at_most("non-finite probe values", non_finite, 0)]
    return judge("C4", checks, meas, gates=gates)


def c5_momentum(diff_d1: Diff | None, lam_best: float, bp_acc: Mapping[str, float | None]) -> Verdict:
    """C5: OPZO(lam = best) - OPZO(lam = 0) >= 5 points on D1 (BP gate as C1, C2). `diff_d1`: that difference."""
    gates = bp_gates(bp_acc)
    if diff_d1 is None:
        return inconclusive("C5", "arm missing", gates=gates)
    return judge("C5", {f"d1: OPZO(lam best) - OPZO(lam 0) >= {C5_MIN_MOMENTUM_GAIN}":
                        diff_d1["value"] >= C5_MIN_MOMENTUM_GAIN},
                 {"d1 OPZO(lam best) - OPZO(lam 0) (points)": diff_d1, "lam best": lam_best}, gates=gates)


C5_ORIGINAL = "OPZO(lam = best) - OPZO(lam = 0) >= 5 points on D1"
C5_REASON = ("the +5 is not from the paper and D1 leaves little headroom; judged on D2 with 3 seed-paired runs "
             "(issue 14); the 'toward ZO' half is reported as measured, not judged")


def c5_amended(diff_d1: Diff | None, diff_d2: Diff | None, paired_d2: Sequence[float] | None,
               nomom_minus_zo_d2: Diff | None, opzo_minus_zo_d2: Diff | None, lam_best: float,
               bp_acc: Mapping[str, float | None]) -> Verdict:
    """Amended C5: mean over >= 3 seed-paired differences OPZO(lam best) - OPZO(lam 0) on D2 >= 5 points.
    `diff_d2`: that mean with its CI; `paired_d2`: the per-seed differences (points); the two ZO differences on D2
    feed the reported (not judged) 'toward ZO' numbers. The original C5 (D1) is recorded in `amended_from`."""
    original = c5_momentum(diff_d1, lam_best, bp_acc)
    gates = bp_gates(bp_acc)
    n = len(paired_d2 or ())
    if diff_d2 is None or n < C5_MIN_PAIRED_SEEDS:
        new = inconclusive("C5", f"D2 lam = 0 arm: {n} paired seed(s), needs >= {C5_MIN_PAIRED_SEEDS}", gates=gates)
        return amend(new, original, C5_ORIGINAL, C5_REASON)
    meas = {"d2 OPZO(lam best) - OPZO(lam 0) (points)": diff_d2,
            "d2 paired differences per seed (points)": [round(float(x), 2) for x in paired_d2], "lam best": lam_best}
    if nomom_minus_zo_d2 is not None and opzo_minus_zo_d2 is not None:
        gap = opzo_minus_zo_d2["value"]
        meas["d2 OPZO(lam 0) - ZO (points; 'toward ZO', reported)"] = nomom_minus_zo_d2
        meas["d2 share of the OPZO - ZO gap lost at lam 0 (reported)"] = (
            float(diff_d2["value"] / gap) if gap else float("nan"))
    new = judge("C5", {f"d2: mean paired OPZO(lam best) - OPZO(lam 0) >= {C5_MIN_MOMENTUM_GAIN}":
                       diff_d2["value"] >= C5_MIN_MOMENTUM_GAIN}, meas, gates=gates)
    return amend(new, original, C5_ORIGINAL, C5_REASON)


def c6_noise_robustness(accs: Mapping[str, float | None]) -> Verdict:
    """C6: max - min D1 accuracy (points, seed 0) over the noise kind x position variants <= 3 points.
    `accs[label]`: a variant's accuracy, None if it was not run (-> INCONCLUSIVE). Gate: the best variant
    reached GATE_MIN_BP_ACC (a small spread between untrained nets would be vacuous)."""
    missing = sorted(k for k, v in accs.items() if v is None)
    got = {k: float(v) for k, v in accs.items() if v is not None}
    if missing or not got:
        return inconclusive("C6", f"variants missing: {missing}", got)
    spread = max(got.values()) - min(got.values())
    meas = {"spread (points)": spread, **got}
    gate = at_least("best noise variant accuracy (points)", max(got.values()), GATE_MIN_BP_ACC)
    return judge("C6", {f"max - min <= {C6_MAX_SPREAD}": spread <= C6_MAX_SPREAD}, meas, gates=[gate])


def c7_cost(opzo_runs: Sequence[Mapping[str, float]], bp_runs: Sequence[Mapping[str, float]],
            T: Mapping[str, int], analytic: Mapping[str, float]) -> Verdict:
    """C7: on every dataset in `T` (ds -> time steps) and every OPZO run, forward calls per batch = T, no layer
    backward, requires_grad never seen on the hidden path; reports the BP / OPZO feedback-MAC ratio (counted on
    D1, and analytic) and the feedback-memory ratio. `*_runs`: train metrics of each seed's run."""
    if not opzo_runs or not bp_runs:
        return inconclusive("C7", "OPZO or BP training metrics missing")
    checks = {}
    for ds, t in T.items():
        checks[f"{ds}: forward calls per batch = T = {t}"] = all(m[f"{ds}_forward_calls_per_batch"] == t for m in opzo_runs)
        checks[f"{ds}: no backward pass through layers"] = all(m[f"{ds}_layer_backward_per_batch"] == 0 for m in opzo_runs)
        checks[f"{ds}: requires_grad off on the hidden path"] = all(m[f"{ds}_requires_grad_seen"] == 0 for m in opzo_runs)
    fb_op = float(np.mean([m["d1_feedback_macs_per_sample_step"] for m in opzo_runs]))
    fb_bp = float(np.mean([m["d1_feedback_macs_per_sample_step"] for m in bp_runs]))
    meas = {"feedback MACs / sample-step, BP (counted)": fb_bp,
            "feedback MACs / sample-step, OPZO (counted, g + M update)": fb_op,
            "BP / OPZO feedback-MAC ratio (counted)": fb_bp / fb_op,
            "BP / OPZO ratio, g = M e only (analytic)": analytic["bp"] / analytic["opzo_g_only"],
            "feedback memory BP / OPZO (analytic)": analytic["memory_bp"] / analytic["memory_opzo"]}
    return judge("C7", checks, meas, gates=[])
