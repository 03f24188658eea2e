"""The shared training loop (tasks/common/train.py): schedule, clipping, curves, early stop, determinism."""
from __future__ import annotations

import math

import pytest
import torch

from tasks.common.train import EarlyStop, Schedule, downsample, epoch_batches, fit, steps_per_epochs


def test_schedule_warmup_then_cosine_to_floor():
    s = Schedule(steps=110, lr=1.0, warmup=10, min_ratio=0.1)
    assert [s.factor(i) for i in (0, 4, 9)] == pytest.approx([0.1, 0.5, 1.0])
    assert s.factor(10) == pytest.approx(1.0) and s.factor(60) == pytest.approx(0.55)
    assert s.factor(110) == pytest.approx(0.1) and s.factor(500) == pytest.approx(0.1)
    assert Schedule(steps=4, lr=2.0).lr_at(2) == pytest.approx(1.0)      # no warm-up: cosine from the start


def test_downsample_means_over_windows():
    assert downsample([1.0, 2.0, 3.0], 10) == ([1, 2, 3], [1.0, 2.0, 3.0])
    steps, vals = downsample([float(i) for i in range(10)], 4)            # window 3: 0-2, 3-5, 6-8, then 9
    assert steps == [3, 6, 9, 10] and vals == [1.0, 4.0, 7.0, 9.0]
    assert downsample([]) == ([], [])


def test_epoch_batches_cover_every_example_once_per_epoch():
    idx = list(epoch_batches(10, 4, 2, torch.Generator().manual_seed(0)))
    assert [len(i) for i in idx] == [4, 4, 2] * 2 and steps_per_epochs(10, 4, 2) == len(idx)
    assert sorted(torch.cat(idx[:3]).tolist()) == list(range(10))


def _problem(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Linear(3, 1)
    x = torch.randn(64, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    return model, lambda step: ((model(x) - y) ** 2).mean()


def test_fit_learns_is_deterministic_and_clips():
    runs = []
    for _ in range(2):
        model, loss = _problem()
        h = fit(model, loss, Schedule(steps=200, lr=0.05, warmup=5))
        runs.append((h.logs["loss"], [p.detach().clone() for p in model.parameters()]))
        assert h.logs["loss"][-1] < 0.01 * h.logs["loss"][0] and not model.training and h.steps_done == 200
    assert runs[0][0] == runs[1][0] and all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))
    model, _ = _problem()
    big = lambda step: 1e6 * model(torch.ones(1, 3)).sum()              # noqa: E731
    fit(model, big, Schedule(steps=2, lr=1e-3, grad_clip=0.25, optimizer="adam"))
    norm = math.sqrt(sum(float((p.grad ** 2).sum()) for p in model.parameters()))   # the last step's gradient
    assert norm == pytest.approx(0.25, rel=1e-5)


def test_fit_eval_early_stop_restores_best_and_extra_logs():
    model, loss = _problem()
    scores = iter([1.0, 3.0, 2.0, 2.0, 2.0, 9.0])
    snap = {}

    def eval_fn(step):
        snap[step] = model.weight.detach().clone()
        return {"acc": next(scores)}

    h = fit(model, lambda s: (loss(s), {"lr_like": 0.5}), Schedule(steps=100, lr=0.01), eval_fn=eval_fn,
            eval_every=10, early_stop=EarlyStop("acc", patience=3))
    assert h.stopped_early and h.steps_done == 50 and h.best_step == 20
    assert torch.equal(model.weight, snap[20]) and h.logs["lr_like"] == [0.5] * 50
    assert h.curves()["eval_acc"] == ([10, 20, 30, 40, 50], [1.0, 3.0, 2.0, 2.0, 2.0])


def test_fit_rejects_non_finite_loss():
    model = torch.nn.Linear(1, 1)
    with pytest.raises(FloatingPointError, match="step 0"):
        fit(model, lambda s: model(torch.ones(1, 1)).sum() * float("nan"), Schedule(steps=3, lr=0.1))
