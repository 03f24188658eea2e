"""MDM: "Theoretical Benefit and Limitation of Diffusion Language Model" (Feng, Geng, Guan, Wu, Wang, He;
arXiv 2502.09622, NeurIPS 2025). The paper card; the protocol is shared/papers/mdm.md, the README is the card for
people. Stages: prepare -> sweep (exact/noisy oracle grids) and prepare -> train@{dense,sparse} -> evaluate
(trained grid); both -> report.
"""
from tasks.common.registry import Claim, Paper, Stage, grid

from . import params as P


PAPER = Paper(
    slug="mdm",
    title="Theoretical Benefit and Limitation of Diffusion Language Model",
    citation="Feng, Geng, Guan, Wu, Wang, He. NeurIPS 2025",
    arxiv="2502.09622",
    summary="Masked diffusion LMs reach near-optimal per-token quality (TER) in a number of steps independent of "
            "the length L, but a low sequence error rate (SER) needs steps linear in L.",
    stages=(
        Stage("prepare", "tasks.mdm.prepare:run", P.PrepareParams,
              desc="dense and sparse bigram languages with exact entropies"),
        Stage("sweep", "tasks.mdm.sweep:run", P.SweepParams, after=("prepare",),
              desc="exact-oracle and noisy-oracle L x N grids, both samplers"),
        Stage("train", "tasks.mdm.train:run", P.TrainParams, after=("prepare",),
              items=grid(language=("dense", "sparse")),
              curves=True,
              desc="tiny bidirectional MDM (MDLM objective) on one language"),
        Stage("evaluate", "tasks.mdm.evaluate:run", P.EvaluateParams, after=("prepare", "train"),
              desc="trained-model L x N grid, both samplers"),
        Stage("report", "tasks.mdm.report:run", P.ReportParams, after=("sweep", "evaluate"), report=True,
              desc="verdicts C1-C4, figures, claims.json, report.md"),
    ),
    claims=(
        Claim("C1", "At fixed N, the per-token gap Δ_TER is flat in L: N*_TER does not depend on L (log-log slope ≈ 0).",
              "PC1 (oracle, dense, Bernoulli): (a) Δ decreases in N, Spearman ρ ≤ -0.9 for every L; (b) for N in "
              "{8,16,32,64}: Δ(N,L_max) ≤ 1.2·Δ(N,L_min) + 3 pooled SE; (c) N*_TER(0.05) agrees across L within one "
              "grid step and the OLS slope of log2 N* on log2 L is in [-0.2, 0.2]."),
        Claim("C2", "N*_SER grows linearly in L (slope ≈ 1); SER at fixed N/L is flat in L; SER at fixed N → 1 as L grows.",
              "PC2 (oracle, sparse): (a) for N in {16,32,64}, SER increases from L to 4L with separated Wilson CIs "
              "(pairs with SER(L) ≥ 0.95 skipped); (b) slope of log2 N*_SER(0.5) on log2 L in [0.8, 1.2], bootstrap "
              "CI excluding 0; (c) fixed-count schedule, N/L in {1/4, 1/2}: max-min SER across L ≤ 0.08."),
        Claim("C3", "The speed-up over AR, L/N*, grows ∝ L for TER and stays O(1) for SER.",
              "PC3: N*_SER/N*_TER grows by ≥ 4x from the smallest to the largest L (64 → 512 at the default profile)."),
        Claim("C4", "C1 and C2 hold qualitatively for a trained tiny MDM, above its learning-error floor.",
              "PC4: PC1 (ε = 0.1) and PC2 with every tolerance doubled on L in {16,32,64}. Gate: Δ_TER ≤ 0.1 at "
              "fixed-count N = L for every L and SER ≤ 0.2 at L = 16, N = L (fixed-count); gate fails → INCONCLUSIVE."),
    ),
    profiles=P.PROFILES,
    order=1,
)
