"""Typed params of the BUSGen pipeline (Yu et al., arXiv 2501.06869; protocol in shared/papers/busgen.md).

Defaults are the `default` profile (2 CPU cores, minutes); PROFILES overrides size knobs only. The simulator knob
`sep` was calibrated once (development time, sheet "Calibration") and then frozen.
"""
from __future__ import annotations

from pydantic import Field, model_validator

from tasks.common.schema import StageParams


class PrepareParams(StageParams):
    seed: int = Field(0, ge=0, description="base seed; every set has its own salted stream")
    size: int = Field(16, ge=8, le=32, description="crop size in pixels (multiple of 4; sheet: 16, 24 if affordable)")
    sep: float = Field(0.3, ge=0, le=6, description="class separation of the latent severity s (frozen after calibration)")
    pool: int = Field(20000, ge=200, description="pretraining pool (devices A/B/C equal, 50 % benign)")
    dcis_frac: float = Field(0.15, gt=0, lt=1, description="share of DCIS-like among pool malignant")
    fewshot: int = Field(32, ge=4, le=512, description="few-shot images per class (device A, benign / DCIS)")
    val: int = Field(64, ge=8, description="val images per class (device A)")
    test_a: int = Field(1000, ge=20, description="device-A test images per class")
    test_other: int = Field(500, ge=20, description="test images per class on each of devices B, C, D")
    busi: int = Field(1000, ge=20, description="benign-vs-malignant (BUSI-like, pool mix) test images per class")
    heldout: int = Field(32, ge=4, description="held-out real device-A task images per class (privacy non-members)")
    real_task: int = Field(20000, ge=64, description="real device-A task images for the calibration reference classifier")
    copies: int = Field(16, ge=1, le=64, description="re-speckled copies per adaptation image (privacy positive control)")

    @model_validator(mode="after")
    def _size(self):
        if self.size % 4:
            raise ValueError("size must be a multiple of 4 (two 2x downsamplings in the UNet)")
        return self


class ClassifierParams(StageParams):
    seed: int = Field(0, ge=0, description="classifier init and batch-order seed")
    steps: int = Field(400, ge=1, description="optimiser steps of every downstream / reference classifier (same for every N)")
    batch: int = Field(64, ge=1, le=4096, description="images per step")
    lr: float = Field(1e-3, gt=0, le=1, description="AdamW peak learning rate (cosine)")
    width: int = Field(16, ge=2, le=128, description="CNN width (convs w, 2w, 4w)")


class CalibrateParams(ClassifierParams):
    foundation_steps: int = Field(1000, ge=1, description="pool pretraining steps of the foundation classifier "
                                  "(benign/malignant + device heads; matched to the generator's pretraining steps)")


class NetParams(StageParams):
    seed: int = Field(0, ge=0, description="init, batch, noise and condition-drop seed")
    ch1: int = Field(16, ge=4, le=256, description="UNet channels at full resolution")
    ch2: int = Field(32, ge=4, le=256, description="UNet channels at 1/2 resolution")
    ch3: int = Field(32, ge=4, le=256, description="UNet channels at 1/4 resolution (attention)")
    temb: int = Field(64, ge=8, le=512, description="time/condition embedding width (even)")
    T: int = Field(500, ge=10, le=4000, description="diffusion steps")
    beta_start: float = Field(1e-4, gt=0, lt=1, description="linear beta schedule start")
    beta_end: float = Field(0.028, gt=0, lt=1, description="linear beta schedule end")
    p_drop: float = Field(0.1, ge=0, lt=1, description="probability of dropping all conditions together (CFG)")
    steps: int = Field(1000, ge=1, description="optimiser steps")
    batch: int = Field(64, ge=1, le=4096, description="images per step")
    lr: float = Field(1e-3, gt=0, le=1, description="AdamW peak learning rate (cosine)")
    ema: float = Field(0.995, ge=0, lt=1, description="EMA decay of the weights that are saved")

    @model_validator(mode="after")
    def _net(self):
        if self.temb % 2:
            raise ValueError("temb must be even (sinusoidal embedding)")
        if self.beta_end <= self.beta_start:
            raise ValueError("beta_end must exceed beta_start")
        for k in ("ch1", "ch2", "ch3"):
            if getattr(self, k) % min(8, getattr(self, k)):
                raise ValueError(f"{k} must be a multiple of 8 (GroupNorm) or below 8")
        return self


class PretrainParams(NetParams):
    pass


class ScratchParams(NetParams):
    steps: int = Field(600, ge=1, description="optimiser steps on the 64 few-shot images (same architecture)")


class AdaptParams(StageParams):
    seed: int = Field(0, ge=0, description="LoRA init, batch and noise seed")
    rank: int = Field(4, ge=1, le=64, description="LoRA rank on every 3x3 conv")
    steps: int = Field(300, ge=1, description="optimiser steps on the 64 few-shot images")
    batch: int = Field(64, ge=1, le=4096, description="images per step")
    lr: float = Field(1e-3, gt=0, le=1, description="AdamW peak learning rate (cosine)")
    ema: float = Field(0.995, ge=0, lt=1, description="EMA decay of the LoRA weights and tokens")


class GenerateParams(StageParams):
    seed: int = Field(0, ge=0, description="sampling noise seed")
    sampler_steps: int = Field(15, ge=2, le=500, description="DDIM steps (eta = 0; sheet 20, cut to 15 by the sheet's budget rule)")
    w: float = Field(1.8, ge=0, le=20, description="CFG weight: eps = (1 + w) eps(c) - w eps(null)")
    bank_task: int = Field(2048, ge=16, description="adapted generator, benign/DCIS, devices A/B/C uniform (P1, P4 iii)")
    bank_a: int = Field(1024, ge=16, description="adapted generator, device A only (P2, P4 ii)")
    bank_scratch: int = Field(1024, ge=16, description="scratch generator, device A (P2)")
    bank_scaling: int = Field(1024, ge=16, description="pretrained generator, benign/malignant, pool device mix (P3)")
    batch: int = Field(512, ge=1, le=8192, description="images per sampler batch")


class DownstreamParams(ClassifierParams):
    seeds: int = Field(3, ge=1, le=10, description="classifier seeds for P1 and P3 (1 elsewhere)")
    ns_task: list[int] = Field([128, 512, 2048], description="gen_N sizes for P1 (nested subsets of the A/B/C bank)")
    ns_scaling: list[int] = Field([64, 256, 1024], description="N grid of the P3 scaling curves")
    n_compare: int = Field(1024, ge=16, description="N of the P2 and P4 arms")
    ft_steps: int = Field(400, ge=1, description="fine-tuning steps of foundation_ft on the few-shot set")

    @model_validator(mode="after")
    def _grids(self):
        for k in ("ns_task", "ns_scaling"):
            g = getattr(self, k)
            if not g or any(n < 2 for n in g) or g != sorted(set(g)):
                raise ValueError(f"{k} must be a non-empty increasing list of sizes >= 2")
        return self


class PrivacyParams(StageParams):
    seed: int = Field(0, ge=0, description="unused (distances are deterministic)")
    smooth: float = Field(1.0, ge=0, le=5, description="Gaussian smoothing (px) before pixel-space distances")


class ReportParams(StageParams):
    seed: int = Field(0, ge=0, description="seed of the paired bootstrap")
    n_boot: int = Field(1000, ge=100, le=100_000, description="test-set bootstrap resamples")


PROFILES = {
    "smoke": {
        "prepare": {"pool": 1000, "test_a": 100, "test_other": 100, "busi": 100, "real_task": 256, "val": 32,
                    "copies": 2},
        "calibrate": {"steps": 30, "foundation_steps": 30},
        "pretrain_gen": {"steps": 40, "ch1": 8, "ch2": 16, "ch3": 16},
        "adapt_gen": {"steps": 20},
        "scratch_gen": {"steps": 20, "ch1": 8, "ch2": 16, "ch3": 16},
        "generate": {"sampler_steps": 5, "bank_task": 64, "bank_a": 64, "bank_scratch": 64, "bank_scaling": 64},
        "downstream": {"steps": 30, "ft_steps": 30, "seeds": 1, "ns_task": [16, 64], "ns_scaling": [16, 64],
                       "n_compare": 64},
        "report": {"n_boot": 200},
    },
    "full": {
        "pretrain_gen": {"steps": 2000},
        "adapt_gen": {"steps": 400},
        "scratch_gen": {"steps": 800},
        "generate": {"bank_scaling": 2048},
        "calibrate": {"steps": 600, "foundation_steps": 2000},
        "downstream": {"steps": 600, "ft_steps": 600, "ns_scaling": [64, 256, 1024, 2048]},
    },
}
