"""Stage `train`: the tiny RoPE decoder LM (tasks/pie/model.py) with a copy curriculum, then the LM loss on files.

Curriculum (issue 11: the model must learn to copy code lines, which needs content-based multi-token induction at
line boundaries; on whole files alone it had not formed in 600 steps):
1. `warm_steps` steps on short copy sequences only (`warm_batch` of 2 x `warm_len` tokens; short contexts make
   induction form fast): half random-token blocks (single-token induction), half blocks of code lines
   (edits.copy_block: line starts and ends repeat, so copying needs multi-token induction), each block repeated
   after filler of random length (no fixed-offset shortcut); loss on the repeat only.
2. The remaining steps: LM loss on whole mini-repo files (every header function re-typed) plus `copy_aux` code-line
   copy sequences of 2 x `copy_len` tokens per step.
Shared trainer (tasks/common/train.py): AdamW (betas 0.9/0.98, no decay on norms and biases), linear warm-up then
cosine decay to 10 % over all steps, gradient clipping at 1. Every `eval_every` steps (and at the end) the
teacher-forced exact match of the next line on the natural post-edit contexts of the evaluation instances (equal to
greedy EM: greedy reproduces the line iff every token and the stop are argmax under teacher forcing) is logged as a
curve: all targets and the targets that need the context. Writes `model.pt` + `model.json` (io.save_model).
Run: `paperflow stage pie train`.
"""
from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from tasks.common.nn import count_params
from tasks.common.train import Schedule, fit

from .edits import PAD, STOP, TASKS, copy_block, encode
from .model import build
from .params import TrainParams

N_SPECIAL = 3   # <pad>, NL, NLI: never drawn as random copy tokens


def _masked_loss(model, seqs: list[tuple[list[int], int]], vocab: int) -> torch.Tensor:
    """LM loss on the repeat of each (tokens, repeat start) sequence (equal lengths), other tokens unscored."""
    xa = torch.tensor([w for w, _ in seqs])   # (A, T)
    tgt = xa[:, 1:].clone()
    pos = torch.arange(tgt.shape[1])[None]
    tgt[pos < torch.tensor([r - 1 for _, r in seqs])[:, None]] = -100   # score only the repeat
    la, _ = model(xa[:, :-1], keep_cache=False)
    return F.cross_entropy(la.reshape(-1, vocab), tgt.reshape(-1), ignore_index=-100)


def code_copies(rng, n_seq: int, n_tokens: int) -> list[tuple[list[int], int]]:
    out = []
    for _ in range(n_seq):
        w, r = copy_block(rng, n_tokens)
        out.append((encode(w), r))
    return out


def random_copies(rng, n_seq: int, n_tokens: int, vocab: int) -> list[tuple[list[int], int]]:
    """Blocks of n_tokens/2..n_tokens random tokens, random filler, the block again (2 x n_tokens in all)."""
    out = []
    for _ in range(n_seq):
        b = int(rng.integers(n_tokens // 2, n_tokens + 1))
        blk = rng.integers(N_SPECIAL, vocab, b).tolist()
        out.append((blk + rng.integers(N_SPECIAL, vocab, 2 * n_tokens - 2 * b).tolist() + blk, n_tokens * 2 - b))
    return out


def copy_eval(inst: dict) -> tuple[torch.Tensor, list[tuple[int, list[int]]], np.ndarray]:
    """Teacher-forcing batch of the natural post-edit contexts + target line + a stop token."""
    rows = [r for t in TASKS for r in inst[t]]
    seqs = [r["xp"] + r["target"] + [STOP[1]] for r in rows]
    ev = torch.full((len(seqs), max(map(len, seqs))), PAD, dtype=torch.long)
    for k, s in enumerate(seqs):
        ev[k, :len(s)] = torch.tensor(s)
    return ev, [(len(r["xp"]), r["target"]) for r in rows], np.array([r["needs_context"] for r in rows])


def copy_em(model, ev, spans, need) -> dict[str, float]:
    """Teacher-forced (= greedy) next-line EM in %, all targets and those that need the context."""
    with torch.inference_mode():
        pred = torch.cat([model(ev[a:a + 64, :-1], keep_cache=False)[0].argmax(-1) for a in range(0, len(ev), 64)])
    ok = np.array([pred[k, n - 1:n - 1 + len(t)].tolist() == t and int(pred[k, n - 1 + len(t)]) in STOP
                   for k, (n, t) in enumerate(spans)])
    return {"em_all": 100 * float(ok.mean()), "em_needs_context": 100 * float(ok[need].mean()) if need.any() else 0.0}


def run(p: TrainParams, io) -> dict[str, float]:
    data = io.load_npz("prepare", "train.npz")
    toks, lens = torch.from_numpy(data["tokens"].astype(np.int64)), data["lengths"]
    vocab = len(io.load_json("prepare", "vocab.json"))
    ev, spans, need = copy_eval(io.load_json("prepare", "instances.json"))
    torch.manual_seed(io.seed("init"))
    cfg = {"vocab": vocab, "d": p.d_model, "layers": p.layers, "heads": p.heads, "d_ff": p.d_ff,
           "base": p.rope_base, "context": int(toks.shape[1])}
    model = build(cfg)
    groups = [{"params": [q for q in model.parameters() if q.dim() >= 2], "weight_decay": p.weight_decay},
              {"params": [q for q in model.parameters() if q.dim() < 2], "weight_decay": 0.0}]
    rng = np.random.default_rng(io.seed("order"))
    order = np.concatenate([rng.permutation(len(toks)) for _ in range(p.steps * p.batch // len(toks) + 1)])
    crng = np.random.default_rng(io.seed("copy-aux"))

    def loss_fn(step: int) -> torch.Tensor:
        if step < p.warm_steps:   # phase 1: short copies only
            h = p.warm_batch // 2
            return _masked_loss(model, random_copies(crng, p.warm_batch - h, p.warm_len, vocab)
                                + code_copies(crng, h, p.warm_len), vocab)
        s = step - p.warm_steps
        idx = order[s * p.batch:(s + 1) * p.batch]
        x = toks[idx, : int(lens[idx].max())]  # (B, T), padded at the end: causal, so pads never affect real tokens
        logits, _ = model(x[:, :-1], keep_cache=False)  # (B, T-1, V)
        loss = F.cross_entropy(logits.reshape(-1, vocab), x[:, 1:].reshape(-1), ignore_index=PAD)
        if p.copy_aux:
            loss = loss + _masked_loss(model, code_copies(crng, p.copy_aux, p.copy_len), vocab)
        return loss

    t0 = time.perf_counter()
    hist = fit(model, loss_fn, Schedule(p.steps, p.lr, p.warmup, min_ratio=0.1, betas=(0.9, 0.98)),
               param_groups=groups, progress=io.progress, eval_fn=lambda s: copy_em(model, ev, spans, need),
               eval_every=p.eval_every)
    wall = time.perf_counter() - t0
    io.log_curves(hist.curves())
    io.save_model(model, cfg)
    last = hist.evals[-1][1] if hist.evals else {}
    return {"final_loss": hist.tail_mean(), "params": count_params(model), "steps": p.steps,
            "s_per_step": wall / p.steps, **{f"tf_{k}": v for k, v in last.items()}}
