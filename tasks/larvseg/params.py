"""Typed params of the LarvSeg pipeline (arXiv 2501.06862; protocol in shared/papers/larvseg.md).

Defaults are the `default` profile (2 CPU cores, minutes); PROFILES overrides size knobs only. The data knobs rho
(context bias) and the object-size range were calibrated once on D_val (baseline vs oracle novel-mIoU gap >= 15,
README "Calibration") and frozen here before any baseline-vs-larvseg comparison ran.
"""
from __future__ import annotations

from pydantic import Field, model_validator

from tasks.common.schema import StageParams


class PrepareParams(StageParams):
    seed: int = Field(0, ge=0, description="data seed (each split salts its own stream)")
    n_seg: int = Field(4000, ge=16, le=100_000, description="D_seg images (base classes, full masks)")
    n_cls: int = Field(4000, ge=16, le=100_000, description="D_cls images (one novel object, image label only)")
    n_val: int = Field(300, ge=16, le=20_000, description="D_val images (every development choice)")
    n_test: int = Field(600, ge=16, le=20_000, description="D_test images (ADE-like, full masks)")
    rho: float = Field(0.7, ge=0, le=1, description="context bias: share of a novel class's D_cls images on its "
                                                     "paired base context class (calibrated on D_val, frozen)")
    obj_min: float = Field(0.15, gt=0, lt=1, description="object area / image area, lower end (calibrated, frozen)")
    obj_max: float = Field(0.40, gt=0, lt=1, description="object area / image area, upper end (calibrated, frozen)")
    eval_context: float = Field(0.5, ge=0, le=1, description="D_val/D_test: share of images with a context region "
                                                              "whose novel object is absent")
    noise: float = Field(0.15, ge=0, le=1, description="pixel noise sigma")

    @model_validator(mode="after")
    def _sizes(self):
        if self.obj_min > self.obj_max:
            raise ValueError("prepare.obj_min must be <= prepare.obj_max")
        return self


METHODS = ("seg_only", "baseline", "larvseg", "oracle", "ca_only", "larvseg_fg_only")


class TrainParams(StageParams):
    seed: int = Field(0, ge=0, description="base seed; the item's seed is salted in (same init/order per seed)")
    steps: int = Field(700, ge=1, le=100_000, description="optimiser steps (sheet: 700 default, 1000 full)")
    batch: int = Field(16, ge=2, le=512, description="D_seg images per step (and as many D_cls images)")
    lr: float = Field(2e-3, gt=0, le=1, description="AdamW peak learning rate, cosine decay")
    warmup: int = Field(20, ge=0, le=10_000, description="linear warm-up steps")
    width: int = Field(24, ge=4, le=256, description="channels of the first conv")
    channels: int = Field(32, ge=4, le=256, description="channels of the stride-2 and dilated convs")
    dim: int = Field(32, ge=4, le=256, description="embedding dimension D")
    dil1: int = Field(1, ge=1, le=8, description="dilation of the first dilated conv (sheet: 2; 1 chosen on D_val, README)")
    dil2: int = Field(2, ge=1, le=8, description="dilation of the second dilated conv (sheet: 4; 2 chosen on D_val, README)")
    w_basic: float = Field(0.2, ge=0, le=10, description="weight of the GAP-logit image loss (paper 0.1-0.2)")
    w_ca: float = Field(0.1, ge=0, le=10, description="weight of the CA-classifier loss (paper 0.1-0.2)")
    slots: int = Field(16, ge=1, le=1024, description="memory-bank slots M per class")
    topk: int = Field(8, ge=1, le=256, description="pixels k enqueued per image (16x16 map = 256 pixels)")
    warm_up: int = Field(1, ge=1, le=100, description="a bank is used once filled this many times")
    bg_score: float = Field(0.35, ge=-1, le=1, description="background class: mean top-5 pixel score above this")
    bg_mse: float = Field(2.0, ge=0, le=8, description="background class kept if standardised fg/bg-map MSE above")
    ca_start_frac: float = Field(0.0, ge=0, lt=1, description="CA loss off for this share of the steps (sheet: 0)")

    @model_validator(mode="after")
    def _topk(self):
        if self.topk > 256:
            raise ValueError("train.topk must be <= 256 (pixels of the 16x16 feature map)")
        return self


class EvaluateParams(StageParams):
    seed: int = Field(0, ge=0, description="seed of the propagation seed pixels and the random-init control net")
    prop_repeats: int = Field(5, ge=1, le=100, description="one-point propagation repeats (different seed pixels)")
    auc_images: int = Field(512, ge=1, le=100_000, description="D_cls images for the attention ROC-AUC (L4)")
    batch: int = Field(200, ge=1, le=10_000, description="images per evaluation forward")


class ReportParams(StageParams):
    seed: int = Field(0, ge=0, description="seed of the bootstrap over test images")
    n_boot: int = Field(1000, ge=100, le=100_000, description="bootstrap resamples of D_test images")


PROFILES = {
    "smoke": {
        "prepare": {"n_seg": 256, "n_cls": 256, "n_val": 64, "n_test": 64},
        "train": {"steps": 30, "warmup": 5, "slots": 2},
        "evaluate": {"prop_repeats": 2, "auc_images": 32},
        "report": {"n_boot": 100},
    },
    "full": {"train": {"steps": 1000}},
}
