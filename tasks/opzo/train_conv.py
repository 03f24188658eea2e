"""Stage `train_conv` (one DVC stage per item "<arm>-s<seed>", arm in bp | dfa | zo | opzo): the conv-LIF arm of C3
on the 8x8 digits (D1), trained online with conv.py's network and snn.py's loop.

As in `train`, the arms of a seed share the initial weights, the data order and the noise stream (salted by seed
only), so they differ only in the hidden-layer signal; OPZO's lam and alpha (and ZO's alpha) come frozen from `tune`.
The validation accuracy is logged per epoch; the test split is first read in `evaluate`.

Run: `paperflow stage opzo train_conv --item opzo-s0`.
"""
from __future__ import annotations

import numpy as np
import torch

from .conv import ConvMethod, conv_batch, conv_predict, init_conv
from .params import ConvTrainParams
from .snn import LIF, Counter, Setup, fit
from .train import load_split


def run(p: ConvTrainParams, io) -> dict[str, float]:
    arm, s = io.item.arm, io.item.seed
    tuned = io.load_json("tune", "tuned.json")
    data = io.load_npz("prepare", "data.npz")
    tr, va = load_split(data, "d1", "train", p.max_train), load_split(data, "d1", "val")
    su = Setup(LIF(p.tau, p.v_th, p.alpha_s), p.T_static, True, p.lam_mse)
    gen = lambda k: torch.Generator().manual_seed(io.seed(k, "conv", s))   # noqa: E731
    net = init_conv(list(p.channels), 10, p.init_gain, gen("init"))
    lam = tuned["lam"] if arm == "opzo" else 0.0
    method = ConvMethod(arm, net, lam=lam, alpha=tuned["alpha"], warmup=p.m_warmup, gen=gen("feedback"))
    hist = {"val_acc": [], "train_loss": []}

    def on_epoch(ep: int, loss: float) -> None:
        acc = float((conv_predict(net, su, va.x) == va.y).float().mean())
        hist["val_acc"].append(acc)
        hist["train_loss"].append(loss)
        io.log.info("conv %s epoch %d: loss %.4f, val acc %.4f", arm, ep, loss, acc)

    counter = Counter()
    fit(net, method, tr.x, tr.y, su, epochs=p.epochs, batch=p.batch, lr=p.lr, data_gen=gen("order"),
        noise_gen=gen("noise"), counter=counter, on_epoch=on_epoch, batch_fn=conv_batch)
    io.save_torch("model_d1.pt", net.state_dict())
    io.log_curve("d1_val_acc", hist["val_acc"], steps=range(1, p.epochs + 1))
    io.log_curve("d1_train_loss", hist["train_loss"], steps=range(1, p.epochs + 1))
    io.save_json("history.json", {"arm": arm, "seed": s, "epochs": p.epochs, "history": {"d1": hist},
                                  "lam": lam, "alpha": tuned["alpha"], "channels": list(p.channels),
                                  "setup": {"tau": p.tau, "v_th": p.v_th, "alpha_s": p.alpha_s,
                                            "lam_mse": p.lam_mse, "T": p.T_static}})
    return {"seed_index": s, "lam": lam, "alpha": tuned["alpha"], "d1_val_acc_final": hist["val_acc"][-1],
            "d1_val_acc_best": max(hist["val_acc"]), "d1_best_val_epoch": int(np.argmax(hist["val_acc"])) + 1,
            "d1_forward_calls_per_batch": counter.forward_calls / max(counter.batches, 1)}
