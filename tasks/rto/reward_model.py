"""Stage `reward_model` (items `full`, `quarter`): the sentence-level Bradley-Terry RM r_MLE (sheet, Models): the SFT
trunk plus a fresh score head giving one scalar per (x, y) (model.rm_score; deviation: a token-additive head instead
of the last-token head, which stayed at chance), loss -log sigmoid(r(x, y_w) - r(x, y_l)). Reports the held-out
pairwise accuracy against the *true* order, the Bradley-Terry reference on the same pairs (ceiling.py: a
bigram-table BT model, its held-out accuracy; DPO's accuracy is reported against it), and saves the mean / std of its scores on pi_ref samples of the PPO
prompts, with which PPO normalises the score (released code: --normalize_reward).

Run: `paperflow stage rto reward_model --item full`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .ceiling import bt_table_accuracy, pair_accuracy
from .env import with_bos
from .model import build, rm_score, sample
from .params import RewardModelParams
from .preferences import split
from .train import fit_epochs, world_of


def run(p: RewardModelParams, io) -> dict[str, float]:
    world = world_of(io)
    tr, ho = split(io, io.item)
    cfg = {**io.load_json("sft", "model.json"), "reward": True}
    rm = build(cfg)           # fresh zero-initialised score head
    rm.load_state_dict(io.load_torch("sft", "model.pt"), strict=False)
    sw, sl = with_bos(world, tr["x"], tr["yw"]), with_bos(world, tr["x"], tr["yl"])

    def loss_fn(idx):
        margin = rm_score(rm, world, sw[idx]) - rm_score(rm, world, sl[idx])
        return -F.logsigmoid(margin).mean(), {"acc_label": float((margin > 0).float().mean())}

    hist = fit_epochs(rm, loss_fn, len(sw), p.batch, p.epochs, p.lr,
                      torch.Generator().manual_seed(io.seed("order", io.item)), progress=io.progress)
    rm.eval()
    with torch.inference_mode():
        margin = rm_score(rm, world, with_bos(world, ho["x"], ho["yw"])) - rm_score(rm, world, with_bos(world, ho["x"], ho["yl"]))
        acc_true = pair_accuracy(margin, ho["rw"], ho["rl"])
        ref = io.load_model("sft", build, freeze=True)
        x = torch.from_numpy(io.load_npz("prepare", "data.npz")["rl_x"])[: p.n_norm]
        s = rm_score(rm, world, with_bos(world, x, sample(ref, world, x, torch.Generator().manual_seed(io.seed("norm")))))
    ceiling, l2 = bt_table_accuracy(world, tr, ho)
    io.log_curves(hist.curves(prefix="rm_"))
    io.save_model(rm, cfg)
    io.save_json("norm.json", {"mean": float(s.mean()), "std": float(s.std())})
    return {"heldout_acc_true_order": acc_true, "bt_table_acc_true_order": ceiling, "bt_table_l2": l2, "final_loss": hist.logs["loss"][-1], "n_pairs": len(sw),
            "score_mean_ref": float(s.mean()), "score_std_ref": float(s.std())}
