"""Stage `prepare`: the TopicBigram world (sheet, Environment): the hidden reward table W, the SFT demonstrations
from pi_demo, the PPO prompts and the held-out evaluation prompts.

Run: `paperflow stage rto prepare`.
"""
from __future__ import annotations

import numpy as np
import torch

from .env import World, make_W, sample_demos, true_reward
from .params import PrepareParams


def run(p: PrepareParams, io) -> dict[str, float]:
    rng = np.random.default_rng(io.seed("W"))
    W = make_W(p.V, p.C, p.n_good, p.n_bad, rng)
    world = World(torch.from_numpy(W), p.V, p.C, p.P, p.H)
    gen = torch.Generator().manual_seed(io.seed("prompts"))
    n = p.n_demos + p.n_rl_prompts + p.n_eval_prompts
    prompts = torch.randint(0, p.V, (n, p.P), generator=gen)
    demo_x, rl_x, eval_x = prompts.split([p.n_demos, p.n_rl_prompts, p.n_eval_prompts])
    demo_y = sample_demos(world, demo_x, p.tau, p.eps, torch.Generator().manual_seed(io.seed("demos")))
    uni = torch.randint(0, p.V, (p.n_eval_prompts, p.H), generator=gen)
    io.save_npz("world.npz", W=W, P=np.int64(p.P), H=np.int64(p.H))
    io.save_npz("data.npz", demo_x=demo_x.numpy(), demo_y=demo_y.numpy(), rl_x=rl_x.numpy(), eval_x=eval_x.numpy())
    r_demo = true_reward(world, demo_x, demo_y)
    r_uni = true_reward(world, eval_x, uni)
    return {"demo_true_reward": float(r_demo.mean()), "uniform_true_reward": float(r_uni.mean()),
            "max_true_reward": 1.0,   # every (topic, prev) has a +1 token
            "n_demos": p.n_demos, "n_rl_prompts": p.n_rl_prompts}
