"""LarvSeg: Exploring Image Classification Data For Large Vocabulary Semantic Segmentation via Category-wise
Attentive Classifier (arXiv 2501.06862).

Synthetic textures replace COCO / ADE / ImageNet: 10 base classes with masks, 6 novel classes with image labels
only, and a context bias (a novel object usually sits on its paired base background). A tiny FCN with a cosine
head is trained as seg_only, the GAP-of-logits baseline, LarvSeg (baseline + category-wise attentive classifier
with per-class memory banks) and a full-mask oracle; dataset-level mIoU, one-point propagation and attention AUC.
Card: tasks/larvseg/README.md; sheet: shared/papers/larvseg.md.
"""
from tasks.common.registry import Claim, Paper, Stage, grid

from . import params as P

SEEDS = (0, 1, 2)
TRAIN_ITEMS = (grid(method=("seg_only", "oracle"), seed=(0,))               # bounds, one seed each
               + grid(method=("baseline", "larvseg"), seed=SEEDS))          # C2: 3 paired seeds

PAPER = Paper(
    slug="larvseg",
    title="LarvSeg: Exploring Image Classification Data For Large Vocabulary Semantic Segmentation via "
          "Category-wise Attentive Classifier",
    citation="H. Yu, D. Dai, Z. Zhao, D. He, H. Hu, L. Wang, PRCV 2024",
    arxiv="2501.06862",
    summary="Tiny FCN + cosine head on synthetic textures (10 base classes with masks, 6 novel with image labels, "
            "context bias): seg_only vs GAP-logit baseline vs LarvSeg's CA classifier vs oracle, dataset-level "
            "mIoU, one-point propagation, attention AUC.",
    stages=(
        Stage("prepare", "tasks.larvseg.prepare:run", P.PrepareParams,
              desc="seeded texture images with exact masks: D_seg, D_cls, D_val, D_test"),
        Stage("train", "tasks.larvseg.train:run", P.TrainParams, after=("prepare",), items=TRAIN_ITEMS, curves=True,
              desc="one method and seed through the shared trainer"),
        Stage("evaluate", "tasks.larvseg.evaluate:run", P.EvaluateParams, after=("prepare", "train"),
              desc="dataset-level mIoU (val, test), headroom, one-point propagation, attention AUC"),
        Stage("report", "tasks.larvseg.report:run", P.ReportParams, after=("train", "evaluate"), report=True,
              desc="verdicts C1-C3, L4, figures, report.md"),
    ),
    claims=(
        Claim("C1", "Image-level supervision on novel categories (GAP-of-logits CE) makes a closed-vocabulary "
              "segmenter segment them.",
              "mean novel mIoU(baseline) - novel mIoU(seg_only) >= 20 points on D_test; INCONCLUSIVE if the floor "
              "(seg_only base mIoU on D_test >= 50) is missed"),
        Claim("C2", "Adding the category-wise attentive classifier loss raises novel mIoU over the baseline "
              "without hurting base mIoU (paper: up to +6.0 A150, +2.1 A847; unverified).",
              "mean over 3 paired seeds of novel mIoU(larvseg) - novel mIoU(baseline) >= +2.0, positive in >= 2 of "
              "3 seeds, and base mIoU not lower by more than 1.0; INCONCLUSIVE if the floor is missed or the "
              "oracle - baseline novel gap on D_val < 15 (no headroom)"),
        Claim("C3", "A segmenter trained only on base masks groups novel pixels almost as well as base pixels.",
              "seg_only one-point propagation mIoU_novel >= 0.8 x mIoU_base and >= random-init propagation "
              "mIoU_novel + 5 (5 repeats, D_test); INCONCLUSIVE if the floor is missed"),
        Claim("L4", "(diagnostic) The CA attention concentrates on the labelled object.",
              "reported: per-image ROC-AUC of A (object vs background) on D_cls, mean over images and larvseg "
              "seeds; PASS if >= 0.8 (the sheet's expectation), FAIL below; INCONCLUSIVE if the floor is missed"),
    ),
    profiles=P.PROFILES,
    order=11,
)
