"""Stage `train@{dense,sparse}`: the tiny MDM (sheet "Denoisers" 3) trained with the MDLM objective on one language.

Fresh samples every step, lengths mixed from `lengths` (per sequence, padded to L_max = max(lengths); or one length
per batch at the same token count, `length_batching`), t sampled i.i.d. or stratified (`t_sampling`). Writes model.pt (state
dict) and model.json (its config) through the shared trainer (tasks/common/train.py); logs the loss curve and the
model to MLflow. Run:
`paperflow stage mdm train --item dense`.
"""
from __future__ import annotations

import numpy as np
import torch

from tasks.common.errors import UserError
from tasks.common.nn import count_params
from tasks.common.train import Schedule, fit

from .model import MDM, make_batch_sampler, mdlm_loss
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
    sampler = make_batch_sampler(pi, P, np.random.default_rng(io.seed("data", io.item)), p.lengths, max(p.lengths),
                                 per_batch_length=p.length_batching == "per_batch")
    gen = torch.Generator().manual_seed(io.seed("mask", io.item))      # the masking stream
    hist = fit(model, lambda step: mdlm_loss(model, *sampler(p.batch), gen, t_sampling=p.t_sampling),
               Schedule(p.steps, p.lr, p.warmup, weight_decay=0.01), progress=io.progress)
    io.log_curves(hist.curves())
    io.save_model(model, cfg)
    return {"final_loss": hist.tail_mean(), "params": count_params(model), "steps": p.steps}
