"""Stage `dpo` (items `full`, `quarter`): DPO from pi_ref on the same pairs (sheet, Models: beta = 0.1),
loss -log sigmoid(beta * [(log pi - log pi_ref)(y_w) - (log pi - log pi_ref)(y_l)]). pi_dpo supplies RTO's token
reward log pi_dpo / pi_ref and is the "DPO alone" arm of C2. Reports the held-out implicit-reward accuracy against
the true order.

Run: `paperflow stage rto dpo --item full`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .ceiling import pair_accuracy
from .env import with_bos
from .model import build, response_out, token_logprobs
from .params import DPOParams
from .preferences import split
from .train import fit_epochs, world_of


def seq_logprob(model, world, x, y) -> torch.Tensor:
    """log pi(y | x) = sum_h log pi(y_h | s_h): (N,)."""
    return token_logprobs(response_out(model, world, with_bos(world, x, y))[0], y).sum(1)


def run(p: DPOParams, io) -> dict[str, float]:
    world = world_of(io)
    tr, ho = split(io, io.item)
    ref = io.load_model("sft", build, freeze=True)
    cfg = io.load_json("sft", "model.json")
    pol = build(cfg)
    pol.load_state_dict(io.load_torch("sft", "model.pt"))
    with torch.inference_mode():
        ref_w, ref_l = seq_logprob(ref, world, tr["x"], tr["yw"]), seq_logprob(ref, world, tr["x"], tr["yl"])

    def loss_fn(idx):
        hw = seq_logprob(pol, world, tr["x"][idx], tr["yw"][idx]) - ref_w[idx]
        hl = seq_logprob(pol, world, tr["x"][idx], tr["yl"][idx]) - ref_l[idx]
        m = p.beta * (hw - hl)
        return -F.logsigmoid(m).mean(), {"acc_label": float((m > 0).float().mean())}

    hist = fit_epochs(pol, loss_fn, len(ref_w), p.batch, p.epochs, p.lr,
                      torch.Generator().manual_seed(io.seed("order", io.item)), progress=io.progress)
    pol.eval()
    with torch.inference_mode():
        hw = seq_logprob(pol, world, ho["x"], ho["yw"]) - seq_logprob(ref, world, ho["x"], ho["yw"])
        hl = seq_logprob(pol, world, ho["x"], ho["yl"]) - seq_logprob(ref, world, ho["x"], ho["yl"])
        acc_true = pair_accuracy(hw - hl, ho["rw"], ho["rl"])
    io.log_curves(hist.curves(prefix="dpo_"))
    io.save_model(pol, cfg)
    return {"heldout_acc_true_order": acc_true, "final_loss": hist.logs["loss"][-1], "n_pairs": len(ref_w)}
