"""Stage `train`: the tiny RoPE decoder LM (tasks/pie/model.py) with the LM loss on whole mini-repo files.

Shared trainer (tasks/common/train.py): AdamW (betas 0.9/0.98, no decay on norms and biases), linear warm-up then
cosine decay to 10 %, gradient clipping at 1, loss on every real (non-pad) next token, plus the optional copy
warm-start. Writes `model.pt` + `model.json` (io.save_model). Run: `paperflow stage pie train`.
"""
from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from tasks.common.nn import count_params
from tasks.common.train import Schedule, fit

from .edits import PAD
from .model import build
from .params import TrainParams


def run(p: TrainParams, io) -> dict[str, float]:
    data = io.load_npz("prepare", "train.npz")
    toks, lens = torch.from_numpy(data["tokens"].astype(np.int64)), data["lengths"]
    vocab = len(io.load_json("prepare", "vocab.json"))
    torch.manual_seed(io.seed("init"))
    cfg = {"vocab": vocab, "d": p.d_model, "layers": p.layers, "heads": p.heads, "d_ff": p.d_ff,
           "base": p.rope_base, "context": int(toks.shape[1])}
    model = build(cfg)
    groups = [{"params": [q for q in model.parameters() if q.dim() >= 2], "weight_decay": p.weight_decay},
              {"params": [q for q in model.parameters() if q.dim() < 2], "weight_decay": 0.0}]
    rng = np.random.default_rng(io.seed("order"))
    order = np.concatenate([rng.permutation(len(toks)) for _ in range(p.steps * p.batch // len(toks) + 1)])
    gen = torch.Generator().manual_seed(io.seed("copy-aux"))

    def loss_fn(step: int) -> torch.Tensor:
        idx = order[step * p.batch:(step + 1) * p.batch]
        x = toks[idx, : int(lens[idx].max())]  # (B, T), padded at the end: causal, so pads never affect real tokens
        logits, _ = model(x[:, :-1], keep_cache=False)  # (B, T-1, V)
        loss = F.cross_entropy(logits.reshape(-1, vocab), x[:, 1:].reshape(-1), ignore_index=PAD)
        if p.copy_aux:  # induction warm-start: random token segments repeated once (loss on the repeat)
            a = torch.randint(1, vocab, (p.copy_aux, p.copy_len), generator=gen)
            xa = torch.cat([a, a], 1)
            la, _ = model(xa[:, :-1], keep_cache=False)
            loss = loss + F.cross_entropy(la[:, p.copy_len - 1:].reshape(-1, vocab), xa[:, p.copy_len:].reshape(-1))
        return loss

    t0 = time.perf_counter()
    hist = fit(model, loss_fn, Schedule(p.steps, p.lr, p.warmup, min_ratio=0.1, betas=(0.9, 0.98)),
               param_groups=groups, progress=io.progress)
    wall = time.perf_counter() - t0
    io.log_curves(hist.curves())
    io.save_model(model, cfg)
    return {"final_loss": hist.tail_mean(), "params": count_params(model), "steps": p.steps,
            "s_per_step": wall / p.steps}
