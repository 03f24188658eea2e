"""Stage `calibrate`: the real-data reference classifiers (sheet, Data "Calibration" and Metrics "Judge check").

- `ref_large`: the CNN on the 20 k real device-A task images. Its val AUC is the upper calibration band; it is the
  judge of generated task samples and its GAP features are the feature space of the privacy distances.
- `ref_few`: the same CNN on the 64 few-shot images (the lower calibration band).
- `foundation`: the CNN pretrained on the pool with a benign/malignant and a device head (the Baseline-CLIP
  analogue, fine-tuned on the few-shot set in `downstream`); also the judge of benign/malignant samples.
Calibration is measured on real `val` only. Run: `paperflow stage busgen calibrate`.
"""
from __future__ import annotations

import torch

from . import sim
from .metrics import auc
from .params import CalibrateParams
from .train import predict, train_classifier


def _xy(d):
    return torch.from_numpy(sim.to_float(d["x"])), torch.from_numpy(d["y"])


def run(p: CalibrateParams, io) -> dict[str, float]:
    val = io.load_npz("prepare", "val.npz")
    kw = dict(batch=p.batch, lr=p.lr, width=p.width, progress=io.progress)
    cfg = {"width": p.width, "heads": {"y": 1}}
    out = {}
    for name, set_ in (("ref_large", "real_task.npz"), ("ref_few", "fewshot.npz")):
        x, y = _xy(io.load_npz("prepare", set_))
        model, hist = train_classifier(x, y, steps=p.steps, seed=io.seed(name), **kw)
        io.save_model(model, cfg, name=name)
        out[f"val_auc_{name}"] = float(auc(val["y"], predict(model, val["x"])))
        out[f"final_loss_{name}"] = hist.tail_mean()
    pool = io.load_npz("prepare", "pool.npz")
    x = torch.from_numpy(sim.to_float(pool["x"]))
    model, hist = train_classifier(x, torch.from_numpy(pool["path"]), dev=torch.from_numpy(pool["dev"]),
                                   steps=p.foundation_steps, seed=io.seed("foundation"), **kw)
    io.save_model(model, {"width": p.width, "heads": {"y": 1, "dev": 3}}, name="foundation")
    out["final_loss_foundation"] = hist.tail_mean()
    out["val_auc_foundation_zero_shot"] = float(auc(val["y"], predict(model, val["x"])))
    return out
