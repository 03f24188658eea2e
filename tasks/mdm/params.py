"""Typed params of the MDM pipeline (Feng et al., arXiv 2502.09622; protocol in shared/papers/mdm.md).

Defaults are the `default` profile; `smoke` and `full` override size knobs only (see PROFILES).
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from tasks.common.schema import StageParams, check_heads


class PrepareParams(StageParams):
    seed: int = Field(0, ge=0, description="base seed of the language generators")
    n_lang_seeds: int = Field(3, ge=1, le=20, description="number of random languages of each kind")
    vocab: int = Field(8, ge=2, le=64, description="vocabulary size V of the bigram languages")
    dense_alpha: float = Field(0.3, gt=0, description="Dirichlet concentration of the dense bigram rows")
    dense_mix: float = Field(1e-3, gt=0, lt=1, description="uniform mixing weight (keeps every transition > 0)")


class SweepParams(StageParams):
    seed: int = Field(1, ge=0, description="sampling seed of the oracle grids")
    lengths: list[int] = Field([64, 128, 256, 512], min_length=2, description="sequence lengths L of the oracle grid")
    max_log2_steps: int = Field(9, ge=1, le=12, description="N grid is 4, 8, ..., 2^max plus L/8, L/4, L/2, L (N <= L)")
    min_steps: int = Field(4, ge=1, description="smallest N of the power-of-two grid")
    samples: int = Field(1000, ge=10, description="B, samples per grid cell")
    noisy_etas: list[float] = Field([0.01, 0.05], description="noisy-oracle mixing weights eta")
    noisy_step_fracs: list[float] = Field([0.25, 1.0], description="noisy oracle at N = frac * L (plus N=16, 64)")

    @model_validator(mode="after")
    def _sorted(self):
        if sorted(self.lengths) != self.lengths or len(set(self.lengths)) != len(self.lengths):
            raise ValueError("lengths must be strictly increasing")
        return self


class TrainParams(StageParams):
    seed: int = Field(0, ge=0, description="model init and data seed")
    steps: int = Field(3000, ge=1, description="AdamW steps")
    batch: int = Field(64, ge=1, description="sequences per step at L_max (per_batch: batch * L_max / L of length L)")
    lr: float = Field(3e-3, gt=0, le=1, description="peak learning rate")
    warmup: int = Field(100, ge=0, description="linear warm-up steps before cosine decay")
    d_model: int = Field(64, ge=8, description="width")
    layers: int = Field(2, ge=1, description="transformer blocks")
    heads: int = Field(4, ge=1, description="attention heads")
    d_ff: int = Field(256, ge=8, description="feed-forward width")
    lengths: list[int] = Field([16, 32, 64], min_length=1, description="training lengths, mixed (max = L_max)")
    lang_seed: int = Field(0, ge=0, description="which prepared language (index) the model learns")
    t_sampling: Literal["uniform", "stratified"] = Field("stratified", description="diffusion times: i.i.d. U(1e-3, 1) "
                                                           "or stratified over the batch (low-discrepancy)")
    length_batching: Literal["per_sequence", "per_batch"] = Field(
        "per_batch", description="a length per sequence padded to L_max, or one length per batch (no pads)")

    @model_validator(mode="after")
    def _heads(self):
        check_heads(self.d_model, self.heads)
        return self


class EvaluateParams(StageParams):
    seed: int = Field(2, ge=0, description="sampling seed of the trained-model grid")
    lengths: list[int] = Field([16, 32, 64], min_length=2, description="L of the trained grid (<= L_max)")
    samples: int = Field(500, ge=10, description="B, samples per cell")


class ReportParams(StageParams):
    seed: int = Field(3, ge=0, description="seed of the bootstrap in the report")
    n_boot: int = Field(500, ge=50, description="bootstrap resamples for the N* slope and ratio CIs")


PROFILES = {
    "smoke": {
        "prepare": {"n_lang_seeds": 1},
        "sweep": {"lengths": [8, 16, 32], "max_log2_steps": 5, "samples": 200},
        "train": {"steps": 30, "batch": 16, "lengths": [16, 32], "warmup": 5},
        "evaluate": {"lengths": [16, 32], "samples": 100},
        "report": {"n_boot": 50},
    },
    "full": {
        "sweep": {"samples": 2000},
        "train": {"steps": 9000},
        "evaluate": {"samples": 2000},
        "report": {"n_boot": 1000},
    },
}
