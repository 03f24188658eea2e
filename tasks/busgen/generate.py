"""Stage `generate`: the sample banks, written once and DVC-cached so evaluation changes never retrain or resample
(sheet, Pipeline). DDIM (eta = 0) with classifier-free guidance; images quantised to uint8 like the real sets.

Banks (labels interleaved, so every even prefix is class-balanced; devices cycle A/B/C within each class):
  task.npz      adapted generator, benign/DCIS, devices A/B/C uniform    P1 gen_N (nested prefixes), P4 (iii)
  task_a.npz    adapted generator, benign/DCIS, device A only            P2, P4 (ii), privacy
  scratch.npz   scratch generator, benign/DCIS, device A                 P2
  scaling.npz   pretrained generator (no adaptation), benign/malignant, devices A/B/C   P3
  proxy.npz     pretrained generator, benign/malignant as a DCIS proxy, device A         ablation (reported)
Run: `paperflow stage busgen generate`.
"""
from __future__ import annotations

import numpy as np
import torch

from . import sim
from .diffusion import Schedule as Noise
from .diffusion import ddim_sample
from .model import build_unet
from .params import GenerateParams


def labels(n: int, devices: int) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved labels 0/1 and device indices 0..devices-1 cycling within each class."""
    y = np.arange(n) % 2
    return y.astype(np.int64), ((np.arange(n) // 2) % devices).astype(np.int64)


def run(p: GenerateParams, io) -> dict[str, float]:
    nets = {s: io.load_model(s, build_unet, freeze=True) for s in ("pretrain_gen", "adapt_gen", "scratch_gen")}
    banks = (("task", "adapt_gen", p.bank_task, 3), ("task_a", "adapt_gen", p.bank_a, 1),
             ("scratch", "scratch_gen", p.bank_scratch, 1), ("scaling", "pretrain_gen", p.bank_scaling, 3),
             ("proxy", "pretrain_gen", p.bank_a // 2, 1))
    out = {}
    for name, stage, n, ndev in banks:
        cfg = io.load_json(stage, "model.json")
        size = io.load_npz("prepare", "fewshot.npz")["x"].shape[-1]
        y, dev = labels(n, ndev)
        gen = torch.Generator().manual_seed(io.seed(name))
        x = ddim_sample(nets[stage], Noise(cfg["T"], cfg["beta_start"], cfg["beta_end"]), torch.from_numpy(y + 1),
                        torch.from_numpy(dev + 1), p.sampler_steps, p.w, gen, size=size, batch=p.batch)
        xu = sim.to_u8(x.numpy())
        io.save_npz(f"{name}.npz", x=xu, y=y, dev=dev)
        out[f"n_{name}"] = n
        out[f"mean_{name}"] = float(xu.mean())
    return out
