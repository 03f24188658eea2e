"""Stage `grid`: the sheet's tuning grid (Arms: "grid beta1 in {0.05, 0.1, 0.3}, c in {0.05, 0.2, inf}; A gets an
equal tuning budget (KL coef, lr)"), run only in the `full` profile (empty lists in `default` run nothing). One seed
(0), `grid_iterations` PPO iterations per point, through the same `ppo_train` as the `ppo` stage; every point is
reported (final true reward and exact KL on the held-out curve prompts), none is picked for the claims.

Run: `paperflow stage rto grid` (with rto.profile: full).
"""
from __future__ import annotations

import math

from .calibrate import load as load_calibration
from .params import GridParams, PPOParams
from .ppo import ppo_train


def points(p: GridParams) -> list[dict]:
    """The grid: RTO at beta1 x c (c = 0 means no clip), PPO-sparse at KL coef x actor lr."""
    rto = [{"arm": "rto", "beta1": b, "clip": c, "kl_coef": p.kl_coef, "lr_actor": p.lr_actor}
           for b in p.beta1_grid for c in p.clip_grid]
    sparse = [{"arm": "sentence", "beta1": 0.0, "clip": 0.0, "kl_coef": k, "lr_actor": lr}
              for k in p.kl_coef_grid for lr in p.lr_actor_grid]
    return rto + sparse


def run(p: GridParams, io) -> dict[str, float]:
    cal = load_calibration(io, "full")
    base = PPOParams(**{k: getattr(p, k) for k in PPOParams.model_fields})
    out = []
    for pt in points(p):
        q = base.model_copy(update={"iterations": p.grid_iterations, "kl_coef": pt["kl_coef"], "lr_actor": pt["lr_actor"]})
        clip = pt["clip"] if pt["clip"] > 0 else math.inf
        curve, _, _, _ = ppo_train(q, io, pt["arm"], 0, pt["beta1"], clip, cal, desc=f"grid {pt}")
        out.append({**pt, "final_true": curve["true"][-1], "final_kl": curve["kl"][-1],
                    "curve": {"rollouts": curve["rollouts"], "true": curve["true"], "kl": curve["kl"]}})
    io.save_json("grid.json", {"points": out})
    return {"points": float(len(out))}
