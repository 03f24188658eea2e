"""Stage `train`: the tiny RoPE decoder LM (tasks/pie/model.py) with the LM loss on whole mini-repo files.

AdamW, linear warm-up then cosine decay to 10 %, loss on every real (non-pad) next token. Writes `model.pt` and
`model.json`; logs the loss curve and the model. Run: `paperflow stage pie train`.
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from tasks.common.nn import count_params

from .edits import PAD
from .model import RoPELM, build
from .params import TrainParams


def lr_at(step: int, p: TrainParams) -> float:
    if step < p.warmup:
        return p.lr * (step + 1) / p.warmup
    t = (step - p.warmup) / max(1, p.steps - p.warmup)
    return p.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


def run(p: TrainParams, io) -> dict[str, float]:
    torch.set_num_threads(p.threads)
    data = io.load_npz("prepare", "train.npz")
    toks, lens = torch.from_numpy(data["tokens"].astype(np.int64)), data["lengths"]
    vocab = len(io.load_json("prepare", "vocab.json"))
    torch.manual_seed(io.seed("init"))
    cfg = {"vocab": vocab, "d": p.d_model, "layers": p.layers, "heads": p.heads, "d_ff": p.d_ff,
           "base": p.rope_base, "context": int(toks.shape[1])}
    model = build(cfg)
    decay = [q for n, q in model.named_parameters() if q.dim() >= 2]
    other = [q for n, q in model.named_parameters() if q.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": p.weight_decay}, {"params": other, "weight_decay": 0.0}],
                            lr=p.lr, betas=(0.9, 0.98))
    rng = np.random.default_rng(io.seed("order"))
    order = np.concatenate([rng.permutation(len(toks)) for _ in range(p.steps * p.batch // len(toks) + 1)])
    gen = torch.Generator().manual_seed(io.seed("copy-aux"))
    losses, t0 = [], time.perf_counter()
    model.train()
    for step in io.progress(range(p.steps), total=p.steps, desc="steps"):
        idx = order[step * p.batch:(step + 1) * p.batch]
        T = int(lens[idx].max())
        x = toks[idx, :T]  # (B, T), padded at the end: causal, so pads never affect real tokens
        for g in opt.param_groups:
            g["lr"] = lr_at(step, p)
        logits, _ = model(x[:, :-1], keep_cache=False)  # (B, T-1, V)
        loss = F.cross_entropy(logits.reshape(-1, vocab), x[:, 1:].reshape(-1), ignore_index=PAD)
        if p.copy_aux:  # induction warm-start: random token segments repeated once (loss on the repeat)
            a = torch.randint(1, vocab, (p.copy_aux, p.copy_len), generator=gen)
            xa = torch.cat([a, a], 1)
            la, _ = model(xa[:, :-1], keep_cache=False)
            loss = loss + F.cross_entropy(la[:, p.copy_len - 1:].reshape(-1, vocab), xa[:, p.copy_len:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    wall = time.perf_counter() - t0
    every = max(1, p.steps // 200)
    io.log_curve("loss", losses[::every], list(range(0, p.steps, every)))
    model.eval()
    io.save_torch("model.pt", model.state_dict())
    io.save_json("model.json", cfg)
    io.log_model(model)
    tail = losses[-max(1, p.steps // 10):]
    return {"final_loss": float(np.mean(tail)), "params": count_params(model), "steps": p.steps,
            "s_per_step": wall / p.steps}


def load_model(io) -> RoPELM:
    model = build(io.load_json("train", "model.json"))
    model.load_state_dict(io.load_torch("train", "model.pt"))
    return model.eval()
