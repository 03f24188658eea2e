"""Probe (not a pipeline stage): time 20 training steps per method, and the one-time calibration of the context
bias and object sizes on D_val (baseline vs oracle novel-mIoU gap), printed with every gate the sheet names.
D_test is never generated here.

Run: `python -m tasks.larvseg.probe --time-only`, `python -m tasks.larvseg.probe --methods baseline oracle
--set-prep rho=0.7 --set-train steps=700`.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from . import data as D
from .metrics import dataset_iou, inter_union, predict, split_miou
from .params import PrepareParams, TrainParams
from .train import train_method


def _kv(items):
    return {k: (float(v) if "." in v or "e-" in v else int(v)) for k, v in (s.split("=") for s in items)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--methods", nargs="*", default=["seg_only", "baseline", "larvseg", "oracle"])
    ap.add_argument("--time-only", action="store_true")
    ap.add_argument("--set-prep", nargs="*", default=[])
    ap.add_argument("--set-train", nargs="*", default=[])
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    pp, tp = PrepareParams(**_kv(a.set_prep)), TrainParams(**_kv(a.set_train))
    if a.time_only:
        pp = pp.model_copy(update={"n_seg": 400, "n_cls": 400})
        tp = tp.model_copy(update={"steps": 20, "slots": 2})
    t0 = time.perf_counter()
    area = (pp.obj_min, pp.obj_max)
    x, y, _ = D.make_seg(np.random.default_rng(1000 + a.seed), pp.n_seg, area, pp.noise)
    arr = {"seg_x": x, "seg_y": y}
    x, y, _, c, _ = D.make_cls(np.random.default_rng(2000 + a.seed), pp.n_cls, pp.rho, area, pp.noise)
    arr.update(cls_x=x, cls_y=y, cls_c=c)
    vx, vy, _ = D.make_eval(np.random.default_rng(3000 + a.seed), pp.n_val, area, pp.noise, pp.eval_context)
    print(f"data {time.perf_counter() - t0:.1f} s; prep {pp.model_dump()}", flush=True)
    res = {}
    for m in a.methods:
        t0 = time.perf_counter()
        t = train_method(tp, arr, m, 11 + a.seed, 22 + a.seed)
        dt = time.perf_counter() - t0
        if a.time_only:
            print(f"{m}: 20 steps {dt:.2f} s = {dt / 20 * 1000:.0f} ms/step", flush=True)
            continue
        mi = split_miou(dataset_iou(*inter_union(predict(t.model, vx, 300), vy)))
        res[m] = mi
        extra = {k: round(t.hist.tail_mean(k, 0.2), 3) for k in ("bank_purity", "ca_valid") if k in t.hist.logs}
        print(f"{m}: {dt:.0f} s  D_val mIoU novel {mi['novel']:.1f} base {mi['base']:.1f}  "
              f"loss {t.hist.tail_mean():.3f} {extra}", flush=True)
    if "baseline" in res and "oracle" in res:
        print(f"D_val headroom oracle - baseline (novel) = {res['oracle']['novel'] - res['baseline']['novel']:.1f} "
              f"(gate >= 15)")
    if "larvseg" in res and "baseline" in res:
        print(f"D_val larvseg - baseline: novel {res['larvseg']['novel'] - res['baseline']['novel']:+.1f}, "
              f"base {res['larvseg']['base'] - res['baseline']['base']:+.1f}")


if __name__ == "__main__":
    main()
