"""Stage `sample_eval` (one per train item): run the arm's sampler (one sample per input) on the validation, ID test
and OOD splits, score it (evaluate.py) and check the checkpoint's equivariance (G4).
Run: `paperflow stage gdb sample_eval --item gdb-b05-s0`.
"""
from __future__ import annotations

import numpy as np
import torch

from . import geometry as G
from .evaluate import SPLITS, equivariance_errors, predict, score
from .model import build
from .params import SampleEvalParams
from .prepare import load_split


def run(p: SampleEvalParams, io) -> dict[str, float]:
    model = io.load_model("train", build, item=io.item)
    cfg = io.load_json("train", "model.json", io.item)
    arrays, metrics = {}, {}
    for split in SPLITS:
        d = load_split(io, split)
        gen = torch.Generator().manual_seed(io.seed("sample", split, str(io.item)))
        R_hat = predict(model, cfg, d["R0"], d["Z"], gen).numpy()
        s = score(R_hat, d["RT"].numpy(), d["Z"].numpy(), p)
        arrays.update({f"{split}_{k}": v for k, v in s.items()})
        m = d["R0"].shape[0] * d["R0"].shape[1] ** 2
        metrics.update({f"{split}_crmsd": float(s["crmsd"].mean()), f"{split}_adwt": G.adwt(s["mean_dist"]),
                        f"{split}_dmae": float(s["d_abs"].sum() / m), f"{split}_drmse": float(np.sqrt(s["d_sq"].sum() / m)),
                        f"{split}_egap_median": float(np.median(s["egap"])), f"{split}_basin": float(s["basin"].mean())})
    te = load_split(io, "test")
    eq = equivariance_errors(model, cfg, te["R0"][:8], te["Z"][:8], torch.Generator().manual_seed(io.seed("equiv")))
    metrics.update({"equiv_rel_err_net": eq["net"], "equiv_rel_err_sampler": eq["sampler"]})
    io.save_npz("scores.npz", **arrays)
    return metrics
