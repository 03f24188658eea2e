"""Pre-registered criteria of GRSNN's claims G1-G6 (sheet shared/papers/grsnn.md, "Claims and pass criteria").

Pure functions from measured numbers to a `Verdict`; report.py computes the numbers and calls these judges. Fixed as
code before any comparison arm ran; nothing here reads a result to choose a threshold. MRRs are filtered, with
pessimistic ties, on the K1 test queries (both directions). Kinships is not run, so its sub-points are absent.

Sanity floor (every claim but G5): GRSNN K1 test MRR (seed mean) >= 0.5; below it the run "failed to train".
G4's pre-registered ratio is the "core" one (message passing and per-node transforms; GRSNN's neuron-state updates
counted as ACs, shared per-query projections and the scorer excluded); the other three variants are reported.
`smoke` verdicts are computed and shown, then reported INCONCLUSIVE (sheet, Verdict rules).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tasks.common.claims import INCONCLUSIVE, Verdict, at_least, inconclusive, judge

FLOOR_MRR = 0.5              # GRSNN K1 test MRR (seed mean)
G1_MIN_GAP = 0.15            # MRR(GRSNN) - MRR(nodelay) >= 0.15
G1_STD_FACTOR = 3.0          # ... and > 3 x pooled seed std
G2_MIN_RATIO = 0.85          # MRR(GRSNN) >= 0.85 x MRR(NBFNet-lite)
G2_NBF_FLOOR = 0.5           # NBFNet-lite K1 MRR >= 0.5 (recommended gate)
G3_MIN_REL_SHARE = 0.70      # share of query relations with mean delay(rule body) < mean delay(others)
G3_MIN_QUERY_SHARE = 0.70    # share of test queries whose answer spikes strictly before the median negative
G4_MIN_RATIO = 5.0           # E_NBFNet-lite / E_GRSNN (core ops)
G5_MIN_RATIO = 4.0           # params(NBFNet-lite, L = 6) / params(GRSNN), analytic


def floor_gate(grsnn_mrr_mean: float | None):
    return at_least("GRSNN K1 test MRR (seed mean)", grsnn_mrr_mean, FLOOR_MRR)


def pooled_std(a: Sequence[float], b: Sequence[float]) -> float:
    """sqrt((s_a^2 + s_b^2) / 2) over per-seed values (ddof = 1); nan with fewer than 2 seeds in either."""
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    return float(math.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / 2))


def g1_delay(grsnn: Sequence[float], nodelay: Sequence[float], extra: dict | None = None) -> Verdict:
    """grsnn / nodelay: per-seed K1 test MRRs. extra: reported numbers (weights arm, ceiling, gap CI)."""
    gate = floor_gate(float(np.mean(grsnn)) if len(grsnn) else None)
    if not len(grsnn) or not len(nodelay):
        return inconclusive("G1", "an arm is missing (GRSNN or nodelay)", dict(extra or {}), [gate])
    gap, ps = float(np.mean(grsnn) - np.mean(nodelay)), pooled_std(grsnn, nodelay)
    meas = {"mrr_gap": gap, "pooled_seed_std": ps, "mrr_grsnn": float(np.mean(grsnn)),
            "mrr_nodelay": float(np.mean(nodelay)), **(extra or {})}
    checks = {f"gap >= {G1_MIN_GAP}": gap >= G1_MIN_GAP, f"gap > {G1_STD_FACTOR:g} x pooled seed std":
              bool(gap > G1_STD_FACTOR * ps)}
    return judge("G1", checks, meas, [gate], unmeasurable=None if ps == ps else "pooled seed std (< 2 seeds per arm)")


def g2_competitive(grsnn_mean: float | None, nbf_mean: float | None, extra: dict | None = None) -> Verdict:
    gates = [floor_gate(grsnn_mean), at_least("NBFNet-lite K1 test MRR (seed mean)", nbf_mean, G2_NBF_FLOOR)]
    if grsnn_mean is None or nbf_mean is None:
        return inconclusive("G2", "an arm is missing (GRSNN or NBFNet-lite)", dict(extra or {}), gates)
    ratio = grsnn_mean / nbf_mean if nbf_mean > 0 else float("nan")
    meas = {"mrr_ratio": ratio, "mrr_grsnn": grsnn_mean, "mrr_nbfnet": nbf_mean, **(extra or {})}
    return judge("G2", {f"MRR ratio >= {G2_MIN_RATIO}": ratio >= G2_MIN_RATIO}, meas, gates)


def g3_timing(grsnn_mean: float | None, rel_share: float | None, n_rels: int, query_share: float | None,
              extra: dict | None = None) -> Verdict:
    gate = floor_gate(grsnn_mean)
    meas = {"share_relations_body_shorter": rel_share, "n_query_relations": n_rels,
            "share_queries_answer_spikes_first": query_share, **(extra or {})}
    if rel_share is None or query_share is None or n_rels == 0:
        return inconclusive("G3", "delays or first-spike times missing", meas, [gate])
    checks = {f"relations with shorter rule-body delays >= {G3_MIN_REL_SHARE:.0%}": rel_share >= G3_MIN_REL_SHARE,
              f"queries whose answer spikes first >= {G3_MIN_QUERY_SHARE:.0%}": query_share >= G3_MIN_QUERY_SHARE}
    return judge("G3", checks, meas, [gate])


def g4_energy(grsnn_mean: float | None, ratio_core: float | None, firing_rate: float | None,
              extra: dict | None = None) -> Verdict:
    gate = floor_gate(grsnn_mean)
    meas = {"energy_ratio_core": ratio_core, "firing_rate": firing_rate, **(extra or {})}
    if ratio_core is None or firing_rate is None:
        return inconclusive("G4", "op counts missing", meas, [gate])
    return judge("G4", {f"E_NBFNet-lite / E_GRSNN >= {G4_MIN_RATIO:g}": ratio_core >= G4_MIN_RATIO}, meas, [gate])


def g5_params(ratio_k1: float, extra: dict | None = None) -> Verdict:
    return judge("G5", {f"params ratio (K1 scale) >= {G5_MIN_RATIO:g}": ratio_k1 >= G5_MIN_RATIO},
                 {"params_ratio_k1": ratio_k1, **(extra or {})})


def g6_inductive(transductive_mrr: float | None = None) -> Verdict:
    """Optional claim, not run: the transductive MRR (the criterion's denominator) is reported, the inductive one
    is missing."""
    return inconclusive("G6", "optional claim not run: the inductive K1 split (6 training, 2 unseen families) is not "
                        "built in this reproduction", {"transductive_mrr_grsnn": transductive_mrr,
                                                       "inductive_mrr_grsnn": None})


def at_scale(v: Verdict, profile: str) -> Verdict:
    """smoke: the computed verdict is kept in the reason and reported INCONCLUSIVE."""
    if profile != "smoke" or v.verdict == INCONCLUSIVE:
        return v
    return Verdict(v.id, INCONCLUSIVE, f"smoke profile (computed {v.verdict}: {v.reason})", v.measured, v.checks,
                   v.gates)
