"""RELAY: Enhancing Auto-regressive Chain-of-Thought through Loop-Aligned Reasoning (arXiv 2502.08482).

A looped (weight-shared, bidirectional) transformer whose iteration t is trained to emit CoT round t writes CoT
chains for problems longer than any it was trained on; an auto-regressive CoT model fine-tuned on those chains
generalises in length. ARI-lite (modular-arithmetic chains in Z_11) at CPU scale.
Card: tasks/relay/README.md; sheet: shared/papers/relay.md.
"""
from tasks.common.registry import Claim, Paper, Stage, grid

from . import params as P

PAPER = Paper(
    slug="relay",
    title="Enhancing Auto-regressive Chain-of-Thought through Loop-Aligned Reasoning (RELAY)",
    citation="Q. Yu, Z. He, S. Li, X. Zhou, J. Zhang, J. Xu, D. He, arXiv 2502.08482 (2025); EACL 2026",
    arxiv="2502.08482",
    summary="AR-CoT vs loop-aligned and vanilla looped transformers on modular-arithmetic chains (train 1..6 ops, "
            "test 7..12); the aligned looped model writes chains for longer problems and an AR model fine-tuned on "
            "them (RELAY) is compared with fine-tuning on its own answer-filtered chains.",
    stages=(
        Stage("prepare", "tasks.relay.prepare:run", P.PrepareParams,
              desc="ARI-lite problems: train 1..N (∝ #ops), test 1..N+K, Stage-II and self-chain sets, disjoint"),
        Stage("train_ar", "tasks.relay.train_ar:run", P.TrainARParams, after=("prepare",), curves=True,
              desc="causal AR-CoT transformer (RoPE, KV cache) through the shared trainer"),
        Stage("train_looped", "tasks.relay.train_looped:run", P.TrainLoopedParams, after=("prepare",),
              items=grid(arm=("aligned", "vanilla")), curves=True,
              desc="looped transformer: loop-aligned (L_ans + lambda L_iter) or vanilla (L_ans only)"),
        Stage("generate_chains", "tasks.relay.generate_chains:run", P.ChainsParams, after=("prepare", "train_looped"),
              desc="Stage II: the aligned looped model writes CoT chains for the OOD Stage-II problems"),
        Stage("finetune", "tasks.relay.finetune:run", P.FinetuneParams,
              after=("prepare", "train_ar", "generate_chains"), items=grid(arm=("relay", "selfchain")), curves=True,
              desc="RELAY-FT on looped chains + original data, or self-chain phases filtered by the GT answer"),
        Stage("evaluate", "tasks.relay.evaluate:run", P.EvaluateParams,
              after=("prepare", "train_ar", "train_looped", "finetune"),
              desc="per-length answer and chain accuracy of every arm on the test problems, hit matrices"),
        Stage("report", "tasks.relay.report:run", P.ReportParams, after=("prepare", "generate_chains", "finetune",
                                                                          "evaluate"),
              report=True, desc="verdicts C1-C6, figures, claims.json, report.md"),
    ),
    claims=(
        Claim("C1", "Premise: AR-CoT trained on <= N operators is near-perfect in distribution and drops markedly on "
              "N+1..N+K.",
              "AR ID >= 95 and AR OOD <= AR ID - 30 (bootstrap CI of ID - OOD excluding 0); INCONCLUSIVE if AR ID < 95"),
        Claim("C2", "The loop-aligned looped transformer generalises in length far better than AR-CoT.",
              "looped ID >= 95 and looped OOD >= AR OOD + 20 (paired CI excluding 0); INCONCLUSIVE if looped ID < 95 "
              "or C1 not PASS"),
        Claim("C3", "Loop alignment beats the vanilla (answer-only) looped transformer OOD, notably.",
              "aligned OOD >= vanilla OOD (paired CI of the difference excluding 0), tagged 'notably' if the margin "
              "is >= 10; INCONCLUSIVE if vanilla ID < 90 or aligned ID < 95"),
        Claim("C4", "The aligned looped model's CoT rounds stay accurate out of distribution.",
              "looped chain token accuracy >= 90 % at every length N+1..N+K/2; full curve and hit matrices reported; "
              "INCONCLUSIVE if looped ID < 95"),
        Claim("C5", "(main) AR fine-tuned on the looped model's chains for N+1..N+K (+ original data) gains "
              "substantially OOD, nears the looped model and keeps its ID accuracy.",
              "RELAY-FT OOD >= AR OOD + 20 and >= looped OOD - 10 (paired CIs excluding 0) and RELAY-FT ID >= 95; "
              "INCONCLUSIVE if C1 not PASS or looped ID < 95"),
        Claim("C6", "Fine-tuning on the AR model's own chains filtered by the ground-truth answer helps only slightly.",
              "self-chain OOD gain over AR < 1/2 x RELAY-FT OOD gain (paired CI excluding 0); INCONCLUSIVE if C1 not "
              "PASS or the RELAY-FT gain < 10"),
    ),
    profiles=P.PROFILES,
    order=11,
)
