"""Stage `train` (one DVC stage per item "<arm>-<sb>-s<seed>"): one arm through the shared trainer.

Every arm: the same EGNN, AdamW with warm-up + cosine, `train_steps` steps of `batch` training structures (a seeded
epoch order), loss = mean |R_hat - target|^2 over atoms and coordinates, on simulation-free pairs from bridge.py
(direct: (R_0, t = 0) -> R_T; diffusion / gdb: a point on the bridge -> R_T; traj: a point on a segment ->
the segment's end frame). Validation is not read here (the sigma_b choice is the report's, from sample_eval).
Run: `paperflow stage gdb train --item gdb-b05-s0`.
"""
from __future__ import annotations

import torch

from tasks.common.errors import UserError
from tasks.common.train import Schedule, epoch_batches, fit

from . import SIGMAS
from .bridge import ARMS, training_batch
from .model import build, n_params
from .params import TrainParams
from .prepare import load_split


def model_config(p, arm: str, sigma_b: float, n_seg: int) -> dict:
    if arm not in ARMS:
        raise UserError(f"gdb train: unknown arm {arm!r}; arms are {', '.join(ARMS)}")
    if arm == "traj" and p.steps % n_seg:
        raise UserError(f"gdb.train.steps = {p.steps}: must be a multiple of the {n_seg} trajectory segments "
                        "(gdb.simulate.frames + 1)")
    return {"arm": arm, "sigma_b": sigma_b, "hidden": p.hidden, "layers": p.layers, "steps": p.steps, "s0": p.s0,
            "n_seg": n_seg}


def train_model(p, io, arm: str, sigma_b: float, data: dict, salt: tuple):
    """Shared by `train` and `g5_coupling`: returns (model, History)."""
    n_frames = data["frames"].shape[1] if "frames" in data else 0
    cfg = model_config(p, arm, sigma_b, n_frames + 1)
    torch.manual_seed(io.seed("init", *salt))
    model = build(cfg)
    gen = torch.Generator().manual_seed(io.seed("noise", *salt))
    order = epoch_batches(len(data["R0"]), p.batch, 10 ** 6, torch.Generator().manual_seed(io.seed("order", *salt)))

    def loss_fn(step: int):
        b = next(order)
        fr = data["frames"][b] if n_frames else None
        x, c, t, y = training_batch(arm, data["R0"][b], data["RT"][b], fr, sigma_b, p.s0, gen)
        return ((model(x, c, data["Z"][b], t) - y) ** 2).sum(-1).mean()

    hist = fit(model, loss_fn, Schedule(p.train_steps, p.lr, warmup=p.warmup), progress=io.progress)
    return model, cfg, hist


def run(p: TrainParams, io) -> dict[str, float]:
    arm, sb, seed = io.item.arm, io.item.sb, io.item.seed
    sigma_b = SIGMAS.get(sb, 0.0)
    data = load_split(io, "train")
    model, cfg, hist = train_model(p, io, arm, sigma_b, data, (arm, sb, seed))
    io.log_curves(hist.curves())
    io.save_model(model, cfg)
    return {"final_loss": hist.tail_mean(), "n_params": n_params(model), "steps": hist.steps_done,
            "sigma_b": sigma_b}
