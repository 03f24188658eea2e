"""Training helpers shared by stages `train_ar` (train_ar.py) and `train_looped` (train_looped.py): model configs
and the schedule (AdamW, wd 0.01, 2 % warm-up, cosine decay: the shared trainer's schedule; the sheet's "linear
decay" is not in tasks/common).
"""
from __future__ import annotations

from tasks.common.train import Schedule

from . import data as D
from .batches import ARData
from .params import NetParams
from .prepare import n_ops


def net_config(p: NetParams, inject: bool | None = None) -> dict:
    cfg = {"vocab": D.VOCAB, "d": p.d, "layers": p.layers, "heads": p.heads, "d_ff": 4 * p.d}
    if inject is not None:
        cfg["inject"] = inject
    return cfg


def schedule(steps: int, lr: float) -> Schedule:
    return Schedule(steps, lr, warmup=max(1, round(0.02 * steps)), weight_decay=0.01)


def ar_dataset(exprs: list[list[int]], mod: int) -> ARData:
    return ARData([D.ar_sequence(*D.split_expr(e), mod) for e in exprs], [n_ops(e) for e in exprs], by="ops")
