"""Stage `train` (one DVC stage per item "<method>-s<seed>"): one method through the shared trainer.

Every step draws 16 D_seg images (base masks) and, for methods with weak data, 16 D_cls images (epoch orders from
one generator per seed, so paired seeds share init and data order). Losses at 16x16 on nearest-downsampled labels:
- seg_only: seg CE on D_seg (lower bound);           - oracle: + seg CE on D_cls with its full masks (ceiling);
- baseline: + w_basic * GAP-logit CE on D_cls;       - larvseg: baseline + w_ca * CA loss (losses.py);
- ca_only: larvseg with w_basic = 0;                 - larvseg_fg_only: larvseg without background suppression.
Banks (larvseg variants): novel banks from each weak image's top-k pixels for its label; base banks from D_seg
(top-k inside each GT region of >= k pixels), a documented deviation so background suppression has banks to
compare with. The bank object-pixel fraction (purity) of the novel enqueues is logged. Run:
`paperflow stage larvseg train --item larvseg-s0`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from tasks.common.errors import UserError
from tasks.common.train import History, Schedule, epoch_batches, fit

from . import data as D
from .losses import Bank, ca_attention, ca_loss, gap_ce, seg_ce, topk_masked, topk_weak
from .model import build, n_params
from .params import METHODS, TrainParams

WEAK = {"baseline", "larvseg", "ca_only", "larvseg_fg_only"}
CA = {"larvseg", "ca_only", "larvseg_fg_only"}


def model_config(p: TrainParams) -> dict:
    return {"width": p.width, "channels": p.channels, "dim": p.dim, "n_cls": D.K, "dil1": p.dil1, "dil2": p.dil2}


@dataclass
class Trained:
    model: torch.nn.Module
    bank: Bank | None
    hist: History


def train_method(p: TrainParams, arr: dict, method: str, init_seed: int, order_seed: int,
                 progress=None) -> Trained:
    """Train one method on the prepared arrays (seg_x, seg_y, cls_x, cls_y, cls_c)."""
    if method not in METHODS:
        raise UserError(f"larvseg train: unknown method {method!r}; methods are {', '.join(METHODS)}")
    sx, sy = torch.from_numpy(arr["seg_x"].astype(np.float32)), torch.from_numpy(D.downsample(arr["seg_y"]).copy())
    cx, cy = torch.from_numpy(arr["cls_x"].astype(np.float32)), torch.from_numpy(D.downsample(arr["cls_y"]).copy())
    cc = torch.from_numpy(arr["cls_c"].astype(np.int64))
    torch.manual_seed(init_seed)
    model = build(model_config(p))
    gen = torch.Generator().manual_seed(order_seed)
    epochs = math.ceil(p.steps * p.batch / min(len(sx), len(cx))) + 1
    bs, bc = epoch_batches(len(sx), p.batch, epochs, gen), epoch_batches(len(cx), p.batch, epochs, gen)
    bank = Bank(D.K, p.slots, p.topk, p.dim) if method in CA else None
    base = torch.as_tensor(D.BASE)
    w_basic = 0.0 if method == "ca_only" else p.w_basic
    ca_from = int(p.ca_start_frac * p.steps)

    def loss_fn(step: int):
        i, j = next(bs), next(bc)
        weak = method != "seg_only"
        x = torch.cat([sx[i], cx[j]]) if weak else sx[i]
        e, s, logits = model(x)
        n = len(i)
        loss = seg_ce(logits[:n], sy[i])
        logs = {"seg": float(loss.detach())}
        if method == "oracle":
            lo = seg_ce(logits[n:], cy[j])
            loss, logs["oracle_cls_seg"] = loss + lo, float(lo.detach())
        if method in WEAK and w_basic > 0:
            lb = gap_ce(logits[n:].flatten(2), cc[j])
            loss, logs["basic"] = loss + w_basic * lb, float(lb.detach())
        if bank is not None:
            ew, sw, c = e[n:].flatten(1, 2), s[n:].detach().flatten(1, 2), cc[j]   # (m, P, D), (m, P, K)
            ready = bank.ready(p.warm_up)
            valid = ready[c] & (step >= ca_from)
            att, _ = ca_attention(ew.detach(), sw, c, bank.means(), ready, p.bg_score, p.bg_mse,
                                  suppress=method != "larvseg_fg_only")
            lc = ca_loss(logits[n:].flatten(2), att, c, valid)
            loss = loss + p.w_ca * lc
            ent, idx = topk_weak(ew, sw, c, p.topk)
            purity = (cy[j].flatten(1).gather(1, idx) == c[:, None]).float().mean()
            bank.enqueue(c, ent)
            bc_, bent = topk_masked(e[:n].detach().flatten(1, 2), s[:n].detach().flatten(1, 2),
                                    sy[i].flatten(1).long(), base, p.topk)
            bank.enqueue(bc_, bent)
            logs.update(ca=float(lc.detach()), ca_valid=float(valid.float().mean()), bank_purity=float(purity))
        return loss, logs

    hist = fit(model, loss_fn, Schedule(p.steps, p.lr, warmup=p.warmup), progress=progress)
    return Trained(model, bank, hist)


def run(p: TrainParams, io) -> dict[str, float]:
    method, seed = io.item.method, io.item.seed
    arr = io.load_npz("prepare", "data.npz")
    t = train_method(p, arr, method, io.seed("init", seed), io.seed("order", seed), io.progress)
    io.log_curves(t.hist.curves())
    io.save_model(t.model, model_config(p))
    out = {"final_loss": t.hist.tail_mean(), "final_seg_loss": t.hist.tail_mean("seg"), "n_params": n_params(t.model),
           "steps": t.hist.steps_done}
    if t.bank is not None:
        io.save_torch("bank.pt", t.bank.state())
        io.save_json("ca.json", {"warm_up": p.warm_up, "bg_score": p.bg_score, "bg_mse": p.bg_mse})
        out.update(final_ca_loss=t.hist.tail_mean("ca"), bank_purity_final=t.hist.tail_mean("bank_purity", 0.2),
                   bank_purity_first=float(np.mean(t.hist.logs["bank_purity"][:max(1, p.steps // 10)])))
    if "basic" in t.hist.logs:
        out["final_basic_loss"] = t.hist.tail_mean("basic")
    return out
