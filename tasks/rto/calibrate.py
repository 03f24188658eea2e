"""Stage `calibrate`: fixes RTO's DPO-reward scale beta1 and clip c by a rule set in code before any PPO run
(issue 13), and the normalisation of the true reward for the validity arm F.

Why: the released code's beta1 = 0.05 is sized for responses of hundreds of tokens. At H = 16-24 the summed DPO
token term clip(beta1 log pi_dpo / pi_ref, +-c) then has a std of a few % of the normalised RM score's (std 1),
so RTO would be PPO-sparse plus a negligible perturbation. The rule keeps the paper's design (the DPO term
shapes, the RM score still dominates) at this response length:

1. On `n_samples` pi_ref responses to PPO prompts: s_rm = std of the normalised RM score, s_dpo = std of
   sum_h log pi_dpo / pi_ref.
2. beta1 = RATIO * s_rm / s_dpo (the unclipped summed term has RATIO = 0.5 times the RM's std; issue 13's band is
   0.3-1x).
3. c = the smallest value of the sheet's grid CLIP_GRID = (0.05, 0.2, inf) at which the clipped summed term keeps
   >= CLIP_KEEP = 0.8 of the unclipped std (the clip trims tails, as in the released code, without rescaling the
   term). The reported std ratio of the clipped term is gated in the report to lie in BAND = [0.3, 1].

Done separately for the `full` and `quarter` RM / DPO pairs. Also: mean / std of r* on the same pi_ref samples,
with which arm F (PPO on the true reward) normalises its reward like the RM score.

Run: `paperflow stage rto calibrate`.
"""
from __future__ import annotations

import math

import torch

from .env import token_rewards, with_bos
from .model import build, response_out, rm_score, sample, token_logprobs
from .params import CalibrateParams
from .rewards import dpo_token_reward
from .train import world_of

RATIO = 0.5
BAND = (0.3, 1.0)
CLIP_GRID = (0.05, 0.2, math.inf)
CLIP_KEEP = 0.8


def choose(logratio: torch.Tensor, rm_n: torch.Tensor) -> dict[str, float]:
    """The rule on pi_ref samples: logratio (N, H) = log pi_dpo / pi_ref of the sampled tokens, rm_n (N,) the
    normalised RM scores -> beta1, c and the resulting statistics."""
    s_rm, s_dpo = float(rm_n.std()), float(logratio.sum(1).std())
    beta1 = RATIO * s_rm / s_dpo
    unclipped = beta1 * s_dpo
    for c in CLIP_GRID:
        s_c = float(dpo_token_reward(logratio, torch.zeros_like(logratio), beta1, c).sum(1).std())
        if s_c >= CLIP_KEEP * unclipped:
            break
    frac = float(((beta1 * logratio).abs() > c).float().mean())
    return {"beta1": beta1, "clip": c, "ratio": s_c / s_rm, "ratio_unclipped": unclipped / s_rm,
            "clip_fraction": frac, "std_rm": s_rm, "std_logratio_sum": s_dpo}


def run(p: CalibrateParams, io) -> dict[str, float]:
    world = world_of(io)
    x = torch.from_numpy(io.load_npz("prepare", "data.npz")["rl_x"])[: p.n_samples]
    ref = io.load_model("sft", build, freeze=True)
    y = sample(ref, world, x, torch.Generator().manual_seed(io.seed("calibrate")))
    seq = with_bos(world, x, y)
    out, metrics = {}, {}
    with torch.inference_mode():
        lp_ref = token_logprobs(response_out(ref, world, seq)[0], y)
        for item in ("full", "quarter"):
            dpo = io.load_model("dpo", build, item, freeze=True)
            rm = io.load_model("reward_model", build, item, freeze=True)
            norm = io.load_json("reward_model", "norm.json", item)
            rm_n = (rm_score(rm, world, seq) - norm["mean"]) / norm["std"]
            out[item] = choose(token_logprobs(response_out(dpo, world, seq)[0], y) - lp_ref, rm_n)
            metrics.update({f"{k}_{item}": v for k, v in out[item].items() if k != "clip"})
            metrics[f"clip_{item}"] = out[item]["clip"] if math.isfinite(out[item]["clip"]) else -1.0
        r = token_rewards(world, x, y).sum(1)
    out["true"] = {"mean": float(r.mean()), "std": float(r.std())}
    io.save_json("calibration.json", {k: {kk: (None if isinstance(vv, float) and math.isinf(vv) else vv)
                                          for kk, vv in v.items()} for k, v in out.items()})
    return {**metrics, "true_mean_ref": out["true"]["mean"], "true_std_ref": out["true"]["std"]}


def load(io, item: str) -> dict:
    """The calibration of `item` (full | quarter) with c = inf restored, plus the true-reward normalisation."""
    cal = io.load_json("calibrate", "calibration.json")
    d = dict(cal[item])
    d["clip"] = math.inf if d["clip"] is None else d["clip"]
    return {**d, "true_mean": cal["true"]["mean"], "true_std": cal["true"]["std"]}
