"""Stage `train_looped@{aligned,vanilla}`: the looped transformer, T = #ops iterations. aligned: L = L_ans +
lambda * L_iter (Stage I, loop alignment: iteration t supervised with CoT round t); vanilla: L_ans only.
Run: `paperflow stage relay train_looped --item aligned`.
"""
from __future__ import annotations

import torch

from tasks.common.train import fit

from .batches import LoopData, looped_loss
from .model import build_looped, n_params
from .params import TrainLoopedParams
from .prepare import load_set, modulus, n_ops
from .train import net_config, schedule


def run(p: TrainLoopedParams, io) -> dict[str, float]:
    arm = io.item.arm
    aligned = arm == "aligned"
    steps = p.steps_aligned if aligned else p.steps_vanilla
    train = load_set(io, "train")
    ds = LoopData(train, [n_ops(e) for e in train], modulus(io), by=p.by, align=p.align)
    cfg = {**net_config(p, inject=p.inject), "align": p.align}
    torch.manual_seed(io.seed("init", arm))
    model = build_looped(cfg)
    gen = torch.Generator().manual_seed(io.seed("batches", arm))
    warm = int(p.warmup_frac * steps) if p.warmup_k else 0

    def loss_fn(step: int):
        return looped_loss(model, *ds.draw(gen, p.batch, p.warmup_k if step < warm else None), p.lam, aligned)

    hist = fit(model, loss_fn, schedule(steps, p.lr), progress=io.progress)
    io.log_curves(hist.curves())
    io.save_model(model, cfg)
    out = {"final_loss": hist.tail_mean(), "final_l_ans": hist.tail_mean("l_ans"), "n_params": n_params(model),
           "steps": hist.steps_done}
    if aligned:
        out["final_l_iter"] = hist.tail_mean("l_iter")
    return out
