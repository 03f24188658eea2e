"""GRSNN: Temporal Spiking Neural Networks with Synaptic Delay for Graph Reasoning (arXiv 2405.16851).

Entities are populations of current-based LIF neurons; relations enter message passing only through learnable,
query-dependent synaptic delays. K1, a synthetic family-tree KG with known Horn rules, compares GRSNN with a
relation-blind ablation (nodelay), relation-via-weights, and a same-width NBFNet-lite; spikes and ops are counted.
Card: tasks/grsnn/README.md; sheet: shared/papers/grsnn.md.
"""
from tasks.common.registry import Claim, Paper, Stage, grid

from . import params as P

SEEDS = (0, 1, 2)
TRAIN_ITEMS = (grid(arm=("grsnn", "nodelay"), seed=SEEDS)          # G1: 3 seeds each (pooled std)
               + grid(arm=("nbfnet",), seed=(0, 1))                 # G2, G4
               + grid(arm=("weights",), seed=(0,)))                 # G1: relation via weights (reported)

PAPER = Paper(
    slug="grsnn",
    title="Temporal Spiking Neural Networks with Synaptic Delay for Graph Reasoning",
    citation="M. Xiao, Y. Zhu, D. He, Z. Lin, ICML 2024 (PMLR v235, xiao24f)",
    arxiv="2405.16851",
    summary="GRSNN (LIF populations per entity, relations only as query-dependent synaptic delays) vs its "
            "relation-blind ablation and NBFNet-lite on a synthetic family-tree KG: filtered MRR, counted "
            "spikes/ops energy, parameters and learned delays.",
    stages=(
        Stage("prepare", "tasks.grsnn.prepare:run", P.PrepareParams,
              desc="K1 family-tree KG, rule closure, 70/15/15 split, relation-blind ceiling"),
        Stage("train", "tasks.grsnn.train:run", P.TrainParams, after=("prepare",), items=TRAIN_ITEMS, curves=True,
              desc="one arm and seed through the shared trainer (best validation MRR kept)"),
        Stage("evaluate", "tasks.grsnn.evaluate:run", P.EvaluateParams, after=("prepare", "train"),
              desc="filtered pessimistic ranking, spikes, delivered-spike counts, delays, first spikes"),
        Stage("analyse", "tasks.grsnn.analyse:run", P.AnalyseParams, after=("evaluate",),
              desc="energy from counted ops, parameter counts, timing interpretation"),
        Stage("report", "tasks.grsnn.report:run", P.ReportParams, after=("prepare", "evaluate", "analyse"),
              report=True, desc="verdicts G1-G6, figures, report.md"),
    ),
    claims=(
        Claim("G1", "Learned delays carry the relational information: GRSNN beats the relation-blind GRSNN-nodelay "
              "by a large MRR margin.",
              "K1 test MRR(GRSNN) - MRR(nodelay) >= 0.15 and > 3 x pooled seed std (3 seeds each); GRSNN-weights "
              "and the relation-blind ceiling reported; INCONCLUSIVE if the sanity floor (GRSNN K1 test MRR >= 0.5) "
              "is missed"),
        Claim("G2", "GRSNN is competitive with a non-spiking NBFNet-style model of the same width, data and protocol.",
              "MRR(GRSNN) >= 0.85 x MRR(NBFNet-lite) on K1 (seed means); INCONCLUSIVE if the floor is missed or "
              "NBFNet-lite K1 MRR < 0.5"),
        Claim("G3", "Timing is interpretable: delays are shorter on the query's rule-body relations and answers "
              "spike first.",
              "for >= 70% of query relations mean delay(rule body) < mean delay(others) and in >= 70% of test "
              "queries the answer's first spike is strictly earlier than the median negative's (no spike = +inf)"),
        Claim("G4", "Spiking inference needs far less energy than the non-spiking counterpart (paper: about 20x).",
              "E_NBFNet-lite / E_GRSNN >= 5 from counted ops (0.9 pJ/AC, 4.6 pJ/MAC), with the measured firing rate"),
        Claim("G5", "GRSNN has about L x fewer parameters than an L-layer NBFNet.",
              "params(NBFNet-lite, L = 6) / params(GRSNN) >= 4 (analytic, K1 scale; FB15k-237 scale reported)"),
        Claim("G6", "(optional) Without entity embeddings GRSNN transfers to unseen entities.",
              "inductive K1 MRR >= 0.8 x transductive K1 MRR; not run here (INCONCLUSIVE with the reason)"),
    ),
    profiles=P.PROFILES,
    order=10,
)
