"""The lean cache updates (tasks/pie/lean.py) against the reference (tasks/pie/methods.py), issue 11.

Logits within 1e-5 and identical cache contents and positions for full, suffix, conflict and PIE, on every edit task
of the generator (insertion, deletion, edition) and on random edits (insertions, deletions, multi-place, at the
end, empty suffix); the batched in-place rotation equals `rotate_by_delta`; FLOP counts of the lean updates.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tasks.common.rope import rotate_by_delta
from tasks.pie.edits import TASKS, VOCAB, apply_edits, make_instance
from tasks.pie.lean import LEAN_METHODS, LeanCache, _rotate_into, lean_flops, lean_update
from tasks.pie.methods import count_flops, prefill, update
from tasks.pie.model import RoPELM


def _model(vocab: int, layers: int = 3, d: int = 32, seed: int = 0) -> RoPELM:
    torch.manual_seed(seed)
    m = RoPELM(vocab, d, layers, 4, 2 * d).eval()
    with torch.no_grad():               # N(0, 0.02) init gives near-uniform attention: sharpen it
        for blk in m.blocks:
            blk.attn.qkv.weight.mul_(8.0)
    return m


def _same(m, x, xp, edits):
    pl, pre = prefill(m, x)
    lpre = LeanCache.from_kv(pre, extra=3)
    for me in LEAN_METHODS:
        ref = update(me, m, pre, pl, x, xp, edits)
        lg, c, rot = lean_update(me, m, lpre, xp, edits)
        assert ref[3] - 1 <= rot <= ref[3], me   # the re-fed last token is not rotated first (the reference does)
        torch.testing.assert_close(lg, ref[0], atol=1e-5, rtol=0)
        kv = c.to_kv()
        assert len(kv) == len(xp) and torch.equal(kv.pos, ref[1].pos), me
        for a, b in zip(kv.k + kv.v, ref[1].k + ref[1].v):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


@torch.inference_mode()
@pytest.mark.parametrize("task", TASKS)
def test_lean_equals_reference_on_every_edit_task(task):
    m = _model(len(VOCAB))
    rng = np.random.default_rng({"insertion": 0, "deletion": 1, "edition": 2}[task])
    for _ in range(4):
        inst = make_instance(rng, task, 100, 160)
        _same(m, inst["x"], inst["xp"], [(i, j, y) for i, j, y in inst["edits"]])


@torch.inference_mode()
@pytest.mark.parametrize("kind", ["insertion", "deletion", "multi", "end"])
def test_lean_equals_reference_on_random_edits(kind):
    V = 40
    m = _model(V, seed=1)
    rng = np.random.default_rng({"insertion": 3, "deletion": 4, "multi": 5, "end": 6}[kind])
    for _ in range(6):
        n = int(rng.integers(20, 70))
        x = rng.integers(0, V, n).tolist()
        if kind == "insertion":
            i = int(rng.integers(0, n))
            edits = [(i, i, rng.integers(0, V, int(rng.integers(1, 9))).tolist())]
        elif kind == "deletion":
            i = int(rng.integers(0, n - 6))
            edits = [(i, i + int(rng.integers(1, 6)), [])]
        elif kind == "multi":
            cuts = np.sort(rng.choice(np.arange(0, n - 1, 6), size=3, replace=False))
            edits = [(int(c), int(c) + int(rng.integers(0, 4)), rng.integers(0, V, int(rng.integers(0, 5))).tolist())
                     for c in cuts]
        else:   # the edit reaches the last token (empty suffix)
            i = n - int(rng.integers(0, 3))
            edits = [(i, n, rng.integers(0, V, int(rng.integers(1, 4))).tolist())]
        _same(m, x, apply_edits(x, edits), edits)


def test_batched_rotation_into_a_view_equals_rotate_by_delta():
    src = torch.randn(3, 1, 4, 10, 16)
    dst = torch.zeros(3, 1, 4, 30, 16)
    _rotate_into(dst[:, :, :, 12:22], src, -7, 10_000.0)
    torch.testing.assert_close(dst[:, :, :, 12:22], rotate_by_delta(src, -7), atol=1e-6, rtol=0)
    assert float(dst[:, :, :, :12].abs().max()) == 0 and float(dst[:, :, :, 22:].abs().max()) == 0


@torch.inference_mode()
def test_lean_flops_one_span():
    """One edited span: the lean update does the reference's matmuls except the last layer's feed-forward and LM
    head on tokens other than the last; PIE stays far below full recomputation."""
    m = _model(40, layers=2, d=64)
    x = np.random.default_rng(7).integers(0, 40, 300).tolist()
    edits = [(150, 150, list(range(8)))]
    xp = apply_edits(x, edits)
    pl, pre = prefill(m, x)
    lpre = LeanCache.from_kv(pre)
    fl = {}
    for me in LEAN_METHODS:
        f, rot = lean_flops(me, m, lpre, xp, edits)
        _, rf, rrot = count_flops(me, m, pre, pl, x, xp, edits)
        assert rrot - 3 * 64 * 2 <= rot <= rrot and 0 < f <= rf
        fl[me] = f + rot
    assert fl["pie"] == fl["conflict"] + 3 * (150 - 1) * 64 * 2   # suffix minus the re-fed token, 2 layers
    assert fl["pie"] < 0.1 * fl["full"] and fl["pie"] < fl["suffix"] < fl["full"]
