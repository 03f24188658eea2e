"""Stage `tune`: choose OPZO's momentum lam and noise scale alpha on the D1 validation split, then freeze them.

The paper does not give alpha and lam (sheet, "What this pipeline shows" 5). One seed, D1, the sheet's 3 x 3 grid;
the score is the final-epoch validation accuracy (ties: the earlier grid point, lam-major). The test split is never
read. Every arm of `train` then uses the chosen alpha (ZO too: same noisy forward) and OPZO the chosen lam.

Run: `paperflow stage opzo tune`.
"""
from __future__ import annotations

import numpy as np

from .params import TuneParams
from .train import train_arm


def run(p: TuneParams, io) -> dict[str, float]:
    data = io.load_npz("prepare", "data.npz")
    seeds = {k: io.seed(k, "d1") for k in ("init", "order", "noise", "feedback")}
    grid = []
    for lam in p.lambdas:
        for alpha in p.alphas:
            r = train_arm("opzo", "d1", data, p, epochs=p.epochs, lam=lam, alpha=alpha, seeds=seeds)
            acc = r["hist"]["val_acc"][-1]
            io.log.info("tune lam=%g alpha=%g: val acc %.4f", lam, alpha, acc)
            grid.append({"lam": lam, "alpha": alpha, "val_acc": acc, "val_curve": r["hist"]["val_acc"]})
    best = grid[int(np.argmax([g["val_acc"] for g in grid]))]
    io.save_json("tuned.json", {"lam": best["lam"], "alpha": best["alpha"], "val_acc": best["val_acc"],
                                "epochs": p.epochs, "grid": grid})
    return {"lam": best["lam"], "alpha": best["alpha"], "best_val_acc": best["val_acc"],
            "worst_val_acc": min(g["val_acc"] for g in grid), "grid_points": len(grid)}
