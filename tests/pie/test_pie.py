"""Tests of the PIE package (He et al., arXiv 2407.03157; the sheet's "Tests").

RoPE rotation algebra; Delta = 0 leaves the cache unchanged; an edit at the very end equals full recomputation;
a 1-layer model under PIE equals full recomputation for random insertions, deletions and multi-edits (conflict
fast encoding does not); cache length and position bookkeeping; FLOP counts against the analytic formula; EM/ES;
the edit generator; and a smoke run of the whole pipeline through the real runner. Asserts behaviour only, never
that a claim passes.
"""
from __future__ import annotations


import numpy as np
import pytest
import torch

from tasks.common.rope import KVCache, apply_rope, rope_cos_sin, rotate_by_delta
from tasks.pie.edits import NLI, TASKS, apply_edits, copy_block, decode, line_str, make_instance
from tasks.pie.evaluate import em_es, reused_new_index
from tasks.pie.methods import METHODS, analytic_flops, count_flops, prefill, update
from tasks.pie.model import RoPELM

V = 40


@pytest.fixture(autouse=True)
def _inference(request):
    with torch.inference_mode("smoke" not in request.node.name):   # the smoke run trains
        yield


def _model(layers: int, seed: int = 0, d: int = 32) -> RoPELM:
    torch.manual_seed(seed)
    m = RoPELM(V, d, layers, 4, 2 * d).eval()
    with torch.no_grad():               # N(0, 0.02) init gives near-uniform attention: sharpen it
        for blk in m.blocks:
            blk.attn.qkv.weight.mul_(8.0)
    return m


def _random_edits(rng, n: int, kind: str):
    """Sorted non-overlapping edits on a length-n sequence (never touching the last token)."""
    if kind == "insertion":
        i = int(rng.integers(0, n - 1))
        return [(i, i, rng.integers(0, V, int(rng.integers(1, 9))).tolist())]
    if kind == "deletion":
        i = int(rng.integers(0, n - 6))
        return [(i, i + int(rng.integers(1, 6)), [])]
    cuts = np.sort(rng.choice(np.arange(0, n - 1, 6), size=3, replace=False))
    return [(int(c), int(c) + int(rng.integers(0, 4)), rng.integers(0, V, int(rng.integers(0, 5))).tolist())
            for c in cuts]


def test_rotation_algebra():
    k = torch.randn(3, 5, 16, dtype=torch.float64)
    ca, sa = rope_cos_sin(7.0, 16, dtype=torch.float64)
    cb, sb = rope_cos_sin(-3.5, 16, dtype=torch.float64)
    cab, sab = rope_cos_sin(3.5, 16, dtype=torch.float64)
    torch.testing.assert_close(apply_rope(apply_rope(k, cb, sb), ca, sa), apply_rope(k, cab, sab))   # R_a R_b = R_(a+b)
    torch.testing.assert_close(apply_rope(apply_rope(k, ca, sa), *rope_cos_sin(-7.0, 16, dtype=torch.float64)), k)
    assert torch.allclose(apply_rope(k, ca, sa).norm(dim=-1), k.norm(dim=-1))              # orthogonal
    # rotating post-RoPE keys by delta == re-applying RoPE at shifted positions (float32, angles in float64)
    pos = torch.arange(100, 140)
    raw = torch.randn(2, 4, 40, 32)
    c, s = rope_cos_sin(pos, 32)
    c2, s2 = rope_cos_sin(pos + 1234, 32)
    torch.testing.assert_close(rotate_by_delta(apply_rope(raw, c, s), 1234), apply_rope(raw, c2, s2), atol=2e-5, rtol=0)
    assert rotate_by_delta(raw, 0) is raw


def test_delta_zero_edit_leaves_cache_unchanged():
    m = _model(2)
    x = np.random.default_rng(0).integers(0, V, 50).tolist()
    _, pre = prefill(m, x)
    edits = [(10, 14, x[10:14]), (30, 31, x[30:31])]            # same tokens, same lengths: Delta = 0
    _, c, pos, rot = update("pie", m, pre, None, x, x, edits)
    assert rot == 0 and pos == len(x) and len(c) == len(pre)
    for a, b in zip(c.k + c.v, pre.k + pre.v):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    assert torch.equal(c.pos, pre.pos)


def test_edit_at_the_end_equals_full_recomputation():
    m = _model(3)
    rng = np.random.default_rng(1)
    x = rng.integers(0, V, 40).tolist()
    for edits in ([(40, 40, [3, 4, 5])], [(37, 40, [9])], [(39, 40, [1, 2])]):
        xp = apply_edits(x, edits)
        pl, pre = prefill(m, x)
        full = update("full", m, pre, pl, x, xp, edits)
        pie = update("pie", m, pre, pl, x, xp, edits)
        torch.testing.assert_close(pie[0], full[0], atol=1e-5, rtol=0)
        for a, b in zip(pie[1].k, full[1].k):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", ["insertion", "deletion", "multi"])
def test_one_layer_pie_equals_full_and_conflict_differs(kind):
    m = _model(1, seed=3)
    rng = np.random.default_rng({"insertion": 0, "deletion": 1, "multi": 2}[kind])
    for _ in range(5):
        x = rng.integers(0, V, int(rng.integers(30, 80))).tolist()
        edits = _random_edits(rng, len(x), kind)
        xp = apply_edits(x, edits)
        pl, pre = prefill(m, x)
        res = {me: update(me, m, pre, pl, x, xp, edits) for me in ("full", "suffix", "pie", "conflict")}
        for me in ("pie", "suffix"):
            torch.testing.assert_close(res[me][0], res["full"][0], atol=1e-5, rtol=0)
            for a, b in zip(res[me][1].k + res[me][1].v, res["full"][1].k + res["full"][1].v):
                torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
        if len(xp) != len(x):   # Delta != 0: naive reuse keeps wrong rotations
            assert float((res["conflict"][0] - res["full"][0]).abs().max()) > 1e-4
            assert max(float((a - b).abs().max()) for a, b in zip(res["conflict"][1].k, res["full"][1].k)) > 1e-2


def test_multilayer_pie_exact_in_layer_one_only():
    m = _model(3, seed=4)
    rng = np.random.default_rng(5)
    x = rng.integers(0, V, 60).tolist()
    edits = [(10, 10, [1, 2, 3, 4])]
    xp = apply_edits(x, edits)
    pl, pre = prefill(m, x)
    full, pie = update("full", m, pre, pl, x, xp, edits), update("pie", m, pre, pl, x, xp, edits)
    idx = reused_new_index(len(x), edits)[:-1]
    assert idx == list(range(14, 63))
    torch.testing.assert_close(pie[1].k[0][:, :, idx], full[1].k[0][:, :, idx], atol=1e-5, rtol=0)
    assert float((pie[1].k[2][:, :, idx] - full[1].k[2][:, :, idx]).abs().max()) > 1e-4   # semantic impact


def test_cache_length_and_positions():
    m = _model(2)
    rng = np.random.default_rng(6)
    x = rng.integers(0, V, 50).tolist()
    edits = [(5, 8, [1]), (20, 20, [2, 3, 4, 5]), (40, 44, [6, 7])]
    xp = apply_edits(x, edits)
    pl, pre = prefill(m, x)
    assert len(pre) == 50 and torch.equal(pre.pos, torch.arange(50))
    for me in METHODS:
        lg, c, pos, _ = update(me, m, pre, pl, x, xp, edits)
        assert lg.shape == (1, V)
        n = len(x) if me == "stale" else len(xp)
        assert len(c) == n and pos == n and all(t.shape[2] == n for t in c.k + c.v)
        if me in ("full", "suffix", "pie"):
            assert torch.equal(c.pos, torch.arange(len(xp)))          # contiguous after the repair
    _, c, _, _ = update("conflict", m, pre, pl, x, xp, edits)
    assert not torch.equal(c.pos, torch.arange(len(xp)))              # naive reuse keeps the old positions
    # KVCache helpers
    s = pre.slice(10, 20).shift(5)
    assert len(s) == 10 and torch.equal(s.pos, torch.arange(15, 25)) and s.v[0] is not None
    assert len(KVCache.cat([pre.slice(0, 10), s])) == 20


def test_flop_counter_matches_analytic_formula():
    m = _model(2, d=64)
    x = np.random.default_rng(7).integers(0, V, 120).tolist()
    edits = [(60, 60, list(range(8)))]
    xp = apply_edits(x, edits)
    pl, pre = prefill(m, x)
    head = 2 * 64 * V
    _, fl, rot = count_flops("full", m, pre, pl, x, xp, edits)
    assert rot == 0 and fl == pytest.approx(analytic_flops(2, 64, 128, 128, 0) + head, rel=0.02)
    _, fl, rot = count_flops("pie", m, pre, pl, x, xp, edits)
    want = analytic_flops(2, 64, 128, 8, 60) + analytic_flops(2, 64, 128, 1, 127) + head
    assert fl == pytest.approx(want, rel=0.02) and rot == 3 * 60 * 64 * 2


def test_em_es_and_line_strings():
    assert em_es("v1 = a0 + 3", "v1  = a0 + 3") == (1.0, pytest.approx(100 * 22 / 23, abs=0.01))
    assert em_es("v1 = a0", "v1 = a0 + 3")[0] == 0.0
    assert em_es("abc", "abc") == (1.0, 100.0)
    from tasks.pie.edits import encode
    assert line_str(encode(["NLI", "v3", "=", "a1"])) == "v3 = a1"
    assert line_str(encode(["NL", "print", "(", "v1", ")", "<pad>"])) == "print ( v1 )"


@pytest.mark.parametrize("task", TASKS)
def test_instances_are_consistent(task):
    rng = np.random.default_rng(8)
    for _ in range(20):
        inst = make_instance(rng, task, 150, 250)
        assert apply_edits(inst["x"], inst["edits"]) == inst["xp"]
        assert inst["target"] != inst["stale_target"]
        assert inst["xp"][-1] == NLI and inst["x"][-1] == NLI          # the context ends with the target's line start
        assert inst["needs_context"] == (decode(inst["target"])[0] != "return")
        if task == "insertion":
            assert len(inst["xp"]) > len(inst["x"]) and len(inst["edits"]) == 1
        elif task == "deletion":
            assert len(inst["xp"]) < len(inst["x"]) and inst["edits"][0][2] == []
        else:
            assert len(inst["edits"]) >= 2 and all(len(y) != j - i for i, j, y in inst["edits"])


def test_copy_block_repeats_the_block_at_a_varying_distance():
    rng = np.random.default_rng(9)
    starts = set()
    for _ in range(30):
        w, r = copy_block(rng, 24)
        assert len(w) == 48 and w[r:] == w[:48 - r] and 24 <= r <= 48 and w[0] == "NLI"
        starts.add(r)
    assert len(starts) > 5
