"""Shared training helpers of the RTO pipeline (not a stage): thread control, the minibatch loop with AdamW and a
cosine schedule, and loading the models other stages saved (SFT policy, RM, DPO policy).

The stages `sft`, `reward_model`, `dpo` and `ppo` build on these; see their own modules.
"""
from __future__ import annotations

import contextlib
import math
from typing import Callable

import torch

from .env import World
from .model import GPT, build


@contextlib.contextmanager
def threads(n: int = 1):
    """Small ops on 2 shared cores: one intra-op thread per stage (Prefect runs reward_model and dpo side by side)."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def fit(model: torch.nn.Module, loss_fn: Callable[[torch.Tensor], tuple[torch.Tensor, dict]], n: int, batch: int,
        epochs: int, lr: float, gen: torch.Generator, weight_decay: float = 0.0) -> dict[str, list[float]]:
    """Minibatch AdamW over n examples for `epochs` passes; loss_fn(idx) -> (loss, {name: float}). Curves per step."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * math.ceil(n / batch)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    curves: dict[str, list[float]] = {}
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, batch):
            loss, logs = loss_fn(perm[i:i + batch])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            for k, v in {"loss": float(loss.detach()), **logs}.items():
                curves.setdefault(k, []).append(v)
    return curves


def world_of(io) -> World:
    d = io.load_npz("prepare", "world.npz")
    return World.from_arrays(d, int(d["H"]))


def load_model(io, stage: str, item: str | None = None, name: str = "model.pt") -> GPT:
    """A saved GPT (config from sft/config.json; a reward model for stage reward_model), eval mode, no gradients."""
    m = build(io.load_json("sft", "config.json"), reward=stage == "reward_model")
    m.load_state_dict(io.load_torch(stage, name, item))
    m.eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def smooth(x: list[float], k: int = 20) -> list[float]:
    """Running mean over k steps (for logged curves)."""
    t = torch.tensor(x, dtype=torch.float64)
    c = torch.cat([torch.zeros(1, dtype=torch.float64), t.cumsum(0)])
    idx = torch.arange(1, len(x) + 1)
    lo = (idx - k).clamp(min=0)
    return ((c[idx] - c[lo]) / (idx - lo)).tolist()
