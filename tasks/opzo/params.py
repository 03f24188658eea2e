"""Typed params of the OPZO pipeline (Xiao et al., arXiv 2407.12516; protocol in shared/papers/opzo.md).

Defaults are the `default` profile (2 CPU cores, minutes); PROFILES overrides size knobs only. The network and
training knobs are shared by `tune` and `train` (NetParams), so both stages train the very same setup.
"""
from __future__ import annotations

from pydantic import Field, model_validator

from tasks.common.schema import StageParams


class PrepareParams(StageParams):
    seed: int = Field(0, ge=0, description="seed of the stratified split and of the N-Digits background events")
    n_val: int = Field(200, ge=10, le=600, description="validation samples (stratified)")
    n_test: int = Field(447, ge=10, le=900, description="test samples (stratified; untouched until `evaluate`)")
    canvas_px: int = Field(16, ge=10, le=34, description="N-Digits canvas side (sheet: 20; reduced default 16)")
    digit_px: int = Field(12, ge=8, le=32, description="side of the bilinearly upsampled digit on the canvas")
    T_events: int = Field(12, ge=2, le=32, description="N-Digits event frames T (3 saccade segments)")
    threshold: float = Field(0.3, gt=0, le=3, description="log-intensity change that emits an ON/OFF event")
    log_eps: float = Field(0.1, gt=0, le=1, description="offset of the log intensity, log(I + eps)")
    background: float = Field(0.01, ge=0, le=0.2, description="background event probability per channel-pixel-frame")

    @model_validator(mode="after")
    def _fits(self):
        if self.digit_px > self.canvas_px:
            raise ValueError("digit_px must be <= canvas_px")
        return self


class NetParams(StageParams):
    """The network and the online-training setup, identical for every method (sheet, Arms)."""

    hidden: list[int] = Field([256, 256], min_length=1, max_length=4, description="FC-LIF hidden widths (>= 256 in the sheet)")
    T_static: int = Field(6, ge=1, le=32, description="time steps of the direct-encoded static digits (D1)")
    tau: float = Field(2.0, gt=1, le=100, description="LIF time constant: u <- (1 - 1/tau) u + W s")
    v_th: float = Field(1.0, gt=0, le=10, description="firing threshold V_th (soft reset by subtraction)")
    alpha_s: float = Field(4.0, gt=0, le=100, description="sigmoid surrogate sharpness alpha_s")
    init_gain: float = Field(2.0, gt=0, le=20, description="hidden weights ~ N(0, gain^2 / fan_in)")
    batch: int = Field(32, ge=1, le=1024, description="mini-batch size")
    lr: float = Field(1e-3, gt=0, le=1, description="Adam learning rate (cosine schedule to 0)")
    lam_mse: float = Field(0.05, ge=0, le=1, description="loss = (1 - lam) CE + lam MSE per time step, / T (OTTT)")
    m_warmup: int = Field(30, ge=0, le=10_000, description="OPZO: batches that update M but not the hidden weights")
    max_train: int = Field(0, ge=0, description="use at most this many training samples (0 = all; smoke only)")


class TuneParams(NetParams):
    seed: int = Field(100, ge=0, description="seed of the tuning run (one seed, D1, validation split only)")
    epochs: int = Field(10, ge=1, le=500, description="training epochs per grid point (sheet: 10)")
    lambdas: list[float] = Field([0.9, 0.99, 0.999], min_length=1, description="momentum grid for M")
    alphas: list[float] = Field([0.05, 0.1, 0.3], min_length=1, description="noise-scale grid")

    @model_validator(mode="after")
    def _ranges(self):
        if not all(0 < v < 1 for v in self.lambdas) or not all(0 < a <= 2 for a in self.alphas):
            raise ValueError("lambdas must lie in (0, 1) and alphas in (0, 2]")
        return self


class TrainParams(NetParams):
    seed: int = Field(0, ge=0, description="base seed; the item's seed index is salted in")
    epochs: int = Field(15, ge=1, le=500, description="training epochs (every method, every dataset)")
    zo_baseline_decay: float = Field(0.99, ge=0, lt=1, description="running-mean loss baseline of the zo_base arm")


class ConvTrainParams(StageParams):
    """The conv-LIF arm of C3 (conv.py) on D1: the FC net's neuron, loss, optimizer and warm-up, conv layers instead
    of FC; lam and alpha come from `tune` as for the FC arms."""

    seed: int = Field(0, ge=0, description="base seed; the item's seed index is salted in")
    epochs: int = Field(15, ge=1, le=500, description="training epochs of every conv arm (as the FC arms)")
    channels: list[int] = Field([16, 32], min_length=1, max_length=4, description="conv3x3 channels per layer "
                                "(sheet: 16, 32), padding 1, then avgpool 2x2 and the linear readout")
    T_static: int = Field(6, ge=1, le=32, description="time steps of the direct-encoded digits")
    tau: float = Field(2.0, gt=1, le=100, description="LIF time constant")
    v_th: float = Field(1.0, gt=0, le=10, description="firing threshold (soft reset)")
    alpha_s: float = Field(4.0, gt=0, le=100, description="sigmoid surrogate sharpness")
    init_gain: float = Field(2.0, gt=0, le=20, description="conv weights ~ N(0, gain^2 / (9 C_in))")
    batch: int = Field(32, ge=1, le=1024, description="mini-batch size")
    lr: float = Field(1e-3, gt=0, le=1, description="Adam learning rate (cosine schedule to 0)")
    lam_mse: float = Field(0.05, ge=0, le=1, description="loss = (1 - lam) CE + lam MSE per time step, / T")
    m_warmup: int = Field(30, ge=0, le=10_000, description="OPZO: batches that update M but not the conv weights")
    max_train: int = Field(0, ge=0, description="use at most this many training samples (0 = all; smoke only)")


class EvaluateParams(StageParams):
    seed: int = Field(7, ge=0, description="seed of the probe batch and the probe noise")
    eval_batch: int = Field(512, ge=16, le=4096, description="samples per noise-free evaluation forward")
    probe_batch: int = Field(64, ge=8, le=1024, description="fixed training batch of the gradient probes")
    probe_draws: int = Field(64, ge=4, le=512, description="K noise draws for cosine, variance (C4) and the N-curve "
                             "(sheet: K = 50)")
    extra_epoch_seeds: int = Field(1, ge=0, le=10, description="OPZO seeds also probed at epoch 1 and the final epoch "
                                   "(every seed is probed at mid-training, the epoch C4 judges)")


class ReportParams(StageParams):
    seed: int = Field(3, ge=0, description="seed of the bootstrap in the report")
    n_boot: int = Field(2000, ge=100, le=100_000, description="bootstrap resamples of seed-level differences")


PROFILES = {
    "smoke": {
        "prepare": {"T_events": 4},
        "tune": {"epochs": 1, "lambdas": [0.99], "alphas": [0.1], "max_train": 256, "m_warmup": 2, "hidden": [64, 64]},
        "train": {"epochs": 2, "max_train": 256, "m_warmup": 2, "hidden": [64, 64]},
        "train_conv": {"epochs": 1, "max_train": 128, "m_warmup": 2, "channels": [4, 8]},
        "evaluate": {"probe_batch": 32, "probe_draws": 8},
        "report": {"n_boot": 200},
    },
    "full": {
        "prepare": {"canvas_px": 20, "digit_px": 16},
        "tune": {"epochs": 15},
        "train": {"epochs": 30},
        "train_conv": {"epochs": 30},
        "evaluate": {"probe_draws": 128},
    },
}
