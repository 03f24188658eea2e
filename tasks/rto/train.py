"""Shared helpers of the RTO pipeline (not a stage): the world loader and the epoch-minibatch adapter of the shared
trainer (tasks/common/train.py) used by `sft`, `reward_model` and `dpo`: AdamW, cosine decay from `lr` to 0, no
warm-up, gradient clipping at 1, a fresh permutation of the examples every epoch.
"""
from __future__ import annotations

from typing import Callable

import torch

from tasks.common.train import History, Schedule, epoch_batches, fit, steps_per_epochs

from .env import World


def fit_epochs(model: torch.nn.Module, loss_fn: Callable[[torch.Tensor], tuple[torch.Tensor, dict]], n: int,
               batch: int, epochs: int, lr: float, gen: torch.Generator, progress=None) -> History:
    """`epochs` passes of minibatch training over n examples; loss_fn(idx) -> (loss, {name: float})."""
    batches = epoch_batches(n, batch, epochs, gen)
    return fit(model, lambda step: loss_fn(next(batches)), Schedule(steps_per_epochs(n, batch, epochs), lr),
               progress=progress)


def world_of(io) -> World:
    d = io.load_npz("prepare", "world.npz")
    return World.from_arrays(d, int(d["H"]))
