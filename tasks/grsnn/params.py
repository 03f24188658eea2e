"""Typed params of the GRSNN pipeline (Xiao et al., arXiv 2405.16851; protocol in shared/papers/grsnn.md).

Defaults are the `default` profile (2 CPU cores, minutes); PROFILES overrides size knobs only. The network knobs
(NetParams) are shared by every arm; an arm changes only how relations enter (model.py).
"""
from __future__ import annotations

from pydantic import Field, model_validator

from tasks.common.schema import StageParams


class PrepareParams(StageParams):
    seed: int = Field(0, ge=0, description="seed of the family trees and of the 70/15/15 split")
    families: int = Field(8, ge=2, le=40, description="three-generation families (sheet: about 8)")
    min_children: int = Field(2, ge=1, le=5, description="children of the founding couple, at least")
    max_children: int = Field(3, ge=1, le=5, description="children of the founding couple, at most")
    min_grandchildren: int = Field(1, ge=1, le=5, description="grandchildren per couple, at least")
    max_grandchildren: int = Field(3, ge=1, le=5, description="grandchildren per couple, at most")

    @model_validator(mode="after")
    def _ranges(self):
        if self.min_children > self.max_children or self.min_grandchildren > self.max_grandchildren:
            raise ValueError("min_children/min_grandchildren must be <= max_children/max_grandchildren")
        return self


class NetParams(StageParams):
    dim: int = Field(32, ge=2, le=256, description="neurons per node D (sheet: 32)")
    T: int = Field(14, ge=2, le=64, description="time steps (sheet: 10; 14 chosen on validation: 4-hop rules)")
    tau: float = Field(4.0, gt=1, le=100, description="LIF / PSP time constant")
    v_th: float = Field(2.0, gt=0, le=20, description="threshold V_th")
    beta: int = Field(4, ge=1, le=16, description="delay bound (delays in [0, beta], rounded)")
    gamma: float = Field(0.95, gt=0, le=1, description="decoding discount h = sum_t s[t] gamma^t / sum_t gamma^t")
    kappa: float = Field(1.0, gt=0, le=10, description="kappa_lin input gain (sheet default 1.0 off FB15k-237)")
    alpha: float = Field(4.0, gt=0, le=100, description="sigmoid surrogate sharpness")
    w_gain: float = Field(6.0, gt=0, le=50, description="W ~ N(0, gain^2 / D) at init (implementer's choice)")
    layers: int = Field(6, ge=1, le=12, description="NBFNet-lite layers L")


class TrainParams(NetParams):
    seed: int = Field(0, ge=0, description="base seed; the item's arm and seed are salted in")
    epochs: int = Field(8, ge=1, le=200, description="training epochs (sheet: 10-15; 8 to fit the 2-core budget)")
    batch: int = Field(32, ge=1, le=1024, description="queries per batch")
    lr: float = Field(5e-3, gt=0, le=1, description="Adam learning rate, constant (sheet 2e-3; 5e-3 as its inductive config, chosen on validation)")
    temperature: float = Field(0.5, gt=0, le=10, description="self-adversarial negative temperature")
    max_train: int = Field(0, ge=0, description="use at most this many training queries (0 = all; smoke only)")


class EvaluateParams(StageParams):
    seed: int = Field(0, ge=0, description="unused (evaluation is deterministic)")
    batch: int = Field(64, ge=1, le=4096, description="queries per evaluation forward")


class AnalyseParams(StageParams):
    seed: int = Field(0, ge=0, description="unused (analysis is deterministic)")
    e_ac_pj: float = Field(0.9, gt=0, description="energy per accumulate (pJ, 45 nm convention)")
    e_mac_pj: float = Field(4.6, gt=0, description="energy per multiply-accumulate (pJ)")
    fb_query_rels: int = Field(474, ge=2, description="2R at FB15k-237 scale, for the G5 parameter ratio")


class ReportParams(StageParams):
    seed: int = Field(3, ge=0, description="seed of the bootstrap in the report")
    n_boot: int = Field(2000, ge=100, le=100_000, description="bootstrap resamples of test queries")


PROFILES = {
    "smoke": {
        "prepare": {"families": 2},
        "train": {"dim": 8, "epochs": 2, "max_train": 64, "layers": 2},
        "report": {"n_boot": 200},
    },
    "full": {"prepare": {"families": 12}, "train": {"epochs": 15}},
}
