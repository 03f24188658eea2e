"""Pre-registered criteria of RELAY's claims C1-C6 (sheet shared/papers/relay.md, "Claims and pass criteria").

Pure functions from measured numbers to a `Verdict`; report.py computes the numbers (accuracies in percentage
points, ID / OOD = mean over lengths 1..N / N+1..N+K) and the bootstrap CIs, then calls these judges. Fixed as code
before any comparison arm ran; nothing here reads a result to choose a threshold.

Every difference in a PASS condition also needs its 95 % bootstrap CI (over test problems, paired where the arms
share problems) to exclude 0: the CI of (difference - threshold) must lie above 0. ID floors are training checks
(gates): a miss gives INCONCLUSIVE. C2, C5 and C6 depend on C1 (gate "C1 PASS"); C3 on the vanilla floor.
`smoke` verdicts are computed and shown, then reported INCONCLUSIVE.
"""
from __future__ import annotations

from tasks.common.claims import INCONCLUSIVE, PASS, Gate, Verdict, at_least, judge

ID_FLOOR = 95.0          # AR / looped-aligned / RELAY-FT ID accuracy (pp)
VANILLA_FLOOR = 90.0     # vanilla looped ID (pp): below it vanilla "failed to train"
C1_GAP = 30.0            # AR OOD <= AR ID - 30
C2_MARGIN = 20.0         # looped OOD >= AR OOD + 20
C3_NOTABLY = 10.0        # aligned - vanilla OOD margin tagged "notably"
C4_TOKEN = 90.0          # looped chain token accuracy (%) at every length N+1..N+K/2
C5_GAIN = 20.0           # RELAY-FT OOD >= AR OOD + 20
C5_NEAR = 10.0           # RELAY-FT OOD >= looped OOD - 10
C6_MIN_RELAY_GAIN = 10.0  # RELAY-FT gain < 10: C6 uninformative


def lo_above(ci: dict | None, threshold: float) -> bool:
    """The 95 % CI {value, lo, hi} of a quantity lies above `threshold` (a missing CI fails)."""
    return ci is not None and ci.get("lo") is not None and ci["lo"] == ci["lo"] and ci["lo"] > threshold


def c1_gate(c1: Verdict) -> Gate:
    return Gate("C1 PASS (premise)", c1.verdict == PASS, c1.verdict, "PASS")


def c1_premise(ar_id: float, ar_ood: float, gap_ci: dict | None, extra: dict | None = None) -> Verdict:
    """gap_ci: bootstrap CI of AR ID - AR OOD (pp)."""
    meas = {"ar_id": ar_id, "ar_ood": ar_ood, "id_minus_ood": gap_ci, **(extra or {})}
    checks = {f"AR OOD <= AR ID - {C1_GAP:g}": ar_ood <= ar_id - C1_GAP,
              "CI of ID - OOD excludes 0": lo_above(gap_ci, 0.0)}
    v = judge("C1", checks, meas, [at_least("AR ID accuracy (pp)", ar_id, ID_FLOOR)])
    if v.verdict == "FAIL":
        v.reason = "premise not reproduced: " + v.reason
    return v


def c2_looped_vs_ar(looped_id: float, looped_ood: float, ar_ood: float, diff_ci: dict | None, c1: Verdict,
                    extra: dict | None = None) -> Verdict:
    """diff_ci: paired bootstrap CI of looped OOD - AR OOD (pp)."""
    meas = {"looped_id": looped_id, "looped_ood": looped_ood, "ar_ood": ar_ood, "looped_minus_ar_ood": diff_ci,
            **(extra or {})}
    checks = {f"looped OOD >= AR OOD + {C2_MARGIN:g}": looped_ood >= ar_ood + C2_MARGIN,
              "CI of (looped - AR OOD) excludes 0": lo_above(diff_ci, 0.0)}
    gates = [at_least("looped-aligned ID accuracy (pp)", looped_id, ID_FLOOR), c1_gate(c1)]
    return judge("C2", checks, meas, gates)


def c3_aligned_vs_vanilla(aligned_id: float, aligned_ood: float, vanilla_id: float, vanilla_ood: float,
                          diff_ci: dict | None, extra: dict | None = None) -> Verdict:
    """diff_ci: paired bootstrap CI of aligned OOD - vanilla OOD (pp)."""
    margin = aligned_ood - vanilla_ood
    meas = {"aligned_ood": aligned_ood, "vanilla_ood": vanilla_ood, "aligned_minus_vanilla_ood": diff_ci,
            "aligned_id": aligned_id, "vanilla_id": vanilla_id, **(extra or {})}
    checks = {"aligned OOD >= vanilla OOD": margin >= 0, "CI of (aligned - vanilla OOD) excludes 0":
              lo_above(diff_ci, 0.0)}
    gates = [at_least("vanilla looped ID accuracy (pp)", vanilla_id, VANILLA_FLOOR),
             at_least("looped-aligned ID accuracy (pp)", aligned_id, ID_FLOOR)]
    v = judge("C3", checks, meas, gates)
    if v.verdict == PASS:
        v.reason += f"; margin {margin:.1f} pp: " + ("notably (>= 10)" if margin >= C3_NOTABLY else "not 'notably' (< 10)")
    return v


def c4_chain_accuracy(looped_id: float, token_acc: dict[int, float], extra: dict | None = None) -> Verdict:
    """token_acc: looped chain token accuracy (%) at each length N+1..N+K/2 (the judged range)."""
    meas = {"looped_id": looped_id, **{f"token_acc_len{k}": v for k, v in token_acc.items()}, **(extra or {})}
    if not token_acc:
        checks = {"lengths N+1..N+K/2 measured": False}
    else:
        checks = {f"token accuracy >= {C4_TOKEN:g} % at length {k}": v >= C4_TOKEN for k, v in token_acc.items()}
    return judge("C4", checks, meas, [at_least("looped-aligned ID accuracy (pp)", looped_id, ID_FLOOR)])


def c5_relay(relay_id: float, relay_ood: float, ar_ood: float, looped_id: float, looped_ood: float,
             gain_ci: dict | None, near_ci: dict | None, c1: Verdict, extra: dict | None = None) -> Verdict:
    """gain_ci: paired CI of RELAY OOD - AR OOD; near_ci: paired CI of RELAY OOD - looped OOD (pp)."""
    meas = {"relay_ood": relay_ood, "ar_ood": ar_ood, "looped_ood": looped_ood, "relay_id": relay_id,
            "relay_minus_ar_ood": gain_ci, "relay_minus_looped_ood": near_ci, **(extra or {})}
    checks = {f"RELAY OOD >= AR OOD + {C5_GAIN:g}": relay_ood >= ar_ood + C5_GAIN,
              "CI of (RELAY - AR OOD) excludes 0": lo_above(gain_ci, 0.0),
              f"RELAY OOD >= looped OOD - {C5_NEAR:g}": relay_ood >= looped_ood - C5_NEAR,
              f"CI of (RELAY - looped OOD + {C5_NEAR:g}) excludes 0": lo_above(near_ci, -C5_NEAR),
              f"RELAY ID >= {ID_FLOOR:g}": relay_id >= ID_FLOOR}
    gates = [c1_gate(c1), at_least("looped-aligned ID accuracy (pp)", looped_id, ID_FLOOR)]
    return judge("C5", checks, meas, gates)


def c6_selfchain(self_gain: float, relay_gain: float, diff_ci: dict | None, c1: Verdict,
                 extra: dict | None = None) -> Verdict:
    """self_gain / relay_gain: OOD gains over AR (pp); diff_ci: paired CI of relay_gain / 2 - self_gain."""
    meas = {"selfchain_gain": self_gain, "relay_gain": relay_gain, "half_relay_minus_self_gain": diff_ci,
            **(extra or {})}
    checks = {"self-chain gain < 1/2 x RELAY gain": self_gain < 0.5 * relay_gain,
              "CI of (RELAY gain / 2 - self-chain gain) excludes 0": lo_above(diff_ci, 0.0)}
    gates = [c1_gate(c1), at_least("RELAY-FT OOD gain over AR (pp)", relay_gain, C6_MIN_RELAY_GAIN)]
    return judge("C6", checks, meas, gates)


def at_scale(v: Verdict, profile: str) -> Verdict:
    """smoke: the computed verdict is kept in the reason and reported INCONCLUSIVE."""
    if profile != "smoke" or v.verdict == INCONCLUSIVE:
        return v
    return Verdict(v.id, INCONCLUSIVE, f"smoke profile (computed {v.verdict}: {v.reason})", v.measured, v.checks,
                   v.gates)
