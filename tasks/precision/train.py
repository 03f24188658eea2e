"""Stage `train@<arm>` (sheet Stage B1): one precision arm, `seeds` models, fresh mixed-k IterADD data every step.

Every arm starts from the same initialisation and sees the same data order for a given seed index (the seeds come
from io.seed(...), which does not depend on the arm). The shared trainer (tasks/common/train.py): AdamW, linear
warm-up then cosine decay to 0, gradient-norm clipping at `grad_clip` (1.0 since issue 12; None = off), cross-entropy on the answer digits only. Seeds train as parallel single-thread processes when `workers` > 1 (for a model this small
two 1-thread runs use 2 cores better than one 2-thread run), else one after another in this process (threads are
set by the runner for the stage process; spawned workers inherit its OMP_NUM_THREADS).
Arms not listed in `arms` (fq8 and bf16_pure at the default profile) write skipped.json and a one-point `skipped` curve, and return at once.

Outputs: model_seed<i>.pt + model_seed<i>.json (io.save_model), train.json (sizes, final losses; no wall times, so outputs hash by content). Run: `paperflow stage precision train --item fq4`.
"""
from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context

import numpy as np
import torch
import torch.nn.functional as F

from tasks.common.train import Schedule, downsample, fit

from .data import Spec, training_batch
from .model import count_params, for_arm
from .params import TrainParams


def spec_of(prep: dict) -> Spec:
    return Spec(prep["n_bits"], tuple(prep["ks"]), prep["max_len"])


def model_size(p: TrainParams, spec: Spec) -> dict:
    return {"d_model": p.d_model, "layers": p.layers, "heads": p.heads, "d_ff": p.d_ff, "max_len": spec.max_len,
            "coupled": p.coupled}


def schedule(p: TrainParams) -> Schedule:
    return Schedule(p.steps, p.lr, p.warmup, weight_decay=p.weight_decay, grad_clip=p.grad_clip)


def curriculum_k(p: TrainParams, spec: Spec, step: int) -> int | None:
    """Largest k admitted at `step`: grows linearly from min(ks) to max(ks) over the first `curriculum` fraction
    of the steps (None = every k from the start)."""
    if p.curriculum <= 0:
        return None
    lo, hi = min(spec.ks), max(spec.ks)
    return int(lo + (hi - lo) * min(1.0, step / (p.curriculum * p.steps)))


def train_one(arm: str, p: TrainParams, spec: Spec, init_seed: int, data_seed: int) -> dict:
    """Train one model; returns {'state': state dict, 'loss': per-step losses, 'wall': s, 'params'}."""
    torch.manual_seed(init_seed)
    model = for_arm(arm, **model_size(p, spec))
    rng = np.random.default_rng(data_seed)

    def loss_fn(step: int) -> torch.Tensor:
        x, y, mask = training_batch(rng, spec, p.batch, curriculum_k(p, spec, step), p.k_weight)  # (B, T) each
        return F.cross_entropy(model(x)[mask].float(), y[mask])             # answer digits only

    t0 = time.perf_counter()
    try:
        hist = fit(model, loss_fn, schedule(p))
    except FloatingPointError as e:
        raise FloatingPointError(f"{arm}: {e}") from None
    return {"state": model.state_dict(), "loss": np.asarray(hist.logs["loss"], dtype=np.float32),
            "wall": time.perf_counter() - t0, "params": count_params(model)}


def _job(args: tuple) -> dict:
    """One seed in a worker process: (arm, p, spec, init_seed, data_seed, threads); the parent's torch thread count
    is passed on, so a worker trains exactly as the parent process would."""
    *job, threads = args
    torch.set_num_threads(threads)
    return train_one(*job)


def run(p: TrainParams, io) -> dict[str, float]:
    arm = io.item
    if arm not in p.arms:
        io.save_json("skipped.json", {"arm": arm, "reason": f"not in train.arms={p.arms} at this profile"})
        # a one-point `skipped` curve: DVC declares this item's plots folder, and an empty one is missing on a fresh
        # clone (git keeps no empty folders), which `dvc plots show` warns about and `dvc status` reports as changed
        io.log_curve("skipped", [1.0], [0])
        return {"trained": 0}
    spec = spec_of(io.load_json("prepare", "spec.json"))
    jobs = [(arm, p, spec, io.seed("init", s), io.seed("data", s), torch.get_num_threads()) for s in range(p.seeds)]
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
               "size": model_size(p, spec), "workers": p.workers, "final_loss": []}
    for s, r in enumerate(results):
        model = for_arm(arm, r["state"], **model_size(p, spec))
        io.save_model(model, {"arm": arm, **model_size(p, spec)}, name=f"model_seed{s}", log=s == 0)
        steps, curve = downsample(r["loss"].tolist())
        io.log_curve(f"loss_seed{s}", curve, steps)
        summary["final_loss"].append(float(r["loss"][-min(50, len(r["loss"])):].mean()))
    io.save_json("train.json", summary)
    # wall times go to the log (and the runner's timing file), not to outputs or metrics: those hash by content
    io.log.info("%s: %.1f ms/step per seed, %.0f s for %d seeds", arm,
                1000 * float(np.mean([r["wall"] for r in results])) / p.steps, wall, p.seeds)
    return {"trained": 1, "params": results[0]["params"], "final_loss": float(np.mean(summary["final_loss"]))}
