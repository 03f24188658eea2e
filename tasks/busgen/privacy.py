"""Stage `privacy`: are generated samples near-copies of the adaptation (patient) images? (sheet, Metrics "Privacy")

Distance to closest record (DCR) of each generated sample to the 64 adaptation images vs the DCR of the 64 held-out
real images to the same 64, and membership inference (members = the adaptation images, non-members = the held-out
ones, score = distance to the nearest generated sample), in two spaces: pixels after light Gaussian smoothing (so
speckle does not swamp the anatomy) and the GAP features of the real-data judge `ref_large` (never saw generated
data). Banks: task_a (adapted generator, device A: the primary bank), scratch (the few-shot-only generator), and two
controls. The positive control (`control`) is what a memorising generator emits: near-copies of the adaptation
images (16 each: random horizontal flip + Gaussian pixel noise of 8 grey levels, fixed constants); it must be detected. The
re-speckled copies of `prepare` (same anatomy, fresh speckle; `respeckled`) are reported too: in this simulator the
speckle dominates every distance, so they are as far from their sources as other images are (no power; README).
Run: `paperflow stage busgen privacy`.
"""
from __future__ import annotations

import numpy as np

from .metrics import dcr_ratio, mia_auc, smooth
from .model import build_cnn
from .params import PrivacyParams
from .train import features

CONTROL_COPIES, CONTROL_NOISE = 16, 8.0      # near-copies per adaptation image, noise std in grey levels


def near_copies(x: np.ndarray, copies: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    """`copies` near-copies of each uint8 image (n, H, W): random horizontal flip plus Gaussian pixel noise."""
    c = np.repeat(x, copies, 0).astype(np.float64)
    flip = rng.random(len(c)) < 0.5
    c[flip] = c[flip, :, ::-1]
    c = c + rng.normal(0, noise, c.shape)
    return np.clip(np.round(c), 0, 255).astype(np.uint8)


def run(p: PrivacyParams, io) -> dict[str, float]:
    few = io.load_npz("prepare", "fewshot.npz")["x"]
    held = io.load_npz("prepare", "heldout.npz")["x"]
    banks = {"task_a": io.load_npz("generate", "task_a.npz")["x"],
             "scratch": io.load_npz("generate", "scratch.npz")["x"],
             "respeckled": io.load_npz("prepare", "copies.npz")["x"],
             "control": near_copies(few, CONTROL_COPIES, CONTROL_NOISE,
                                        np.random.default_rng(io.seed("control")))}
    judge = io.load_model("calibrate", build_cnn, name="ref_large")
    spaces = {"pixel": lambda x: smooth(x, p.smooth), "feature": lambda x: features(judge, x)}
    out = {}
    for sp, f in spaces.items():
        tr, ho = f(few), f(held)
        for name, x in banks.items():
            g = f(x)
            for k, v in dcr_ratio(g, tr, ho).items():
                out[f"{k}_{name}_{sp}"] = v
            out[f"mia_auc_{name}_{sp}"] = mia_auc(tr, ho, g)
    io.save_json("privacy.json", out)
    return out
