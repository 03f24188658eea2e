"""Typed params of the PIE pipeline (He et al., arXiv 2407.03157; protocol in shared/papers/pie.md).

Defaults are the `default` profile (2 CPU cores, minutes); PROFILES overrides size knobs only. Sizes were fixed
from timed training steps before any evaluation result was seen (see README "Deviations").
"""
from __future__ import annotations

from pydantic import Field, model_validator

from tasks.common.schema import StageParams, check_heads


class PrepareParams(StageParams):
    seed: int = Field(0, ge=0, description="seed of the training corpus and of the edit instances")
    n_train_files: int = Field(5600, ge=16, le=200_000, description="training files (sheet: 20-40k generated on the fly)")
    n_instances: int = Field(150, ge=2, le=2000, description="edit instances per task (sheet: ~200; 150 for the budget)")
    min_len: int = Field(220, ge=60, le=4000, description="shortest file in tokens (sheet: 300)")
    max_len: int = Field(340, ge=80, le=4000, description="longest post-edit file in tokens (sheet: 500)")
    context: int = Field(384, ge=96, le=4096, description="model context: padded training length, pre-edit files "
                         "are kept <= context (sheet: 512)")

    @model_validator(mode="after")
    def _fits(self):
        if not self.min_len < self.max_len <= self.context - 40:
            raise ValueError("need min_len < max_len <= context - 40 (room for deleted lines)")
        return self


class TrainParams(StageParams):
    seed: int = Field(0, ge=0, description="seed of the initialisation and the batch order")
    d_model: int = Field(128, ge=16, le=1024, description="model width d (sheet: 128)")
    layers: int = Field(3, ge=1, le=24, description="decoder layers (sheet: 3)")
    heads: int = Field(4, ge=1, le=32, description="attention heads (d_head = d / heads; sheet: 4)")
    d_ff: int = Field(512, ge=16, le=8192, description="feed-forward width (sheet: 512)")
    rope_base: float = Field(10_000.0, ge=10, le=1e7, description="RoPE base b")
    steps: int = Field(900, ge=1, le=100_000, description="AdamW steps in all, copy warm-up included (sheet: 800-1500)")
    warm_steps: int = Field(300, ge=0, le=100_000, description="first steps on short copy sequences only (curriculum; "
                            "not in the sheet)")
    warm_batch: int = Field(128, ge=2, le=4096, description="short copy sequences per warm-up step (half random "
                            "tokens, half code lines)")
    warm_len: int = Field(16, ge=4, le=512, description="block length bound of the warm-up copies (sequences are "
                          "2 x warm_len tokens)")
    eval_every: int = Field(300, ge=0, le=100_000, description="steps between teacher-forced next-line EM evaluations "
                            "(a training curve; 0 = only at the end)")
    batch: int = Field(8, ge=1, le=256, description="files per step (sheet: 16)")
    lr: float = Field(3e-3, gt=0, le=1, description="peak AdamW learning rate (cosine decay to 10 %; sheet: 2e-3)")
    warmup: int = Field(30, ge=0, le=10_000, description="linear warm-up steps")
    weight_decay: float = Field(0.01, ge=0, le=1, description="AdamW weight decay")
    copy_aux: int = Field(8, ge=0, le=256, description="code-line copy sequences added to each file step (0 = off; "
                          "not in the sheet)")
    copy_len: int = Field(48, ge=4, le=1024, description="block length bound of those copies (2 x copy_len tokens)")

    @model_validator(mode="after")
    def _heads(self):
        check_heads(self.d_model, self.heads)
        if self.warm_steps >= self.steps:
            raise ValueError("warm_steps must be < steps (the file phase needs steps)")
        return self


class EvaluateParams(StageParams):
    seed: int = Field(0, ge=0, description="seed of the latency-instance order (evaluation itself is greedy)")
    max_new: int = Field(24, ge=1, le=128, description="greedy decoding stops at NEWLINE or this many tokens")
    n_timed: int = Field(20, ge=0, le=2000, description="instances per task whose update latency is timed "
                         "(trained model, descriptive)")
    repeats: int = Field(5, ge=1, le=200, description="timed repeats per instance and method (interleaved)")
    threads: int = Field(2, ge=1, le=64, description="torch threads while timing (sheet: 2)")


class BenchmarkParams(StageParams):
    seed: int = Field(0, ge=0, description="seed of the random-init timing model and its tokens")
    d_model: int = Field(256, ge=16, le=4096, description="timing model width (sheet: 256)")
    layers: int = Field(6, ge=1, le=48, description="timing model layers (sheet: 6)")
    heads: int = Field(8, ge=1, le=64, description="timing model heads")
    d_ff: int = Field(1024, ge=16, le=16384, description="timing model feed-forward width")
    lengths: list[int] = Field([256, 512, 1024, 2048, 4096], min_length=1, description="post-edit lengths n'")
    edit_tokens: int = Field(8, ge=1, le=256, description="m: tokens inserted (one code line) at the middle")
    repeats: int = Field(20, ge=1, le=1000, description="timed repeats per method and length (sheet: >= 20)")
    warmup: int = Field(3, ge=0, le=100, description="untimed warm-up rounds")
    threads: int = Field(2, ge=1, le=64, description="torch threads while timing (sheet: 2)")

    @model_validator(mode="after")
    def _lengths(self):
        check_heads(self.d_model, self.heads)
        if any(n <= 2 * self.edit_tokens or n > 65536 for n in self.lengths):
            raise ValueError("every length must exceed 2 x edit_tokens and be <= 65536")
        return self


class ReportParams(StageParams):
    seed: int = Field(0, ge=0, description="seed of the paired bootstrap")
    n_boot: int = Field(2000, ge=100, le=100_000, description="bootstrap resamples of per-instance differences")


PROFILES = {
    "smoke": {
        "prepare": {"n_train_files": 64, "n_instances": 6, "min_len": 120, "max_len": 200, "context": 256},
        "train": {"d_model": 64, "layers": 2, "d_ff": 256, "steps": 8, "warm_steps": 3, "warm_batch": 8, "batch": 8,
                  "warmup": 2, "copy_aux": 2, "copy_len": 16, "eval_every": 4},
        "evaluate": {"n_timed": 2, "repeats": 2, "max_new": 10},
        "benchmark": {"d_model": 64, "layers": 2, "d_ff": 256, "lengths": [256, 512], "repeats": 3, "warmup": 1},
        "report": {"n_boot": 200},
    },
    "full": {
        "prepare": {"n_train_files": 24000, "n_instances": 200, "min_len": 300, "max_len": 460, "context": 512},
        "train": {"steps": 1500, "batch": 16},
        "evaluate": {"n_timed": 50, "repeats": 20},
        "benchmark": {"repeats": 30},
    },
}
