"""Stage `evaluate`: the final exact measurements of every policy on the held-out prompts (sheet, Measurements).

For pi_ref, DPO (full and quarter pairs), each PPO run: mean true reward r* and KL(pi || pi_ref) summed exactly over
the vocabulary along sampled responses (SE over samples), and the normalised full-pairs RM score (over-optimisation).
DPO has no training curve, so its KL-reward curve is traced by the geometric mixtures pi_ref^(1-a) pi_dpo^a
(a = 1 is pi_dpo itself; a < 1 is what DPO with beta / a would give if it were exact). Every policy sees the same
prompts and the same sampling stream. Also collects the PPO held-out curves and the token rewards of a few pi_ref
responses (true W / H against DPO's log pi_dpo / pi_ref) for the heat map.

Run: `paperflow stage rto evaluate`.
"""
from __future__ import annotations

import numpy as np
import torch

from .env import token_rewards, with_bos
from .model import build, response_out, token_logprobs
from .params import EvaluateParams
from .rewards import measure
from .train import world_of


def summary(m: dict) -> dict[str, float]:
    n = len(m["true"])
    out = {}
    for k in ("true", "kl", "rm"):
        out[k] = float(m[k].mean())
        out[f"{k}_se"] = float(m[k].std() / n ** 0.5)
    return out


def run(p: EvaluateParams, io) -> dict[str, float]:
    world = world_of(io)
    x = torch.from_numpy(io.load_npz("prepare", "data.npz")["eval_x"])[: p.n_prompts].repeat(p.samples, 1)
    ref, rm = io.load_model("sft", build, freeze=True), io.load_model("reward_model", build, "full", freeze=True)
    norm = io.load_json("reward_model", "norm.json", "full")
    gen = lambda: torch.Generator().manual_seed(io.seed("final"))   # noqa: E731  same stream for every policy
    pol, dpo_curve = {"ref": summary(measure(ref, ref, world, x, gen(), rm=rm, rm_norm=norm))}, []
    for item in ("full", "quarter"):
        dpo = io.load_model("dpo", build, item, freeze=True)
        for a in (p.dpo_alphas if item == "full" else [1.0]):
            s = summary(measure(dpo, ref, world, x, gen(), mix_alpha=None if a == 1.0 else a, rm=rm, rm_norm=norm))
            if item == "full":
                dpo_curve.append({"alpha": a, **s})
            if a == 1.0:
                pol[f"dpo_{item}"] = s
    curves = {}
    for item in io.items_of["ppo"]:
        actor = io.load_model("ppo", build, item, name="actor", freeze=True)
        pol[item] = summary(measure(actor, ref, world, x, gen(), rm=rm, rm_norm=norm))
        curves[item] = {k: v.tolist() for k, v in io.load_npz("ppo", "curve.npz", item).items()}
    # token rewards: true W / H vs DPO's log-ratio, on pi_ref samples (heat map) and over all eval samples
    dpo = io.load_model("dpo", build, "full", freeze=True)
    with torch.inference_mode():
        y = measure(ref, ref, world, x, gen())["y"]
        seq = with_bos(world, x, y)
        lr_dpo = token_logprobs(response_out(dpo, world, seq)[0], y) - token_logprobs(response_out(ref, world, seq)[0], y)
        tr = token_rewards(world, x, y)
    corr = float(np.corrcoef(lr_dpo.flatten().numpy(), tr.flatten().numpy())[0, 1])
    heat = {"true": tr[: p.n_heatmap].tolist(), "dpo_logratio": lr_dpo[: p.n_heatmap].tolist(),
            "tokens": y[: p.n_heatmap].tolist()}
    ups = {f"{st}_{it}": io.upstream_metrics(st, it) for st in ("reward_model", "dpo") for it in ("full", "quarter")}
    ups["calibrate"] = io.upstream_metrics("calibrate")
    io.save_json("results.json", {"policies": pol, "dpo_curve": dpo_curve, "curves": curves, "heatmap": heat,
                                  "token_corr_dpo_true": corr, "upstream": ups, "H": world.H,
                                  "n_samples": len(x)})
    best = max((k for k in pol if k.startswith("rto-")), key=lambda k: pol[k]["true"], default=None)
    return {"ref_true": pol["ref"]["true"], "dpo_true": pol["dpo_full"]["true"], "dpo_kl": pol["dpo_full"]["kl"],
            "token_corr_dpo_true": corr, **({"best_rto_true": pol[best]["true"]} if best else {})}
