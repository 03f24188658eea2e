"""PIE: Positional Integrity Encoding, "Let the Code LLM Edit Itself When You Edit the Code" (arXiv 2407.03157).

A tiny RoPE decoder LM trained on synthetic mini-repo code; insertion, deletion and multi-place edits; full and
suffix recomputation, conflict fast encoding, PIE and a stale cache compared from one pre-edit KV cache; update
FLOPs and wall clock with a length sweep on a random-init timing model. Card: tasks/pie/README.md; sheet:
shared/papers/pie.md.
"""
from tasks.common.registry import Claim, Paper, Stage

from . import params as P


PAPER = Paper(
    slug="pie",
    title="Let the Code LLM Edit Itself When You Edit the Code (Positional Integrity Encoding)",
    citation="Z. He, J. Zhang, S. Luo, J. Xu, Z. Zhang, D. He, ICLR 2025",
    arxiv="2407.03157",
    summary="PIE repairs a KV cache after a code edit by rotating every suffix key by R_Delta in every layer: "
            "accuracy vs full recomputation and naive reuse, key cosines, KL, and update FLOPs / latency.",
    stages=(
        Stage("prepare", "tasks.pie.prepare:run", P.PrepareParams,
              desc="synthetic mini-repo training corpus and insertion / deletion / edition instances"),
        Stage("train", "tasks.pie.train:run", P.TrainParams, after=("prepare",), curves=True,
              desc="tiny RoPE decoder LM, LM loss on whole files"),
        Stage("evaluate", "tasks.pie.evaluate:run", P.EvaluateParams, after=("prepare", "train"),
              desc="EM / ES / agreement / KL / key cosines / update FLOPs and latency of each method"),
        Stage("benchmark", "tasks.pie.benchmark:run", P.BenchmarkParams,
              desc="update FLOPs and wall clock vs context length on a random-init timing model"),
        Stage("report", "tasks.pie.report:run", P.ReportParams, after=("evaluate", "benchmark"), report=True,
              desc="verdicts P1-P4, figures, report.md"),
    ),
    claims=(
        Claim("P1", "On insertion, deletion and multi-place edits PIE's EM/ES is within about 1-2 points of full "
              "recomputation.",
              "per task: |EM_PIE - EM_full| <= 2.0 and |ES_PIE - ES_full| <= 2.0, paired-bootstrap 95 % CI of each "
              "difference inside +-3 points; gate: full-recompute EM on unedited contexts >= 50 % (else "
              "INCONCLUSIVE); sanity: EM_full - EM_stale >= 20 points on every task (else INCONCLUSIVE)"),
        Claim("P2", "Naive reuse (Conflict Fast Encoding) is far worse than full recomputation (temporal confusion).",
              "EM_conflict <= EM_full - 10 points on insertion and on deletion (same gate as P1); a position-"
              "insensitive tiny model gives FAIL ('not reproduced')"),
        Claim("P3", "PIE's cache update costs >= 85 % less than full recomputation (FLOPs and wall clock) at realistic "
              "lengths.",
              "update-FLOPs reduction >= 85 % for every task (trained model) and at every sweep length n' >= 512; "
              "median wall-clock reduction >= 85 % at every sweep length n' >= 512 (timing model); PIE vs suffix "
              "recomputation reported"),
        Claim("P4", "PIE's keys stay close to recomputed keys in every layer, naive reuse's do not; PIE's next-token "
              "KL to full is tiny.",
              "per task: layer-1 cosine(PIE, full) >= 1 - 1e-6; mean over layers >= 0.95 for PIE and <= PIE's - 0.05 "
              "for conflict; KL_PIE <= KL_conflict / 10"),
    ),
    profiles=P.PROFILES,
    order=3,
)
