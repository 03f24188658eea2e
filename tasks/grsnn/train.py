"""Stage `train` (one DVC stage per item "<arm>-s<seed>"): one arm through the shared trainer.

Loss (NBFNet convention): self-adversarial BCE, L = -log sig(s+) - sum_i w_i log(1 - sig(s_i-)), w = softmax(s-/T)
detached, over strict negatives (every node that is not a training answer of (h, q)). Adam, constant lr, batches of
queries in a seeded epoch order; validation MRR after every epoch, the best-validation weights kept (the test split
is not read here). K1's message graph holds base facts only, so the queried (derived) edge and its inverse are
never in it (tested). Run: `paperflow stage grsnn train --item grsnn-s0`.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from tasks.common.errors import UserError
from tasks.common.train import EarlyStop, Schedule, epoch_batches, fit

from . import kg
from .model import ARMS, build, n_params
from .params import NetParams, TrainParams
from .ranking import evaluate_split, load_data, summary


def model_config(p: NetParams, arm: str) -> dict:
    if arm not in ARMS:
        raise UserError(f"grsnn train: unknown arm {arm!r}; arms are {', '.join(ARMS)}")
    return {"arm": arm, "dim": p.dim, "T": p.T, "tau": p.tau, "v_th": p.v_th, "beta": p.beta, "gamma": p.gamma,
            "kappa": p.kappa, "alpha": p.alpha, "w_gain": p.w_gain, "layers": p.layers,
            "n_graph_rels": len(kg.GRAPH_RELS), "n_query_rels": len(kg.QUERY_RELS)}


def adversarial_bce(scores: torch.Tensor, target: torch.Tensor, neg_mask: torch.Tensor, temperature: float):
    """scores (B, V), target (B,), neg_mask (B, V) bool (strict negatives) -> mean loss."""
    pos = scores.gather(1, target[:, None]).squeeze(1)
    w = torch.softmax((scores / temperature).masked_fill(~neg_mask, -math.inf), 1).detach()
    neg_term = (w * F.logsigmoid(-scores).masked_fill(~neg_mask, 0.0)).sum(1)
    return (-F.logsigmoid(pos) - neg_term).mean()


def run(p: TrainParams, io) -> dict[str, float]:
    arm = io.item.arm
    data = load_data(io.load_npz("prepare", "kg.npz"))
    tr = torch.as_tensor(data.queries["train"])
    if p.max_train:
        tr = tr[torch.randperm(len(tr), generator=torch.Generator().manual_seed(io.seed("subset")))[:p.max_train]]
    cfg = model_config(p, arm)
    torch.manual_seed(io.seed("init", arm, io.item.seed))
    model = build(cfg)
    steps_per_epoch = math.ceil(len(tr) / p.batch)
    batches = epoch_batches(len(tr), p.batch, p.epochs, torch.Generator().manual_seed(io.seed("order", io.item.seed)))

    def loss_fn(step: int):
        b = tr[next(batches)]
        sc = model(data.graph, b[:, 0], b[:, 1])
        neg = ~data.train_ans[b[:, 0], b[:, 1]]
        return adversarial_bce(sc, b[:, 2], neg, p.temperature)

    def eval_fn(step: int) -> dict[str, float]:
        r = evaluate_split(model, data, "valid")
        return {"val_mrr": summary(r["pess"])["mrr"], "epoch": step / steps_per_epoch}

    hist = fit(model, loss_fn, Schedule(p.epochs * steps_per_epoch, p.lr, min_ratio=1.0, optimizer="adam"),
               eval_fn=eval_fn, eval_every=steps_per_epoch, early_stop=EarlyStop("val_mrr", patience=p.epochs + 1),
               progress=io.progress)
    io.log_curves(hist.curves())
    io.save_model(model, cfg)
    vals = [m["val_mrr"] for _, m in hist.evals]
    best = max(range(len(vals)), key=vals.__getitem__)
    io.save_json("history.json", {"arm": arm, "seed": io.item.seed, "val_mrr": vals,   # no wall time: outputs hash by content
                                  "steps_per_epoch": steps_per_epoch, "loss_tail": hist.tail_mean()})
    return {"val_mrr_best": vals[best], "best_epoch": best + 1, "val_mrr_final": vals[-1],
            "final_loss": hist.tail_mean(), "n_params": n_params(model), "n_train_queries": len(tr),
            "steps": hist.steps_done}
