"""Precision: "How Numerical Precision Affects Arithmetical Reasoning Capabilities of LLMs" (Feng, Yang, Gu, Ai, Luo,
Sun, He, Li, Wang; arXiv 2410.13857, Findings of ACL 2025). The paper card; the protocol is
shared/papers/precision.md, the README is the card for people.

Stages: mechanism (exact counting-by-averaging thresholds and hand-built circuits); prepare -> train@{fp32, fq8, fq4,
bf16_pure} -> evaluate (accuracy per k per arm) and quantize (int8/int4 PTQ of the fp32 models); all -> report.
"""
from tasks.common.registry import Claim, Paper, Stage, grid

from . import params as P


PAPER = Paper(
    slug="precision",
    title="How Numerical Precision Affects Arithmetical Reasoning Capabilities of LLMs",
    citation="Feng, Yang, Gu, Ai, Luo, Sun, He, Li, Wang. Findings of ACL 2025",
    arxiv="2410.13857",
    summary="Constant-precision transformers cannot solve iterated addition or multiplication at polynomial size "
            "(counting needs ~log2 m significand bits), while addition stays easy; standard (fp32) precision suffices.",
    stages=(
        Stage("mechanism", "tasks.precision.mechanism:run", P.MechanismParams,
              desc="exact m_max(b) of counting by averaging, both accumulation variants; ADD/IterADD/MUL circuits"),
        Stage("prepare", "tasks.precision.prepare:run", P.PrepareParams,
              desc="data spec and fixed IterADD test sets, one per k"),
        Stage("train", "tasks.precision.train:run", P.TrainParams, after=("prepare",), items=grid(arm=P.ARMS),
              curves=True, desc="tiny causal decoder on mixed-k base-2 IterADD, one precision arm"),
        Stage("evaluate", "tasks.precision.evaluate:run", P.EvaluateParams, after=("prepare", "train"),
              desc="greedy exact-match accuracy per k, per arm and seed (Wilson CIs)"),
        Stage("quantize", "tasks.precision.quantize:run", P.QuantizeParams, after=("prepare", "train"),
              desc="post-training int8/int4 weight quantisation of the fp32 models, accuracy per k"),
        Stage("report", "tasks.precision.report:run", P.ReportParams, after=("mechanism", "evaluate", "quantize"),
              report=True, desc="verdicts P-mech, P3, P1, P2; figures, claims.json, report.md"),
    ),
    claims=(
        Claim("P-mech", "With b significand bits, m_max(b) (largest m for which a uniform attention average over m "
              "binary inputs still decodes the exact count) is finite and grows ≈ 2^b, independent of n: constant "
              "precision cannot count (Majority); b ≈ log2 m + O(1) can.",
              "(amended, issue 12) m_max(b) finite for all b ≤ 11 for both accumulation variants; fp32 accumulation: "
              "strictly increasing in b and OLS slope of log2 m_max on b in [0.6, 1.4]; low-precision accumulation: "
              "a rising trend, Spearman ρ(b, m_max) ≥ 0.9, and slope > 0.3 (per-add rounding: ≈ ×√2 per bit); fp32 "
              "shows no failure up to m = 4096; ADD carry-lookahead construction 100% correct for every b ≥ 3 and "
              "n ≤ 64. Pre-registered original (strictly increasing for both variants) in amended_from."),
        Claim("P3", "Standard precision suffices at small size: a fixed-size fp32 model reaches ≥ 95% on all tasks "
              "at the tested scales (a validity gate, not evidence for the theorem).",
              "fp32 arm ≥ 95% exact match for every k (pooled over seeds); if not, P1 and P2 are INCONCLUSIVE "
              "(under-trained), not FAIL."),
        Claim("P1", "ADD is precision-robust: acc_low ≈ acc_fp32 within 5 pp.",
              "at k=2: |acc_fp32 − acc_fq4| ≤ 5 pp, or the Wilson CIs overlap. Gates (amended, issue 12): fp32 "
              "≥ 95% at k=2, the only k P1 uses (originally the P3 gate over every k, in amended_from); if even k=2 "
              "collapses under fq4 (acc_fq4(2) < 50%) → INCONCLUSIVE (precision too low for the AC⁰ control at this "
              "scale)."),
        Claim("P2", "IterADD is precision-fragile: the gap g(k) = acc_fp32 − acc_low grows with the number of "
              "summands k; the difference-in-differences g(k_max) − g(2) > 0 with a CI excluding 0.",
              "g(k) increasing in k: Spearman ρ ≥ 0.7; g(8) − g(2) ≥ 15 pp with bootstrap 95% CI excluding 0; "
              "≥ 2 seeds agree in sign (positive). Primary low-precision arm: fq4. INCONCLUSIVE if the P3 gate fails "
              "or the k=2 control collapses under fq4."),
    ),
    profiles=P.PROFILES,
    order=2,
)
