"""Typed params of the precision pipeline (Feng et al., arXiv 2410.13857; protocol in shared/papers/precision.md).

Defaults are the `default` profile; `smoke` and `full` override size knobs only (see PROFILES).
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from tasks.common.schema import StageParams, check_heads

ARMS = ("fp32", "fq8", "fq4", "bf16_pure")
_GRID = [2, 3, 4, 6, 8, 11, 16, 23, 32, 45, 64, 91, 128, 181, 256, 362, 512, 724, 1024, 1448, 2048]


class MechanismParams(StageParams):
    seed: int = Field(0, ge=0, description="seed of the random operands fed to the hand-built circuits")
    bits: list[int] = Field([3, 4, 5, 6, 8, 11], min_length=2, description="significand widths b of the m_max table "
                            "and slope fits (e5m2=3, e4m3=4, 5, 6, bf16=8, fp16=11)")
    m_cap: int = Field(4096, ge=64, le=65536, description="largest m searched for m_max (also the fp32 no-failure check)")
    add_bits: list[int] = Field([3, 4, 5, 6, 7, 8, 9, 10, 11, 24], min_length=1,
                                description="formats in which the carry-lookahead ADD circuit is checked")
    add_max_n: int = Field(64, ge=1, le=256, description="ADD circuit checked for every n = 1..add_max_n digits")
    circuit_grid: list[int] = Field(_GRID, min_length=2, description="k (IterADD) and n (MUL) grid of the circuits")
    circuit_items: int = Field(256, ge=1, le=100000, description="random operands per (format, n) or (format, k)")
    mul_items: int = Field(32, ge=1, le=10000, description="random factor pairs per (format, n) for MUL")
    iteradd_bits: int = Field(8, ge=1, le=32, description="digits per summand in the IterADD circuit")

    @model_validator(mode="after")
    def _check(self):
        if any(b < 2 or b > 24 for b in self.bits + self.add_bits):
            raise ValueError("significand widths must be in [2, 24]")
        if any(b >= 24 for b in self.bits):
            raise ValueError("bits is the low-precision grid (< 24); fp32 is checked separately")
        if sorted(set(self.bits)) != self.bits:
            raise ValueError("bits must be strictly increasing")
        if sorted(set(self.circuit_grid)) != self.circuit_grid or self.circuit_grid[0] < 1:
            raise ValueError("circuit_grid must be strictly increasing positive integers")
        return self


class PrepareParams(StageParams):
    seed: int = Field(0, ge=0, description="seed of the fixed test sets")
    n_bits: int = Field(2, ge=1, le=8, description="operand length n in base-2 digits (zero-padded, LSB first); 2 "
                        "(issue 12: fewer digits, larger k, so the sweep passes the predicted fq4 failure k ~ 11)")
    ks: list[int] = Field([2, 3, 4, 6, 8, 10, 12], min_length=2, description="numbers of summands k (k=2 is ADD, the "
                          "in-model control); mixed in training, one test set each")
    test_items: int = Field(2000, ge=10, le=100000, description="test items per k")
    max_len: int = Field(48, ge=8, le=256, description="largest sequence length (positions of the model)")

    @model_validator(mode="after")
    def _check(self):
        if sorted(set(self.ks)) != self.ks or self.ks[0] < 2:
            raise ValueError("ks must be strictly increasing and start at >= 2")
        if 2 not in self.ks:
            raise ValueError("ks must contain 2 (ADD, the control of P1 and P2)")
        return self


class TrainParams(StageParams):
    seed: int = Field(0, ge=0, description="base seed of initialisation and data order (same for every arm)")
    arms: list[str] = Field(["fp32", "fq4"], min_length=1, description="arms trained in this profile; the other "
                            "train@<arm> stages write a skip marker (fq8 and bf16_pure run in `full`)")
    seeds: int = Field(2, ge=1, le=10, description="training seeds per arm (P2 needs >= 2)")
    workers: int = Field(2, ge=1, le=8, description="seeds trained in parallel single-thread processes (1 = in process)")
    steps: int = Field(5000, ge=1, description="AdamW steps (5000 since issue 12's reliability sweep)")
    batch: int = Field(64, ge=1, description="sequences per step (fresh random samples every step)")
    lr: float = Field(1e-3, gt=0, le=1, description="peak learning rate")
    warmup: int = Field(100, ge=0, description="linear warm-up steps before cosine decay")
    grad_clip: float | None = Field(1.0, gt=0, description="clip the global gradient norm to this value (None = no "
                                    "clipping; 1.0 since issue 12's reliability sweep)")
    weight_decay: float = Field(0.01, ge=0, le=1, description="AdamW weight decay")
    d_model: int = Field(48, ge=8, le=1024, description="width")
    layers: int = Field(3, ge=1, le=24, description="transformer blocks")
    heads: int = Field(4, ge=1, le=32, description="attention heads")
    d_ff: int = Field(192, ge=8, le=8192, description="feed-forward width")
    curriculum: float = Field(0.25, ge=0, le=1, description="fraction of the steps over which the largest k "
                              "admitted to training grows linearly from min(ks) to max(ks) (0 = all k from step 0; "
                              "0.25 since issue 12's reliability sweep, 0.5 before)")
    k_weight: Literal["uniform", "linear"] = Field("uniform", description="how the k of a training sequence is "
                                                   "drawn from the admitted ks: uniformly, or with probability "
                                                   "proportional to k (more of the large k)")
    coupled: bool = Field(True, description="add a digit-significance embedding (position coupling / index hints: "
                          "column j of every operand and the token predicting answer digit j share an id)")

    @model_validator(mode="after")
    def _check(self):
        bad = [a for a in self.arms if a not in ARMS]
        if bad or len(set(self.arms)) != len(self.arms):
            raise ValueError(f"arms must be distinct names from {ARMS}, got {self.arms}")
        if "fp32" not in self.arms:
            raise ValueError("arms must include fp32 (the reference and the P3 gate)")
        check_heads(self.d_model, self.heads)
        return self


class EvaluateParams(StageParams):
    seed: int = Field(0, ge=0, description="unused by the computation (greedy decoding is deterministic); kept for io.seed")
    batch: int = Field(4000, ge=1, le=100000, description="test sequences per forward pass")


class QuantizeParams(StageParams):
    seed: int = Field(0, ge=0, description="unused (round-to-nearest PTQ is deterministic); kept for io.seed")
    bits: list[int] = Field([8, 4], min_length=1, description="integer weight widths (per-channel symmetric RTN)")
    quantize_head: bool = Field(False, description="also quantise the output head (AWQ-style int4 keeps it in 16 bits)")
    batch: int = Field(4000, ge=1, le=100000, description="test sequences per forward pass")


class ReportParams(StageParams):
    seed: int = Field(0, ge=0, description="seed of the bootstrap")
    n_boot: int = Field(2000, ge=100, le=100000, description="bootstrap resamples of g(8) - g(2)")


PROFILES = {
    "smoke": {
        "mechanism": {"circuit_grid": [2, 4, 8, 16, 32, 64, 128], "circuit_items": 64, "mul_items": 8},
        "prepare": {"test_items": 200},
        "train": {"steps": 60, "seeds": 1, "workers": 1, "warmup": 10},
        "report": {"n_boot": 200},
    },
    "full": {
        "train": {"arms": list(ARMS), "seeds": 3},
        "report": {"n_boot": 5000},
    },
}
