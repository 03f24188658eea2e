"""Typed params of the GDB pipeline (Luo et al., arXiv 2410.24220; protocol in shared/papers/gdb.md).

Defaults are the `default` profile (2 CPU cores, minutes); PROFILES overrides size knobs only. The network and
sampler knobs are shared by every arm, so arms differ only in what the bridge starts from and conditions on.
"""
from __future__ import annotations

from pydantic import Field, model_validator

from tasks.common.schema import StageParams


class SimulateParams(StageParams):
    seed: int = Field(0, ge=0, description="seed of pools, perturbations and splits")
    n_atoms: int = Field(10, ge=4, le=20, description="atoms per cluster (sheet default: 10)")
    b_min: int = Field(2, ge=1, le=19, description="fewest B atoms in the training compositions")
    b_max: int = Field(4, ge=1, le=19, description="most B atoms in the training compositions (OOD: b_min-1, b_max+1)")
    pool_starts: int = Field(60, ge=4, le=1000, description="random starts relaxed per (split, composition) pool")
    pool_size: int = Field(50, ge=2, le=1000, description="distinct minima kept per (split, composition) pool")
    n_train: int = Field(4000, ge=10, description="training structures")
    n_val: int = Field(200, ge=10, description="validation structures (sigma_b choice; sheet 500, shrunk for sampling cost)")
    n_test: int = Field(300, ge=10, description="ID test structures (sheet 500, shrunk for sampling cost)")
    n_ood: int = Field(300, ge=10, description="OOD structures, compositions unseen in training (sheet 500)")
    perturb: float = Field(0.25, gt=0, le=1.0, description="R_0 = minimum + N(0, perturb^2) per coordinate (sigma_LJ)")
    min_dist: float = Field(0.75, gt=0, le=1.0, description="reject R_0 with a pair closer than this (sigma_LJ)")
    start_radius: float = Field(1.1, gt=0.5, le=5, description="random pool starts: uniform in a cube of this half-width")
    fmax: float = Field(1e-4, gt=0, le=0.1, description="FIRE convergence: max per-atom force (eps / sigma)")
    max_steps: int = Field(5000, ge=10, le=20000, description="FIRE step cap; non-converged runs are dropped")
    frames: int = Field(4, ge=1, le=10, description="K intermediate trajectory frames, equal cumulative path length")

    @model_validator(mode="after")
    def _comp(self):
        if not (2 <= self.b_min <= self.b_max <= self.n_atoms - 2):
            raise ValueError("need 2 <= b_min <= b_max <= n_atoms - 2 (OOD uses b_min - 1 and b_max + 1 B atoms)")
        return self


class NetParams(StageParams):
    hidden: int = Field(32, ge=4, le=256, description="EGNN width (sheet default: 32)")
    layers: int = Field(4, ge=1, le=8, description="EGNN layers (sheet: 4)")


class SamplerParams(StageParams):
    steps: int = Field(30, ge=1, le=500, description="network calls per sampler run, equal across arms (traj: steps / "
                       "(frames + 1) per segment; sheet recommends 50, shrunk for CPU)")
    s0: float = Field(1.0, gt=0, le=10, description="plain diffusion: start noise std (sigma_LJ)")


class TrainParams(NetParams, SamplerParams):
    seed: int = Field(0, ge=0, description="base seed; the item's arm, sigma_b and seed are salted in")
    train_steps: int = Field(800, ge=1, le=100_000, description="optimiser steps per model (sheet default: 800)")
    batch: int = Field(32, ge=1, le=1024, description="structures per step")
    lr: float = Field(2e-3, gt=0, le=1, description="AdamW peak learning rate (warm-up then cosine)")
    warmup: int = Field(50, ge=0, description="warm-up steps")


class SampleEvalParams(StageParams):
    seed: int = Field(0, ge=0, description="seed of the sampler noise")
    basin_fmax: float = Field(1e-3, gt=0, le=0.1, description="basin success: FIRE on R_hat to this fmax")
    basin_steps: int = Field(3000, ge=10, le=20000, description="basin success: FIRE step cap")
    basin_rmsd: float = Field(0.05, gt=0, le=1, description="basin success: relaxed R_hat within this RMSD of R_T")


class G5Params(NetParams, SamplerParams):
    seed: int = Field(0, ge=0, description="seed of the Langevin targets, init and sampling")
    kT: float = Field(0.02, gt=0, le=1, description="Langevin temperature k_B T (eps)")
    langevin_steps: int = Field(500, ge=1, le=100_000, description="overdamped Langevin steps M after FIRE")
    langevin_dt: float = Field(2e-3, gt=0, le=0.1, description="Langevin step size")
    train_steps: int = Field(800, ge=1, le=100_000, description="optimiser steps per G5 model")
    batch: int = Field(32, ge=1, le=1024, description="structures per step")
    lr: float = Field(2e-3, gt=0, le=1, description="AdamW peak learning rate")
    warmup: int = Field(50, ge=0, description="warm-up steps")
    n_inputs: int = Field(100, ge=2, le=2000, description="test inputs R_0 (sheet: 100)")
    n_samples: int = Field(16, ge=2, le=256, description="true targets and GDB samples per input (sheet: 16)")
    basin_rmsd: float = Field(0.05, gt=0, le=1, description="in-basin check: re-relaxed sample within this RMSD of R_T")


class ReportParams(StageParams):
    seed: int = Field(3, ge=0, description="seed of the bootstrap in the report")
    n_boot: int = Field(2000, ge=100, le=100_000, description="bootstrap resamples of test structures")


PROFILES = {
    "smoke": {
        "simulate": {"pool_starts": 12, "pool_size": 8, "n_train": 300, "n_val": 50, "n_test": 50, "n_ood": 50,
                     "max_steps": 2000},
        "train": {"hidden": 16, "train_steps": 60, "steps": 10},
        "g5_coupling": {"hidden": 16, "train_steps": 60, "steps": 10, "n_inputs": 20, "n_samples": 4,
                        "langevin_steps": 200},
        "sample_eval": {"basin_steps": 500},
        "report": {"n_boot": 200},
    },
    "full": {
        "simulate": {"n_atoms": 12, "b_min": 2, "b_max": 5, "n_val": 500, "n_test": 500, "n_ood": 500},
        "train": {"hidden": 64, "batch": 64, "train_steps": 2500, "steps": 50},
        "g5_coupling": {"hidden": 64, "batch": 64, "train_steps": 2500, "steps": 50},
    },
}
