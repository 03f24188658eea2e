"""Typed params of the RELAY pipeline (Yu et al., arXiv 2502.08482; protocol in shared/papers/relay.md).

Defaults are the `default` profile (2 CPU cores, minutes); PROFILES overrides size knobs only.
"""
from __future__ import annotations

from pydantic import Field, model_validator

from tasks.common.schema import StageParams


class PrepareParams(StageParams):
    seed: int = Field(0, ge=0, description="seed of every problem set (test, train, Stage II, self-chain)")
    N: int = Field(4, ge=2, le=15, description="max training operators, ID lengths 1..N (sheet: 6; 4 for the CPU budget)")
    K: int = Field(4, ge=1, le=15, description="OOD lengths N+1..N+K (sheet: 6 = N; here K = N = 4)")
    mod: int = Field(5, ge=2, le=11, description="modulus of the numbers (sheet: 11; 5 so that the tiny models "
                     "learn the operator table within the CPU budget, see README)")
    ops: str = Field("+-", pattern=r"^(\+-|\+-\*)$", description="operator tier: '+-' (default) or '+-*'")
    n_train: int = Field(20_000, ge=100, le=1_000_000, description="unique training problems, lengths ∝ #ops")
    n_test: int = Field(200, ge=5, le=5000, description="test problems per length 1..N+K (capped at 40 % of a "
                        "length's problem space, so k = 1 keeps training problems)")
    n_stage2: int = Field(500, ge=5, le=100_000, description="Stage-II problems per OOD length (sheet: 1000)")
    n_selfchain: int = Field(500, ge=5, le=100_000, description="fresh problems per self-chain phase (sheet: 1000)")
    phases: int = Field(2, ge=1, le=10, description="self-chain phases, at lengths N+1, N+2, ... (sheet: 3 of K = 6)")

    @model_validator(mode="after")
    def _phases(self):
        if self.phases > self.K:
            raise ValueError(f"phases ({self.phases}) must be <= K ({self.K}): phases run at lengths N+1..N+phases")
        return self


class NetParams(StageParams):
    d: int = Field(64, ge=8, le=512, description="model width (sheet: 64)")
    layers: int = Field(2, ge=1, le=8, description="layers (AR) / layers of the shared looped block (sheet: 2)")
    heads: int = Field(4, ge=1, le=16, description="attention heads")

    @model_validator(mode="after")
    def check_heads(self):
        if self.d % self.heads or (self.d // self.heads) % 2:
            raise ValueError(f"d ({self.d}) must be a multiple of heads ({self.heads}) with an even head size "
                             "(RoPE rotates pairs)")
        return self


class TrainARParams(NetParams):
    layers: int = Field(3, ge=1, le=8, description="decoder layers (sheet: 2, paper: 3)")
    seed: int = Field(0, ge=0, description="init and batch-draw seed")
    steps: int = Field(2000, ge=1, le=100_000, description="optimiser steps (sheet: 1000)")
    batch: int = Field(32, ge=1, le=4096, description="sequences per step (one length per batch; sheet: 64)")
    lr: float = Field(3e-3, gt=0, le=1, description="peak learning rate (AdamW, wd 0.01, 2 % warm-up, cosine; sheet 1e-3)")


class TrainLoopedParams(NetParams):
    layers: int = Field(3, ge=1, le=8, description="layers of the shared looped block (sheet: 2; the probe learned "
                        "no round arithmetic with 2 in 600 steps)")
    seed: int = Field(0, ge=0, description="init and batch-draw seed")
    steps_aligned: int = Field(2000, ge=1, le=100_000, description="steps of the loop-aligned model (sheet: 800)")
    steps_vanilla: int = Field(1000, ge=1, le=100_000, description="steps of the answer-only model (sheet: 600)")
    batch: int = Field(32, ge=1, le=4096, description="problems per step (one length per batch; sheet: 128)")
    lr: float = Field(3e-3, gt=0, le=1, description="peak learning rate (sheet: 1e-3)")
    lam: float = Field(1.0, ge=0, le=100, description="lambda of L = L_ans + lambda * L_iter (v1: not given)")
    inject: bool = Field(False, description="input injection e_t = f(e_{t-1} + e_0) (Fan et al.; not in v1); off "
                         "with left-aligned rounds, where e_0 no longer lines up with the shifted content")
    warmup_k: int = Field(2, ge=0, le=15, description="curriculum: lengths <= warmup_k only during the first "
                          "warmup_frac of the steps (0 = off; not in the paper)")
    warmup_frac: float = Field(0.2, ge=0, le=1, description="share of the steps under the curriculum")
    align: str = Field("left", pattern=r"^(left|right)$", description="round targets: 'right' (paper: left pads, "
                       "untouched tokens fixed) or 'left' (pads on the right, frontier fixed; see README)")
    by: str = Field("ops", pattern=r"^(ops|size)$", description="batch lengths drawn ∝ #ops (sheet) or ∝ unique "
                    "problems per length")


class ChainsParams(StageParams):
    seed: int = Field(0, ge=0, description="unused (one deterministic forward pass)")
    batch: int = Field(512, ge=1, le=65_536, description="problems per forward pass")


class FinetuneParams(StageParams):
    seed: int = Field(0, ge=0, description="batch-draw and original-data subset seed")
    batch: int = Field(32, ge=1, le=4096, description="sequences per step (one length per batch; sheet: 64)")
    n_original: int = Field(1300, ge=0, le=1_000_000, description="original training problems mixed in (sheet: "
                            "≈ 4 k with 6 k Stage-II chains, ≈ 40 %)")
    relay_steps: int = Field(300, ge=1, le=100_000, description="RELAY-FT steps (sheet: 300)")
    relay_lr: float = Field(2e-4, gt=0, le=1, description="RELAY-FT learning rate")
    selfchain_steps: int = Field(100, ge=1, le=100_000, description="steps per self-chain phase (sheet: 100)")
    selfchain_lr: float = Field(1e-4, gt=0, le=1, description="self-chain learning rate")


class EvaluateParams(StageParams):
    seed: int = Field(0, ge=0, description="unused (greedy decoding is deterministic)")
    hit_offset: int = Field(3, ge=1, le=15, description="hit matrices at length N + hit_offset (capped at N+K)")


class ReportParams(StageParams):
    seed: int = Field(0, ge=0, description="seed of the paired bootstrap")
    n_boot: int = Field(1000, ge=100, le=100_000, description="bootstrap resamples of test problems (sheet: 1000)")


PROFILES = {
    "smoke": {
        "prepare": {"N": 3, "K": 2, "n_train": 2000, "n_test": 20, "n_stage2": 40, "n_selfchain": 40, "phases": 1},
        "train_ar": {"d": 32, "layers": 2, "steps": 50},
        "train_looped": {"d": 32, "layers": 2, "steps_aligned": 50, "steps_vanilla": 50, "batch": 32},
        "finetune": {"n_original": 60, "relay_steps": 30, "selfchain_steps": 20, "batch": 32},
        "report": {"n_boot": 200},
    },
    "full": {
        "train_ar": {"steps": 1500},
        "train_looped": {"steps_aligned": 1500, "steps_vanilla": 1200},
        "finetune": {"relay_steps": 500, "selfchain_steps": 200},
    },
}
