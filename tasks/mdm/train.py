"""Stage `train@{dense,sparse}`: the tiny MDM (sheet "Denoisers" 3) trained with the MDLM objective on one language.

Fresh samples every step, lengths mixed from `lengths` and padded to L_max = max(lengths). Writes model.pt (state
dict) and model.json (its config); logs the loss curve and the model to MLflow. Run:
`paperflow stage mdm train --item dense`.
"""
from __future__ import annotations

import numpy as np
import torch

from tasks.common.errors import UserError
from tasks.common.nn import count_params

from .model import MDM, make_batch_sampler, train_mdm
from .params import TrainParams
from .prepare import load_languages


def build(cfg: dict) -> MDM:
    return MDM(V=cfg["V"], d=cfg["d_model"], n_layers=cfg["layers"], n_heads=cfg["heads"], d_ff=cfg["d_ff"],
               max_len=cfg["max_len"])


def run(p: TrainParams, io) -> dict[str, float]:
    langs = load_languages(io)[io.item]
    if p.lang_seed >= len(langs):
        raise UserError(f"params.yaml: mdm.train.lang_seed={p.lang_seed} but prepare made {len(langs)} languages")
    pi, P = langs[p.lang_seed]
    torch.manual_seed(io.seed("init", io.item))
    cfg = {"V": int(pi.size), "d_model": p.d_model, "layers": p.layers, "heads": p.heads, "d_ff": p.d_ff,
           "max_len": max(p.lengths), "language": io.item, "lang_seed": p.lang_seed}
    model = build(cfg)
    sampler = make_batch_sampler(pi, P, np.random.default_rng(io.seed("data", io.item)), p.lengths, max(p.lengths))
    log_every = max(1, p.steps // 100)
    curve = train_mdm(model, sampler, p.steps, p.batch, p.lr, p.warmup, log_every,
                      progress=lambda it: io.progress(it, total=p.steps, desc=io.item), seed=io.seed("mask", io.item))
    io.log_curve("loss", [v for _, v in curve], [s for s, _ in curve])
    io.save_torch("model.pt", model.state_dict())
    io.save_json("model.json", cfg)
    io.log_model(model)
    tail = [v for _, v in curve[-max(1, len(curve) // 10):]]
    return {"final_loss": float(np.mean(tail)), "params": count_params(model), "steps": p.steps}


def load_model(io, item: str) -> MDM:
    cfg = io.load_json("train", "model.json", item)
    model = build(cfg)
    model.load_state_dict(io.load_torch("train", "model.pt", item))
    return model.eval()
