"""Probe (not a pipeline stage): time 20 training steps per arm, or train arms briefly and print validation
C-RMSD / ADwT against the identity floor, to fix the recipe before the comparison arms run. Validation only.
Needs the simulate output (`paperflow stage gdb simulate`).

Run: `python -m tasks.gdb.probe --time-only` or `python -m tasks.gdb.probe --arms direct gdb --sigma 0.05
[--set train_steps=800 hidden=32]`.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from . import geometry as G
from .params import TrainParams
from .evaluate import predict
from .train import train_model


class _IO:
    def __init__(self, d):
        self.d = d

    def seed(self, *salt):
        return abs(hash(tuple(map(str, salt)))) % (2 ** 31)

    def load_npz(self, stage, name):
        return self.d

    progress = None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arms", nargs="*", default=["direct", "diffusion", "gdb", "traj"])
    ap.add_argument("--sigma", type=float, default=0.05)
    ap.add_argument("--time-only", action="store_true")
    ap.add_argument("--set", nargs="*", default=[], help="TrainParams overrides key=value")
    a = ap.parse_args()
    torch.set_num_threads(1)
    tp = TrainParams(**{k: float(v) if "." in v else int(v) for k, v in (s.split("=") for s in a.set)})
    if a.time_only:
        tp = tp.model_copy(update={"train_steps": 20, "warmup": 0})
    raw = dict(np.load(Path("outputs/gdb/simulate/data.npz")))
    io = _IO(raw)
    tr = {k: torch.as_tensor(raw[f"train_{k}"]) for k in ("R0", "RT", "Z", "frames")}
    va = {k: torch.as_tensor(raw[f"val_{k}"]) for k in ("R0", "RT", "Z")}
    ident = G.c_rmsd(va["R0"].double().numpy(), va["RT"].double().numpy())
    print(f"identity val C-RMSD {ident.mean():.4f} ADwT {G.adwt(G.atom_dist(va['R0'].numpy(), va['RT'].numpy()).mean(-1)):.4f}")
    for arm in a.arms:
        t0 = time.perf_counter()
        model, cfg, hist = train_model(tp, io, arm, a.sigma, tr, (arm, a.sigma, 0))
        dt = time.perf_counter() - t0
        msg = f"{arm}: {tp.train_steps} steps {dt:.1f} s ({dt / tp.train_steps * 1000:.0f} ms/step) loss {hist.tail_mean():.4f}"
        if not a.time_only:
            t1 = time.perf_counter()
            R = predict(model, cfg, va["R0"], va["Z"], torch.Generator().manual_seed(0)).double().numpy()
            RT = va["RT"].double().numpy()
            msg += (f" | val C-RMSD {G.c_rmsd(R, RT).mean():.4f} ADwT {G.adwt(G.atom_dist(R, RT).mean(-1)):.4f} "
                    f"D-MAE {G.d_mae_rmse(R, RT)[0]:.4f} [sample {time.perf_counter() - t1:.1f} s]")
        print(msg, flush=True)


if __name__ == "__main__":
    main()
