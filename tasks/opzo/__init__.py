"""OPZO: Online Pseudo-Zeroth-Order Training of Neuromorphic Spiking Neural Networks (arXiv 2407.12516).

Small FC-LIF networks trained online (OTTT_A) on sklearn digits (D1) and a synthetic event-based N-Digits (D2)
with online spatial BP, DFA, single-point ZO and OPZO, identical except for the hidden-layer learning signal.
Card: tasks/opzo/README.md; sheet: shared/papers/opzo.md.
"""
from tasks.common.registry import Claim, Paper, Stage, grid

from . import params as P

SEEDS = (0, 1, 2)
TRAIN_ITEMS = (
    grid(arm=("bp", "dfa", "zo", "opzo"), seed=SEEDS)                                   # D1 + D2, 3 seeds
    + grid(arm=("opzo_nomom", "readout"), seed=SEEDS)                                   # C5, C2 headroom; D1 + D2
    + grid(arm=("opzo_rad", "opzo_sph", "opzo_pre", "opzo_radpre", "opzo_sphpre"), seed=(0,))   # C6, D1
    + grid(arm=("zo_base",), seed=(0,))                                                 # addition, D1
)
CONV_ITEMS = grid(arm=("bp", "dfa", "zo", "opzo"), seed=SEEDS)                          # C3 conv-LIF, D1

PAPER = Paper(
    slug="opzo",
    title="Online Pseudo-Zeroth-Order Training of Neuromorphic Spiking Neural Networks",
    citation="M. Xiao, Q. Meng, Z. Zhang, D. He, Z. Lin (+ D. Li in the ICLR version), ICLR 2026",
    arxiv="2407.12516",
    summary="OPZO (noise injection + momentum feedback matrices) vs online BP, DFA and single-point ZO on small "
            "FC-LIF nets: accuracy, gradient alignment/variance and counted feedback cost.",
    stages=(
        Stage("prepare", "tasks.opzo.prepare:run", P.PrepareParams, data=True,
              desc="D1 digits and the synthetic event-based N-Digits, stratified splits"),
        Stage("tune", "tasks.opzo.tune:run", P.TuneParams, after=("prepare",),
              desc="OPZO lam x alpha grid on the D1 validation split (frozen for train)"),
        Stage("train", "tasks.opzo.train:run", P.TrainParams, after=("prepare", "tune"), items=TRAIN_ITEMS, curves=True,
              desc="online training of one arm and seed"),
        Stage("train_conv", "tasks.opzo.train_conv:run", P.ConvTrainParams, after=("prepare", "tune"),
              items=CONV_ITEMS, curves=True, desc="conv-LIF arm of C3 on D1: one arm and seed"),
        Stage("evaluate", "tasks.opzo.evaluate:run", P.EvaluateParams, after=("prepare", "tune", "train", "train_conv"),
              desc="test accuracy, gradient probes, counted cost"),
        Stage("report", "tasks.opzo.report:run", P.ReportParams, after=("evaluate",), report=True,
              desc="verdicts C1-C7, figures, report.md"),
    ),
    claims=(
        Claim("C1", "OPZO accuracy is within a small margin of online spatial BP (same net, data, T, budget); "
              "paper: +0.1 (FC), -1.4 to -4.3 (conv).",
              "mean OPZO acc >= mean BP-online acc - 3.0 points on D1 and on D2"),
        Claim("C2", "OPZO beats single-point ZO by a large margin (paper: +25 on N-MNIST).",
              "OPZO - ZO_sp >= 15 points on D1 and on D2"),
        Claim("C3", "OPZO >= DFA (small gap for FC, large for conv).",
              "FC: OPZO >= DFA - 1.0. Conv (if run): OPZO > DFA, else 'not reproduced at this scale'. "
              "Do not claim C3 from FC alone"),
        Claim("C4", "OPZO's hidden-layer gradient estimate has variance orders of magnitude below ZO_sp, comparable "
              "to BP, and a far better cosine to the BP gradient.",
              "for every hidden layer at mid-training: median cosine to BP of OPZO >= 5 x ZO_sp's, and OPZO "
              "relative variance <= 1/10 of ZO_sp's"),
        Claim("C5", "Momentum is essential: lam = 0 (raw single-step Jacobian estimate) degrades toward ZO_sp.",
              "OPZO(lam = best) - OPZO(lam = 0) >= 5 points on D1"),
        Claim("C6", "Gaussian / Rademacher / sphere noise, injected pre or post, give similar accuracy "
              "(paper spread about 2 points).",
              "max - min accuracy over the noise/position variants <= 3 points"),
        Claim("C7", "Exactly one forward pass per sample per time step and no backward pass through layers; feedback "
              "MACs and memory sum_l n_l m vs BP's sum_l n_(l+1) n_l.",
              "forward-call count = T per batch; no autograd backward through hidden layers (requires_grad off on "
              "the OPZO hidden path); report the BP/OPZO feedback-MAC ratio"),
    ),
    profiles=P.PROFILES,
    order=4,
)
