"""Stage `train_ar`: the causal AR-CoT transformer through the shared trainer: next-token CE on the CoT, answer and
<eos> (never on the problem), one length per batch. Run: `paperflow stage relay train_ar`.
"""
from __future__ import annotations

import torch

from tasks.common.train import fit

from .batches import ar_loss
from .model import build_ar, n_params
from .params import TrainARParams
from .prepare import load_set, modulus
from .train import ar_dataset, net_config, schedule


def run(p: TrainARParams, io) -> dict[str, float]:
    train = load_set(io, "train")
    ds = ar_dataset(train, modulus(io))
    cfg = net_config(p)
    torch.manual_seed(io.seed("init"))
    model = build_ar(cfg)
    gen = torch.Generator().manual_seed(io.seed("batches"))
    hist = fit(model, lambda s: ar_loss(model, *ds.draw(gen, p.batch)), schedule(p.steps, p.lr), progress=io.progress)
    io.log_curves(hist.curves())
    io.save_model(model, cfg)
    return {"final_loss": hist.tail_mean(), "n_params": n_params(model), "steps": hist.steps_done,
            "n_train": len(train)}
