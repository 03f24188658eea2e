"""Stage `train@<arm>` (sheet Stage B1): one precision arm, `seeds` models, fresh mixed-k IterADD data every step.

Every arm starts from the same initialisation and sees the same data order for a given seed index (the seeds come
from io.seed(...), which does not depend on the arm). AdamW, linear warm-up then cosine decay to 0, cross-entropy on
the answer digits only. Seeds train as parallel single-thread processes when `workers` > 1 (for a model this small
two 1-thread runs use 2 cores better than one 2-thread run), else one after another in this process. Every model
trains single-threaded: on the shared 2-core machine a 2-thread step took 6x longer than a 1-thread step whenever
another process held the second core (OpenMP threads wait on each other), while 1 thread loses little at d = 48.
Arms not listed in `arms` (fq8 and bf16_pure at the default profile) write skipped.json and return at once.

Outputs: model_seed<i>.pt (state dicts), train.json (losses, timings). Run: `paperflow stage precision train --item fq4`.
"""
from __future__ import annotations

import contextlib
import math
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context

import numpy as np
import torch
import torch.nn.functional as F

from .data import Spec, training_batch
from .model import count_params, for_arm
from .params import TrainParams


@contextlib.contextmanager
def torch_threads(n: int):
    """Run a block with ``n`` intra-op threads, restoring the previous setting."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def spec_of(prep: dict) -> Spec:
    return Spec(prep["n_bits"], tuple(prep["ks"]), prep["max_len"])


def model_size(p: TrainParams, spec: Spec) -> dict:
    return {"d_model": p.d_model, "layers": p.layers, "heads": p.heads, "d_ff": p.d_ff, "max_len": spec.max_len}


def lr_at(step: int, p: TrainParams) -> float:
    """Linear warm-up over `warmup` steps, then cosine decay to 0 at `steps`."""
    if step < p.warmup:
        return p.lr * (step + 1) / p.warmup
    frac = (step - p.warmup) / max(1, p.steps - p.warmup)
    return p.lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, frac)))


def train_one(arm: str, p: TrainParams, spec: Spec, init_seed: int, data_seed: int) -> dict:
    """Train one model (single thread); returns {'state': state dict, 'loss': per-step losses, 'wall': s, 'params'}."""
    with torch_threads(1):
        return _train(arm, p, spec, init_seed, data_seed)


def _train(arm: str, p: TrainParams, spec: Spec, init_seed: int, data_seed: int) -> dict:
    torch.manual_seed(init_seed)
    model = for_arm(arm, **model_size(p, spec))
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=p.lr, weight_decay=p.weight_decay)
    rng = np.random.default_rng(data_seed)
    losses = np.zeros(p.steps, dtype=np.float32)
    t0 = time.perf_counter()
    for step in range(p.steps):
        x, y, mask = training_batch(rng, spec, p.batch)                       # (B, T) each
        for g in opt.param_groups:
            g["lr"] = lr_at(step, p)
        logits = model(x)                                                   # (B, T, V)
        loss = F.cross_entropy(logits[mask].float(), y[mask])               # answer digits only
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses[step] = loss.item()
    if not np.isfinite(losses).all():
        raise FloatingPointError(f"{arm}: non-finite training loss (first at step {int(np.argmax(~np.isfinite(losses)))})")
    return {"state": model.state_dict(), "loss": losses, "wall": time.perf_counter() - t0,
            "params": count_params(model)}


def _job(args: tuple) -> dict:
    return train_one(*args)


def run(p: TrainParams, io) -> dict[str, float]:
    arm = io.item
    if arm not in p.arms:
        io.save_json("skipped.json", {"arm": arm, "reason": f"not in train.arms={p.arms} at this profile"})
        return {"trained": 0}
    spec = spec_of(io.load_json("prepare", "spec.json"))
    jobs = [(arm, p, spec, io.seed("init", s), io.seed("data", s)) for s in range(p.seeds)]
    t0 = time.perf_counter()
    results = None
    if p.workers > 1 and p.seeds > 1:
        try:  # spawn: a fresh interpreter per worker (forking a process that already ran OpenMP threads can hang)
            with ProcessPoolExecutor(min(p.workers, p.seeds), mp_context=get_context("spawn")) as ex:
                results = list(ex.map(_job, jobs))
        except BrokenProcessPool:
            io.log.warning("worker processes failed to start (called from a script without `if __name__ == "
                           "'__main__':`?); training the seeds one after another")
    if results is None:
        results = [_job(j) for j in io.progress(jobs, total=len(jobs), desc=arm)]
    wall = time.perf_counter() - t0
    summary = {"arm": arm, "seeds": p.seeds, "steps": p.steps, "params": results[0]["params"],
               "size": model_size(p, spec), "workers": p.workers,
               "wall_per_seed_s": [r["wall"] for r in results], "final_loss": []}
    for s, r in enumerate(results):
        io.save_torch(f"model_seed{s}.pt", r["state"])
        w = p.log_every
        curve = r["loss"][: len(r["loss"]) // w * w].reshape(-1, w).mean(1) if len(r["loss"]) >= w else r["loss"]
        io.log_curve(f"loss_seed{s}", curve, steps=[(i + 1) * min(w, len(r["loss"])) for i in range(len(curve))])
        summary["final_loss"].append(float(r["loss"][-min(50, len(r["loss"])):].mean()))
    io.save_json("train.json", summary)
    model = for_arm(arm, results[0]["state"], **model_size(p, spec))
    io.log_model(model, name="model_seed0")
    return {"trained": 1, "params": results[0]["params"], "final_loss": float(np.mean(summary["final_loss"])),
            "ms_per_step": 1000 * float(np.mean(summary["wall_per_seed_s"])) / p.steps, "wall_train_s": wall}
