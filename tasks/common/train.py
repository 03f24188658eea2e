"""The one training loop of the suite: AdamW (or Adam) with a linear warm-up + cosine schedule, gradient clipping,
evaluation every k steps with optional early stopping, curves downsampled by one rule, a progress bar, seeding.

A paper supplies `loss_fn(step) -> loss` or `(loss, {name: float})`: it draws its own batch (fresh samples, an
epoch permutation from `epoch_batches`, ...) so the loop knows nothing of the data. Threads are the runner's
business (one BLAS/torch setting per stage process), not the loop's.

    hist = fit(model, loss_fn, Schedule(steps=2000, lr=1e-3, warmup=100), progress=io.progress)
    io.log_curves(hist.curves())
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch

MAX_CURVE_POINTS = 200   # every logged curve: means over equal windows, at most this many points


@dataclass(frozen=True)
class Schedule:
    """Optimiser and learning-rate schedule: linear warm-up over `warmup` steps ((s+1)/warmup), then cosine decay
    from `lr` to `min_ratio * lr` at `steps`."""

    steps: int
    lr: float
    warmup: int = 0
    min_ratio: float = 0.0
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float | None = 1.0
    optimizer: str = "adamw"            # adamw | adam

    def factor(self, s: int) -> float:
        if s < self.warmup:
            return (s + 1) / self.warmup
        frac = min(1.0, (s - self.warmup) / max(1, self.steps - self.warmup))
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * frac))

    def lr_at(self, s: int) -> float:
        return self.lr * self.factor(s)


@dataclass(frozen=True)
class EarlyStop:
    """Stop when `metric` (from eval_fn) has not improved for `patience` evaluations; keep the best weights."""

    metric: str
    mode: str = "max"                   # max | min
    patience: int = 5
    restore_best: bool = True


@dataclass
class History:
    """Per-step training logs and the evaluations (step -> metrics)."""

    logs: dict[str, list[float]] = field(default_factory=dict)
    evals: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    steps_done: int = 0
    stopped_early: bool = False
    best_step: int | None = None

    def tail_mean(self, key: str = "loss", frac: float = 0.1) -> float:
        v = self.logs[key]
        return float(np.mean(v[-max(1, int(len(v) * frac)):]))

    def curves(self, prefix: str = "", max_points: int = MAX_CURVE_POINTS) -> dict[str, tuple[list[int], list[float]]]:
        """Every per-step log downsampled (window means) plus every eval metric, as {name: (steps, values)}."""
        out = {f"{prefix}{k}": downsample(v, max_points) for k, v in self.logs.items()}
        for k in sorted({k for _, m in self.evals for k in m}):
            pts = [(s, m[k]) for s, m in self.evals if k in m]
            out[f"{prefix}eval_{k}"] = ([s for s, _ in pts], [float(x) for _, x in pts])
        return out


def downsample(values: list[float], max_points: int = MAX_CURVE_POINTS) -> tuple[list[int], list[float]]:
    """Means over windows of w = ceil(n / max_points) steps, at the window's last step (1-based)."""
    n = len(values)
    if n == 0:
        return [], []
    w = math.ceil(n / max_points)
    a = np.asarray(values, dtype=np.float64)
    m = n // w
    steps = [(i + 1) * w for i in range(m)]
    means = a[: m * w].reshape(m, w).mean(1).tolist()
    if m * w < n:
        steps.append(n)
        means.append(float(a[m * w:].mean()))
    return steps, means


def epoch_batches(n: int, batch: int, epochs: int, gen: torch.Generator) -> Iterator[torch.Tensor]:
    """Index minibatches: a fresh permutation of range(n) each epoch, cut into batches (the last may be short)."""
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, batch):
            yield perm[i:i + batch]


def steps_per_epochs(n: int, batch: int, epochs: int) -> int:
    return epochs * math.ceil(n / batch)


def make_optimizer(params: Iterable[Any], sch: Schedule) -> torch.optim.Optimizer:
    if sch.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=sch.lr, betas=sch.betas, weight_decay=sch.weight_decay)
    if sch.optimizer == "adam":
        return torch.optim.Adam(params, lr=sch.lr, betas=sch.betas, weight_decay=sch.weight_decay)
    raise ValueError(f"unknown optimizer {sch.optimizer!r}")


def fit(model: torch.nn.Module, loss_fn: Callable[[int], Any], sch: Schedule, *,
        param_groups: list[dict] | None = None, eval_fn: Callable[[int], dict[str, float]] | None = None,
        eval_every: int = 0, early_stop: EarlyStop | None = None, progress: Callable | None = None,
        seed: int | None = None, check_finite: bool = True) -> History:
    """Train `model` for `sch.steps` steps of `loss_fn(step)`; returns the History (model left in eval mode).

    param_groups: optimiser groups (e.g. no weight decay on norms); default all parameters.
    eval_fn(step) -> metrics, called every `eval_every` steps and after the last (in eval mode, no grad).
    seed: seeds torch's global generator before the first step (dropout etc.); data streams are the caller's.
    """
    if seed is not None:
        torch.manual_seed(seed)
    opt = make_optimizer(param_groups if param_groups is not None else model.parameters(), sch)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, sch.factor)
    hist = History()
    best, best_state, bad = None, None, 0
    it: Iterable[int] = range(sch.steps)
    model.train()
    for step in (progress(it, total=sch.steps, desc="train") if progress is not None else it):
        out = loss_fn(step)
        loss, logs = out if isinstance(out, tuple) else (out, {})
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if sch.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), sch.grad_clip)
        opt.step()
        sched.step()
        for k, v in {"loss": float(loss.detach()), **logs}.items():
            hist.logs.setdefault(k, []).append(float(v))
        if check_finite and not math.isfinite(hist.logs["loss"][-1]):
            raise FloatingPointError(f"non-finite training loss at step {step}")
        hist.steps_done = step + 1
        last = step + 1 == sch.steps
        if eval_fn is not None and ((eval_every and (step + 1) % eval_every == 0) or last):
            model.eval()
            with torch.no_grad():
                metrics = {k: float(v) for k, v in eval_fn(step + 1).items()}
            model.train()
            hist.evals.append((step + 1, metrics))
            if early_stop is not None:
                val = metrics[early_stop.metric]
                better = best is None or (val > best if early_stop.mode == "max" else val < best)
                if better:
                    best, bad, hist.best_step = val, 0, step + 1
                    if early_stop.restore_best:
                        best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:
                    bad += 1
                    if bad >= early_stop.patience:
                        hist.stopped_early = True
                        break
    if best_state is not None and early_stop is not None and early_stop.restore_best:
        model.load_state_dict(best_state)
    model.eval()
    return hist
