"""Stage `sft`: the tiny GPT trained from scratch on the demonstrations (cross-entropy on response tokens) -> pi_ref.

Run: `paperflow stage rto sft`.
"""
from __future__ import annotations

import torch

from .env import true_reward, with_bos
from .model import build, response_out, sample, token_logprobs
from .params import SFTParams
from .train import fit_epochs, world_of


def run(p: SFTParams, io) -> dict[str, float]:
    world = world_of(io)
    data = io.load_npz("prepare", "data.npz")
    x, y = torch.from_numpy(data["demo_x"]), torch.from_numpy(data["demo_y"])
    seq = with_bos(world, x, y)                                                     # (N, L)
    cfg = {"V": world.V, "d": p.d, "n_layers": p.n_layers, "n_heads": p.n_heads, "max_len": world.seq_len}
    torch.manual_seed(io.seed("init"))
    model = build(cfg)

    def loss_fn(idx):
        logits, _ = response_out(model, world, seq[idx])
        return -token_logprobs(logits, y[idx]).mean(), {}

    hist = fit_epochs(model, loss_fn, len(seq), p.batch, p.epochs, p.lr, torch.Generator().manual_seed(io.seed("order")),
                      progress=io.progress)
    model.eval()
    ex = torch.from_numpy(data["eval_x"])
    r = true_reward(world, ex, sample(model, world, ex, torch.Generator().manual_seed(io.seed("eval"))))
    io.log_curves(hist.curves(prefix="sft_"))
    io.save_model(model, cfg)
    return {"final_loss": hist.logs["loss"][-1], "sft_true_reward": float(r.mean()),
            "params": sum(q.numel() for q in model.parameters())}
