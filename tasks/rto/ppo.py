"""Stage `ppo` (one DVC stage per item "<arm>-s<seed>"): PPO with GAE, a clipped objective and a critic (the SFT
trunk with a fresh value head), written once; the arms differ only in the per-token reward (rewards.py).

Pairing: every arm of a seed starts from the same actor (pi_ref) and critic weights, draws the same prompt indices
and uses the same sampling and minibatch random streams; the held-out curve points use fixed prompts and a fixed
sampling stream. PPO settings (sheet, Arms; released code): GAE gamma = 1, lambda = 0.95, ratio clip 0.2, value clip
0.2, advantages normalised over the rollout batch, Adam betas (0.9, 0.95), grad-norm clip 1, fixed KL coef beta2.
RTO's beta1 and c come from the `calibrate` stage (a rule fixed in code, per preference-data item); arm F's true
reward is normalised with calibrate's mean / std of r* on pi_ref. `ppo_train` is also what the `grid` stage calls.

Run: `paperflow stage rto ppo --item rto-s0`.
"""
from __future__ import annotations

import numpy as np
import torch

from .calibrate import load as load_calibration
from .env import token_rewards, true_reward, with_bos
from .model import build, exact_kl, response_out, rm_score, sample, token_logprobs
from .params import PPOParams
from .rewards import ARMS, arm_rewards, gae, measure, normalised_true_tokens
from .train import world_of


def ppo_losses(actor, critic, world, seq, resp, logp_old, v_old, adv, ret, p: PPOParams):
    """Clipped policy loss and clipped value loss on one minibatch (all (b, H) tensors)."""
    logits, _ = response_out(actor, world, seq)
    ratio = torch.exp(token_logprobs(logits, resp) - logp_old)
    pg = torch.maximum(-adv * ratio, -adv * ratio.clamp(1 - p.clip, 1 + p.clip)).mean()
    _, v = response_out(critic, world, seq)
    v_clip = v_old + (v - v_old).clamp(-p.value_clip, p.value_clip)
    vf = 0.5 * torch.maximum((v - ret) ** 2, (v_clip - ret) ** 2).mean()
    return pg, vf, float(((ratio - 1).abs() > p.clip).float().mean())


def run(p: PPOParams, io) -> dict[str, float]:
    arm_name, s = io.item.arm, io.item.seed
    cal = load_calibration(io, ARMS[arm_name].data)
    curve, log, actor, cfg = ppo_train(p, io, arm_name, s, cal["beta1"], cal["clip"], cal, desc=str(io.item))
    io.log_curve("eval_true_reward", curve["true"], curve["rollouts"])
    io.log_curve("eval_kl", curve["kl"], curve["rollouts"])
    for k, v in log.items():
        if not np.all(np.isnan(v)):
            io.log_curve(k, v, [(i + 1) * p.batch for i in range(len(v))])
    io.save_npz("curve.npz", **{k: np.asarray(v) for k, v in curve.items()},
                **{k: np.asarray(v) for k, v in log.items()})
    io.save_model(actor, cfg, name="actor")
    return {"final_true_reward": curve["true"][-1], "final_kl": curve["kl"][-1], "rollouts": p.iterations * p.batch,
            "start_true_reward": curve["true"][0], "mean_clipfrac": float(np.mean(log["clipfrac"])),
            "beta1": cal["beta1"], "beta2": p.kl_coef}


def ppo_train(p: PPOParams, io, arm_name: str, s: int, beta1: float, clip: float, cal: dict, desc: str = "ppo"):
    """PPO of arm `arm_name`, seed index s, with DPO-reward scale beta1 and clip c -> (held-out curve, per-iteration
    log, actor, model config)."""
    arm = ARMS[arm_name]
    world = world_of(io)
    data = io.load_npz("prepare", "data.npz")
    rl_x, eval_x = torch.from_numpy(data["rl_x"]), torch.from_numpy(data["eval_x"])[: p.n_eval]
    ref = io.load_model("sft", build, freeze=True)
    dpo = io.load_model("dpo", build, arm.data, freeze=True) if arm.uses_dpo else None
    rm = io.load_model("reward_model", build, arm.data, freeze=True) if arm.uses_rm else None
    rm_norm = io.load_json("reward_model", "norm.json", arm.data) if arm.uses_rm else None
    rm_eval = io.load_model("reward_model", build, "full", freeze=True)
    norm_eval = io.load_json("reward_model", "norm.json", "full")
    cfg = io.load_json("sft", "model.json")
    actor, critic = build(cfg), build(cfg)
    actor.load_state_dict(io.load_torch("sft", "model.pt"))
    critic.load_state_dict(io.load_torch("sft", "model.pt"))
    torch.manual_seed(io.seed("critic", s))                  # same fresh value head for every arm of seed s
    torch.nn.init.normal_(critic.value.weight, std=0.02)
    torch.nn.init.zeros_(critic.value.bias)
    opt_a = torch.optim.Adam(actor.parameters(), lr=p.lr_actor, betas=(0.9, 0.95))
    opt_c = torch.optim.Adam(critic.parameters(), lr=p.lr_critic, betas=(0.9, 0.95))
    g_prompt, g_sample, g_mb = (torch.Generator().manual_seed(io.seed(k, s)) for k in ("prompt", "sample", "mb"))

    curve = {k: [] for k in ("rollouts", "true", "true_se", "kl", "kl_se", "rm")}

    def checkpoint(it: int) -> None:
        actor.eval()
        m = measure(actor, ref, world, eval_x, torch.Generator().manual_seed(io.seed("eval", s)),
                    rm=rm_eval, rm_norm=norm_eval)
        actor.train()
        n = len(eval_x)
        curve["rollouts"].append(it * p.batch)
        curve["rm"].append(float(m["rm"].mean()))
        for k in ("true", "kl"):
            curve[k].append(float(m[k].mean()))
            curve[f"{k}_se"].append(float(m[k].std() / n ** 0.5))

    log = {k: [] for k in ("batch_true", "batch_kl", "batch_rm", "reward_sum", "clipfrac", "vf_loss")}
    mb = p.batch // p.minibatches
    checkpoint(0)
    for it in io.progress(range(p.iterations), total=p.iterations, desc=desc):
        x = rl_x[torch.randint(0, len(rl_x), (p.batch,), generator=g_prompt)]
        actor.eval()
        y = sample(actor, world, x, g_sample)                                     # (B, H)
        seq = with_bos(world, x, y)                                               # (B, L)
        with torch.inference_mode():
            logits = response_out(actor, world, seq)[0]
            ref_logits = response_out(ref, world, seq)[0]
            logp_old, logp_ref = token_logprobs(logits, y), token_logprobs(ref_logits, y)
            logp_dpo = token_logprobs(response_out(dpo, world, seq)[0], y) if dpo is not None else None
            rm_n = None
            if rm is not None:
                rm_n = ((rm_score(rm, world, seq) - rm_norm["mean"]) / rm_norm["std"]).clamp(-p.rm_clip, p.rm_clip)
            v_old = response_out(critic, world, seq)[1]
            tt = (normalised_true_tokens(token_rewards(world, x, y), cal["true_mean"], cal["true_std"])
                  if arm.uses_true else None)
            rewards = arm_rewards(arm.kind, logp_old, logp_ref, logp_dpo, rm_n, p.kl_coef, beta1, clip, tt)
            adv, ret = gae(rewards, v_old, p.gamma, p.lam)
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
            log["batch_true"].append(float(true_reward(world, x, y).mean()))
            log["batch_kl"].append(float(exact_kl(logits, ref_logits).sum(1).mean()))
            log["batch_rm"].append(float(rm_n.mean()) if rm_n is not None else float("nan"))
            log["reward_sum"].append(float(rewards.sum(1).mean()))
        actor.train()
        cf, vl = [], []
        for _ in range(p.ppo_epochs):
            perm = torch.randperm(p.batch, generator=g_mb)
            for i in range(0, p.batch, mb):
                j = perm[i:i + mb]
                pg, vf, clipfrac = ppo_losses(actor, critic, world, seq[j], y[j], logp_old[j], v_old[j], adv[j], ret[j], p)
                opt_a.zero_grad(set_to_none=True)
                opt_c.zero_grad(set_to_none=True)
                (pg + vf).backward()                     # separate networks: each loss reaches only its own
                torch.nn.utils.clip_grad_norm_(actor.parameters(), p.grad_clip)
                torch.nn.utils.clip_grad_norm_(critic.parameters(), p.grad_clip)
                opt_a.step()
                opt_c.step()
                cf.append(clipfrac)
                vl.append(float(vf.detach()))
        log["clipfrac"].append(float(np.mean(cf)))
        log["vf_loss"].append(float(np.mean(vl)))
        if (it + 1) % p.eval_every == 0 or it + 1 == p.iterations:
            checkpoint(it + 1)
    return curve, log, actor, cfg
