"""Typed params of the RTO pipeline (Zhong et al., arXiv 2404.18922; protocol in shared/papers/rto.md).

Defaults are the `default` profile (2 shared CPU cores, one intra-op thread, about 8-12 min for the DAG); PROFILES
overrides size knobs only. RTO's beta1 and clip c are set by the `calibrate` stage's rule (calibrate.py), not here;
the sheet's beta1 x c grid (and A's KL-coef x lr grid) runs in the `grid` stage of the `full` profile.
"""
from __future__ import annotations

from pydantic import Field, model_validator

from tasks.common.schema import StageParams, check_heads


class PrepareParams(StageParams):
    seed: int = Field(0, ge=0, description="seed of W, the prompts and the demonstrations")
    V: int = Field(24, ge=4, le=64, description="content tokens (BOS is extra)")
    C: int = Field(4, ge=1, le=16, description="topics: c(x) = x_1 mod C")
    P: int = Field(4, ge=1, le=8, description="prompt length")
    H: int = Field(24, ge=2, le=32, description="response length (fixed; sheet 16-24, issue 13: >= 24)")
    n_good: int = Field(3, ge=1, le=8, description="'good' next tokens (+1) per (topic, previous token)")
    n_bad: int = Field(3, ge=1, le=8, description="'bad' next tokens (-1) per (topic, previous token)")
    tau: float = Field(0.5, gt=0, le=20, description="demonstrator temperature on W (issue 13: 0.5; sheet 2)")
    eps: float = Field(0.3, ge=0, le=1, description="demonstrator mixing weight of the uniform distribution")
    n_demos: int = Field(20000, ge=100, le=200_000, description="SFT demonstrations")
    n_rl_prompts: int = Field(8192, ge=64, le=100_000, description="PPO training prompts")
    n_eval_prompts: int = Field(1024, ge=32, le=8192, description="held-out evaluation prompts (sheet: 1024)")

    @model_validator(mode="after")
    def _fits(self):
        if self.n_good + self.n_bad > self.V:
            raise ValueError("n_good + n_bad must be <= V")
        return self


class SFTParams(StageParams):
    seed: int = Field(0, ge=0, description="seed of the initial weights and the batch order")
    d: int = Field(64, ge=8, le=512, description="model width (sheet: 64)")
    n_layers: int = Field(2, ge=1, le=8, description="transformer blocks (sheet: 2)")
    n_heads: int = Field(4, ge=1, le=16, description="attention heads")
    epochs: int = Field(3, ge=1, le=100, description="passes over the demonstrations")
    batch: int = Field(128, ge=8, le=4096, description="sequences per step")
    lr: float = Field(3e-3, gt=0, le=1, description="AdamW learning rate (cosine to 0)")

    @model_validator(mode="after")
    def _heads(self):
        check_heads(self.d, self.n_heads, "d", "n_heads")
        return self


class PreferencesParams(StageParams):
    seed: int = Field(0, ge=0, description="seed of the preference prompts, the pi_ref samples and the labels")
    n_pairs: int = Field(8000, ge=16, le=200_000, description="training pairs (sheet: 8k); the quarter set is the first 1/4")
    n_heldout: int = Field(1000, ge=16, le=20_000, description="held-out pairs for the RM / DPO pairwise accuracy")
    agreement: float = Field(0.775, gt=0.5, lt=1, description="kappa is set so that this share of labels agrees "
                             "with the true order (sheet: 0.75-0.80)")


class RewardModelParams(StageParams):
    seed: int = Field(0, ge=0, description="seed of the value head and the batch order")
    epochs: int = Field(2, ge=1, le=50, description="passes over the pairs")
    batch: int = Field(64, ge=4, le=4096, description="pairs per step")
    lr: float = Field(1e-3, gt=0, le=1, description="AdamW learning rate (cosine to 0)")
    n_norm: int = Field(2048, ge=32, le=50_000, description="pi_ref samples on which RM scores are normalised")


class DPOParams(StageParams):
    seed: int = Field(0, ge=0, description="seed of the batch order")
    beta: float = Field(0.1, gt=0, le=10, description="DPO beta (sheet: 0.1)")
    epochs: int = Field(2, ge=1, le=50, description="passes over the pairs (sheet: 2-3)")
    batch: int = Field(64, ge=4, le=4096, description="pairs per step")
    lr: float = Field(3e-4, gt=0, le=1, description="AdamW learning rate (cosine to 0)")


class PPOParams(StageParams):
    seed: int = Field(0, ge=0, description="base seed; the item's seed index is salted in (arms of a seed are paired)")
    iterations: int = Field(60, ge=1, le=10_000, description="PPO iterations (one rollout batch each)")
    batch: int = Field(128, ge=8, le=4096, description="rollouts per iteration (sheet: 128)")
    ppo_epochs: int = Field(2, ge=1, le=16, description="passes over each rollout batch")
    minibatches: int = Field(4, ge=1, le=64, description="minibatches per pass")
    lr_actor: float = Field(1e-4, gt=0, le=1, description="actor Adam learning rate")
    lr_critic: float = Field(3e-4, gt=0, le=1, description="critic Adam learning rate")
    clip: float = Field(0.2, gt=0, le=1, description="PPO ratio clip epsilon")
    value_clip: float = Field(0.2, gt=0, le=10, description="value clip around the old values")
    gamma: float = Field(1.0, ge=0, le=1, description="GAE discount")
    lam: float = Field(0.95, ge=0, le=1, description="GAE lambda")
    grad_clip: float = Field(1.0, gt=0, le=100, description="max grad norm")
    kl_coef: float = Field(0.2, ge=0, le=10, description="beta2: per-token k1 KL penalty, fixed (released code "
                           "0.01; issue 13: KL to a few nats; set on arm F only)")
    rm_clip: float = Field(10.0, gt=0, le=100, description="clamp of the normalised RM score (released code)")
    eval_every: int = Field(5, ge=1, le=1000, description="iterations between held-out evaluations (curve points)")
    n_eval: int = Field(256, ge=16, le=8192, description="held-out prompts per curve point (1 sample each)")


class CalibrateParams(StageParams):
    """The rule's constants are code (calibrate.py), not params."""
    seed: int = Field(0, ge=0, description="seed of the pi_ref samples the rule is computed on")
    n_samples: int = Field(2048, ge=32, le=50_000, description="pi_ref responses to PPO prompts")


class GridParams(PPOParams):
    """The sheet's tuning grid (full profile only; empty lists run nothing): RTO over beta1 x c, PPO-sparse over
    KL coef x actor lr, seed 0, `grid_iterations` PPO iterations each, every point reported. The other PPO
    settings are this section's own copy of PPOParams (same defaults as `ppo`)."""
    beta1_grid: list[float] = Field([], description="RTO beta1 values (sheet: 0.05, 0.1, 0.3)")
    clip_grid: list[float] = Field([], description="RTO clip values; 0 means no clip (sheet: 0.05, 0.2, inf)")
    kl_coef_grid: list[float] = Field([], description="PPO-sparse KL coefficients (A's equal tuning budget)")
    lr_actor_grid: list[float] = Field([], description="PPO-sparse actor learning rates")
    grid_iterations: int = Field(40, ge=1, le=10_000, description="PPO iterations per grid point (reduced)")

    @model_validator(mode="after")
    def _ranges(self):
        if any(v <= 0 for v in self.beta1_grid + self.lr_actor_grid) or any(v < 0 for v in self.clip_grid + self.kl_coef_grid):
            raise ValueError("beta1_grid / lr_actor_grid must be > 0, clip_grid / kl_coef_grid >= 0")
        return self


class EvaluateParams(StageParams):
    seed: int = Field(0, ge=0, description="seed of the final evaluation samples")
    n_prompts: int = Field(1024, ge=16, le=8192, description="held-out prompts (sheet: 1024)")
    samples: int = Field(2, ge=1, le=16, description="samples per prompt (sheet: 4)")
    dpo_alphas: list[float] = Field([0.25, 0.5, 0.75, 1.0], min_length=1, description="geometric mixtures "
                                    "pi_ref^(1-a) pi_dpo^a that trace DPO's KL-reward curve (a = 1: pi_dpo)")
    n_heatmap: int = Field(6, ge=1, le=32, description="responses in the token-reward heat map")

    @model_validator(mode="after")
    def _alphas(self):
        if not all(0 < a <= 1 for a in self.dpo_alphas) or 1.0 not in self.dpo_alphas:
            raise ValueError("dpo_alphas must lie in (0, 1] and include 1.0")
        return self


class ReportParams(StageParams):
    """No knobs: the criteria are constants in criteria.py; SEs are over paired seeds (no resampling)."""


PROFILES = {
    "smoke": {
        "prepare": {"n_demos": 2000, "n_rl_prompts": 256, "n_eval_prompts": 128, "H": 8},
        "sft": {"d": 32, "epochs": 1},
        "preferences": {"n_pairs": 500, "n_heldout": 100},
        "reward_model": {"epochs": 1, "n_norm": 128},
        "dpo": {"epochs": 1},
        "calibrate": {"n_samples": 128},
        "ppo": {"iterations": 4, "batch": 32, "eval_every": 2, "n_eval": 64},
        "evaluate": {"n_prompts": 64, "samples": 1, "dpo_alphas": [0.5, 1.0], "n_heatmap": 3},
    },
    "full": {
        "dpo": {"epochs": 3},
        "ppo": {"iterations": 200},
        "grid": {"beta1_grid": [0.05, 0.1, 0.3], "clip_grid": [0.05, 0.2, 0.0], "kl_coef_grid": [0.01, 0.05, 0.2],
                 "lr_actor_grid": [3e-5, 1e-4, 3e-4], "grid_iterations": 60},
        "evaluate": {"samples": 4},
    },
}
