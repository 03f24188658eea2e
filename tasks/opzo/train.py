"""Stage `train` (one DVC stage per item "<arm>-s<seed>"): online training of one arm on D1 (and D2 for main arms,
OPZO lam = 0 and the readout-only reference).

Every arm shares the initial weights, the data order and the noise stream of its seed (salted by dataset and seed
only), so arms differ only in the hidden-layer learning signal (methods.py). OPZO's lam and alpha come frozen from
`tune` (validation split); ZO uses the same alpha. The validation accuracy is logged per epoch; the test split is
not read here. Main OPZO arms also save checkpoints (weights + M) at epoch 1, mid-training and the end for the
gradient probes of `evaluate`.

Run: `paperflow stage opzo train --item opzo-s0`.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from .methods import ARMS, OPZO, make_method
from .params import NetParams, TrainParams
from .snn import LIF, Counter, Setup, fit, firing_rates, init_net, predict

DATASETS = ("d1", "d2")


@dataclass
class Split:
    x: torch.Tensor        # (N, n_0) static or (N, T, n_0) events
    y: torch.Tensor        # (N,)


def load_split(data: dict[str, np.ndarray], ds: str, split: str, max_n: int = 0) -> Split:
    idx = data[f"idx_{split}"]
    if max_n:
        idx = idx[:max_n]
    x = torch.from_numpy(data[f"{ds}_x"][idx])
    return Split(x if ds == "d1" else x.float(), torch.from_numpy(data["y"][idx]))


def setup_for(p: NetParams, data: dict[str, np.ndarray], ds: str) -> Setup:
    T = p.T_static if ds == "d1" else int(data["d2_x"].shape[1])
    return Setup(LIF(p.tau, p.v_th, p.alpha_s), T, ds == "d1", p.lam_mse)


def mid_epoch(epochs: int) -> int:
    return max(1, math.ceil(epochs / 2))


def train_arm(arm: str, ds: str, data: dict[str, np.ndarray], p: NetParams, *, epochs: int, lam: float,
              alpha: float, seeds: dict[str, int], baseline_decay: float = 0.99, ckpt_epochs=(),
              log=None) -> dict:
    """Train one arm on one dataset; returns the net, method, counter, per-epoch history and checkpoints."""
    tr, va = load_split(data, ds, "train", p.max_train), load_split(data, ds, "val")
    su = setup_for(p, data, ds)
    gen = lambda k: torch.Generator().manual_seed(seeds[k])   # noqa: E731
    net = init_net(tr.x.shape[-1], list(p.hidden), 10, p.init_gain, gen("init"))
    method = make_method(arm, net, lam=lam, alpha=alpha, warmup=p.m_warmup, gen=gen("feedback"),
                         baseline_decay=baseline_decay)
    counter, hist, ckpts = Counter(), {"val_acc": [], "train_loss": []}, {}

    def on_epoch(ep: int, loss: float) -> None:
        acc = float((predict(net, su, va.x) == va.y).float().mean())
        hist["val_acc"].append(acc)
        hist["train_loss"].append(loss)
        if log is not None:
            log.info("%s %s epoch %d: loss %.4f, val acc %.4f", arm, ds, ep, loss, acc)
        if ep in ckpt_epochs:
            ck = {f"net.{k}": v for k, v in net.state_dict().items()}
            if isinstance(method, OPZO):
                ck.update({f"M{l}": M[0].clone() for l, M in enumerate(method.M)})
                ck["n_updates"] = torch.tensor(method.n_updates)
            ckpts[ep] = ck

    t0 = time.perf_counter()
    fit(net, method, tr.x, tr.y, su, epochs=epochs, batch=p.batch, lr=p.lr, data_gen=gen("order"),
        noise_gen=gen("noise"), counter=counter, on_epoch=on_epoch)
    wall = time.perf_counter() - t0
    return {"net": net, "method": method, "counter": counter, "hist": hist, "ckpts": ckpts, "wall": wall,
            "rates": firing_rates(net, su, va.x), "T": su.T}


def run(p: TrainParams, io) -> dict[str, float]:
    arm, s = io.item.arm, io.item.seed
    tuned = io.load_json("tune", "tuned.json")
    data = io.load_npz("prepare", "data.npz")
    datasets = ARMS[arm].datasets
    ckpt_epochs = sorted({1, mid_epoch(p.epochs), p.epochs}) if arm == "opzo" else []
    out: dict[str, float] = {"seed_index": s, "lam": tuned["lam"] if ARMS[arm].momentum else 0.0,
                             "alpha": tuned["alpha"]}
    history, Ts = {}, {}
    for ds in datasets:
        seeds = {k: io.seed(k, ds, s) for k in ("init", "order", "noise", "feedback")}
        r = train_arm(arm, ds, data, p, epochs=p.epochs, lam=tuned["lam"], alpha=tuned["alpha"], seeds=seeds,
                      baseline_decay=p.zo_baseline_decay, ckpt_epochs=ckpt_epochs, log=io.log)
        for ep, ck in r["ckpts"].items():
            io.save_torch(f"ckpt_{ds}_ep{ep}.pt", ck)
        io.save_torch(f"model_{ds}.pt", r["net"].state_dict())
        hist = r["hist"]
        history[ds], Ts[ds] = hist, r["T"]
        io.log_curve(f"{ds}_val_acc", hist["val_acc"], steps=range(1, p.epochs + 1))
        io.log_curve(f"{ds}_train_loss", hist["train_loss"], steps=range(1, p.epochs + 1))
        c: Counter = r["counter"]
        out.update({
            f"{ds}_val_acc_final": hist["val_acc"][-1],
            f"{ds}_val_acc_best": max(hist["val_acc"]),
            f"{ds}_best_val_epoch": int(np.argmax(hist["val_acc"])) + 1,
            f"{ds}_T": r["T"],
            f"{ds}_forward_calls_per_batch": c.forward_calls / max(c.batches, 1),
            f"{ds}_layer_backward_per_batch": c.layer_backward / max(c.batches, 1),
            f"{ds}_requires_grad_seen": int(c.requires_grad_seen),
            **{f"{ds}_{k}_per_sample_step": v for k, v in c.per_sample_step().items()},
            **{f"{ds}_rate_L{l}": v for l, v in enumerate(r["rates"])},
        })
    io.save_json("history.json", {
        "arm": arm, "seed": s, "epochs": p.epochs, "ckpt_epochs": ckpt_epochs, "history": history,
        "lam": out["lam"], "alpha": out["alpha"], "sizes": [64, *p.hidden],
        "setup": {"tau": p.tau, "v_th": p.v_th, "alpha_s": p.alpha_s, "lam_mse": p.lam_mse, "T": Ts}})
    return out
