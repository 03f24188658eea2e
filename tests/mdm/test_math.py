"""Unit tests of the MDM paper's mathematics (Feng et al., arXiv 2502.09622; the sheet's "Tests").

Brute-force references on toy chains, exactness identities of the samplers, and the pad handling of
the tiny trained model. Fast: the whole file runs in a few seconds on 2 cores.
"""
import itertools

import numpy as np
import pytest
import torch
from scipy import stats as st

from tasks.mdm.grid import cell_metrics, evaluate_cell, grid_ns
from tasks.mdm.languages import (dense_bigram, exact_entropy, invalid_pair_rate, invalid_pairs, log_q,
                                 sample_direct, sparse_bigram, stationary)
from tasks.mdm.model import MDM, make_batch_sampler, mdlm_loss, model_denoiser, sample_t
from tasks.mdm.oracle import OracleDenoiser, nearest_revealed, nearest_revealed_at, noisy, power_stack
from tasks.mdm.sampler import group_sizes, reveal_steps, sample_categorical_f64, sample_mdm


def _all_sequences(V, L):
    return np.array(list(itertools.product(range(V), repeat=L)))  # (V^L, L)


def _toy_chain(seed, V=3, sparse=False):
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.ones(V), size=V)
    if sparse:  # one forbidden successor per row, still primitive
        P[np.arange(V), (np.arange(V) + 1) % V] = 0.0
        P /= P.sum(axis=1, keepdims=True)
    return stationary(P), P


# ---------------------------------------------------------------- languages

@pytest.mark.parametrize("sparse", [False, True])
def test_exact_entropy_matches_brute_force(sparse):
    pi, P = _toy_chain(1, V=3, sparse=sparse)
    for L in range(1, 6):
        q = np.exp(log_q(_all_sequences(3, L), pi, P))
        assert q.sum() == pytest.approx(1.0)
        h_bf = -np.sum(q[q > 0] * np.log(q[q > 0]))
        assert exact_entropy(pi, P, L) == pytest.approx(h_bf, rel=1e-10)


@pytest.mark.parametrize("seed", [0, 1, 2, 7])
def test_sparse_generator_is_primitive_with_two_successors(seed):
    pi, P = sparse_bigram(seed)
    assert ((P > 0).sum(axis=1) == 2).all()
    assert np.allclose(P.sum(axis=1), 1.0)
    assert (np.linalg.matrix_power(P, 40) > 0).all()
    assert np.allclose(pi @ P, pi) and pi.sum() == pytest.approx(1.0)


def test_dense_generator_and_determinism():
    pi, P = dense_bigram(3)
    assert P.shape == (8, 8) and (P >= 1e-3 / 8).all() and np.allclose(P.sum(axis=1), 1.0)
    assert np.allclose(pi @ P, pi)
    pi2, P2 = dense_bigram(np.random.default_rng(3))
    assert np.array_equal(P, P2) and np.array_equal(pi, pi2)


def test_direct_samples_calibrate_the_metrics():
    rng = np.random.default_rng(0)
    pi, P = dense_bigram(0)
    m = cell_metrics(sample_direct(pi, P, 64, 2000, rng), pi, P)
    assert abs(m["delta_ter"]) < 3 * m["delta_se"]
    pis, Ps = sparse_bigram(0)
    xs = sample_direct(pis, Ps, 64, 2000, rng)
    m = cell_metrics(xs, pis, Ps)
    assert m["ser"] == 0.0 and m["invalid_pair_rate"] == 0.0 and np.isfinite(log_q(xs, pis, Ps)).all()


def test_invalid_pairs_and_log_q_minus_inf():
    pi, P = _toy_chain(0, V=3, sparse=True)  # 0 -> 1, 1 -> 2, 2 -> 0 forbidden
    x = np.array([[0, 1, 0, 0], [0, 0, 2, 2]])
    assert invalid_pairs(x, P).tolist() == [1, 0]
    assert invalid_pair_rate(x, P) == pytest.approx(1 / 6)
    lq = log_q(x, pi, P)
    assert lq[0] == -np.inf and np.isfinite(lq[1])


# ---------------------------------------------------------------- oracle

@pytest.mark.parametrize("sparse", [False, True])
def test_oracle_equals_brute_force_conditionals(sparse):
    V, L = 3, 6
    pi, P = _toy_chain(4, V=V, sparse=sparse)
    xs = _all_sequences(V, L)
    q = np.exp(log_q(xs, pi, P))
    rng = np.random.default_rng(0)
    masks = [np.ones(L, bool), np.eye(L, dtype=bool)[0], np.eye(L, dtype=bool)[-1],
             np.array([1, 1, 0, 1, 1, 1], bool), np.array([0, 1, 1, 1, 1, 0], bool)]
    masks += [rng.random(L) < 0.6 for _ in range(40)]
    xb = xs[rng.choice(len(xs), size=len(masks), p=q)]  # revealed values consistent with q
    mb = np.array(masks)
    oracle = OracleDenoiser(pi, P, L)
    full = oracle(xb, mb)  # (B, L, V)
    for b, (x, mask) in enumerate(zip(xb, mb)):
        cons = (xs[:, ~mask] == x[~mask]).all(axis=1)
        for i in np.flatnonzero(mask):
            bf = np.bincount(xs[cons, i], weights=q[cons], minlength=V)
            assert np.allclose(full[b, i], bf / bf.sum(), atol=1e-12), (mask, i)
        assert (full[b, ~mask] == 0).all()
    rows = oracle(xb, mb, mb)  # query form: (M, V) in row-major order
    assert np.array_equal(rows, full[mb])
    assert oracle.n_zero == 0


def test_oracle_zero_normaliser_falls_back_to_left_factor():
    # identity chain: 0 ... 1 is impossible at any distance, as after jointly impossible co-samples
    oracle = OracleDenoiser(np.full(3, 1 / 3), np.eye(3), 4)
    x = np.array([[0, 0, 1, 1]])
    mask = np.array([[False, True, False, True]])
    p = oracle(x, mask)
    assert oracle.n_zero == 1
    assert np.allclose(p[0, 1], [1.0, 0.0, 0.0])  # left factor P(0, .) only
    assert np.allclose(p[0, 3], [0.0, 1.0, 0.0])  # no right neighbour: left factor, normal case


def test_nearest_revealed_fast_path_matches_cumulative_version():
    rng = np.random.default_rng(0)
    for L in (1, 5, 63, 64, 65, 130):
        for frac in (0.0, 0.3, 0.9, 1.0):
            mask = rng.random((20, L)) < frac
            bi, ii = np.nonzero(mask)
            left, right = nearest_revealed(mask)
            l2, r2 = nearest_revealed_at(mask, bi, ii)
            assert np.array_equal(left[bi, ii], l2) and np.array_equal(right[bi, ii], r2)


def test_power_stack_and_noisy_wrapper():
    pi, P = dense_bigram(0)
    pw = power_stack(P, 5)
    assert np.allclose(pw[0], np.eye(8)) and np.allclose(pw[3], np.linalg.matrix_power(P, 3))
    oracle = OracleDenoiser(pi, P, 8)
    x = np.zeros((2, 8), dtype=np.int64)
    mask = np.ones((2, 8), bool)
    mask[:, 3] = False
    p, pn = oracle(x, mask, mask), noisy(oracle, 0.05, 8)(x, mask, mask)
    assert np.allclose(pn, 0.95 * p + 0.05 / 8) and np.allclose(pn.sum(axis=1), 1.0)


# ---------------------------------------------------------------- samplers

def test_inverse_cdf_sampler_matches_target_frequencies():
    rng = np.random.default_rng(0)
    p = np.array([0.5, 0.0, 0.2, 1e-3, 0.299])
    n = 200_000
    draws = sample_categorical_f64(np.broadcast_to(p, (n, 5)), rng)
    counts = np.bincount(draws, minlength=5)
    assert counts[1] == 0
    keep = p > 0
    assert st.chisquare(counts[keep], n * p[keep] / p[keep].sum()).pvalue > 1e-3
    # unnormalised rows and a zero-mass tail category
    d2 = sample_categorical_f64(np.broadcast_to([2.0, 6.0, 0.0], (n, 3)), rng)
    assert (d2 != 2).all() and np.mean(d2 == 1) == pytest.approx(0.75, abs=0.005)


def test_fixed_count_reveals_L_tokens_in_N_near_equal_groups():
    rng = np.random.default_rng(0)
    for L, N in [(10, 3), (16, 16), (64, 4), (7, 1)]:
        steps = reveal_steps(50, L, N, "fixed", rng)
        per_row = np.stack([np.bincount(r, minlength=N) for r in steps])  # (B, N)
        assert (per_row == group_sizes(L, N)[None]).all() and per_row.sum(axis=1).tolist() == [L] * 50
    assert group_sizes(10, 3).tolist() == [4, 3, 3]


def test_fixed_count_N_equals_L_is_exact_with_the_oracle():
    pi, P = sparse_bigram(0)
    L, B = 32, 500
    oracle = OracleDenoiser(pi, P, L)
    x, c = sample_mdm(oracle, B, L, L, "fixed", np.random.default_rng(1))
    assert invalid_pairs(x, P).sum() == 0 and c["n_zero"] == 0
    assert c["n_calls"] == L and (c["nfe_per_seq"] == L).all() and (c["revealed"] == B).all()


def test_bernoulli_reveal_fraction_matches_schedule():
    pi, P = dense_bigram(0)
    B, L, N = 400, 64, 8
    _, c = sample_mdm(OracleDenoiser(pi, P, L), B, L, N, "bernoulli", np.random.default_rng(2))
    t = 1 - np.arange(N + 1) / N
    target = (t[:-1] - t[1:]) / t[:-1]  # (t - s) / t per step
    frac = c["revealed"] / c["masked_before"]
    se = np.sqrt(target * (1 - target) / c["masked_before"])
    assert (np.abs(frac - target) <= 4 * se + 1e-12).all()
    assert c["revealed"][-1] == c["masked_before"][-1]  # s = 0 reveals the rest
    assert c["revealed"].sum() == B * L


@pytest.mark.parametrize("schedule", ["bernoulli", "fixed"])
def test_samplers_are_deterministic_for_a_seed_and_metrics_sane(schedule):
    pi, P = sparse_bigram(1)
    oracle = OracleDenoiser(pi, P, 64)
    a = evaluate_cell(pi, P, 64, 8, schedule, oracle, 200, np.random.default_rng(5))
    b = evaluate_cell(pi, P, 64, 8, schedule, oracle, 200, np.random.default_rng(5))
    a.pop("seconds"), b.pop("seconds")
    same = [a[k] == b[k] or (a[k] != a[k] and b[k] != b[k]) for k in a]  # nan counts as equal
    assert a.keys() == b.keys() and all(same)
    assert a["ser_lo"] <= a["ser"] <= a["ser_hi"] and a["n_calls"] == 8 and a["delta_ter"] == np.inf
    assert grid_ns(64) == [4, 8, 16, 32, 64] and grid_ns(512) == [4, 8, 16, 32, 64, 128, 256, 512]
    assert grid_ns(16, fractions=(8, 4, 2, 1)) == [2, 4, 8, 16]


# ---------------------------------------------------------------- tiny MDM



def _tiny_model():
    torch.manual_seed(0)
    return MDM(V=8, d=32, n_layers=2, n_heads=4, d_ff=64, max_len=64)


def test_attention_ignores_pad_keys():
    m = _tiny_model().eval()
    tok = torch.randint(0, 9, (4, 64))
    pad = torch.zeros(4, 64, dtype=torch.bool)
    pad[:, 40:] = True
    tok2 = tok.clone()
    tok2[pad] = torch.randint(0, 10, (int(pad.sum()),))  # change only the pad positions
    with torch.no_grad():
        y1, y2 = m(tok, pad), m(tok2, pad)
        y3 = m(tok2, None)
    assert torch.allclose(y1[~pad], y2[~pad], atol=1e-6)
    assert not torch.allclose(y1[~pad], y3[~pad], atol=1e-4)  # the test can see a leak


def test_mdlm_loss_ignores_pad_positions():
    pi, P = dense_bigram(0)
    m = _tiny_model()
    x, pad = make_batch_sampler(pi, P, np.random.default_rng(0), lengths=(16, 32))(16)
    assert (x[pad] == 9).all() and pad[:, 32:].all()
    loss = mdlm_loss(m, x, pad, torch.Generator().manual_seed(0))
    loss.backward()
    # pad tokens and positions only reached by pads get no gradient: no leak into loss or attention
    assert torch.count_nonzero(m.net.tok.weight.grad[9]) == 0
    assert torch.count_nonzero(m.net.pos.weight.grad[32:]) == 0
    assert torch.count_nonzero(m.net.tok.weight.grad[:9]) > 0
    x2 = x.clone()
    x2[pad] = 3  # values at pads are ignored
    assert mdlm_loss(m, x2, pad, torch.Generator().manual_seed(0)).item() == loss.item()


def test_stratified_t_covers_every_stratum_with_the_uniform_marginal():
    g = torch.Generator().manual_seed(0)
    t = sample_t(64, g, how="stratified")
    assert t.min() >= 1e-3 and t.max() < 1.0
    u = (t - 1e-3) / (1 - 1e-3)
    assert sorted(torch.floor(u * 64).long().tolist()) == list(range(64))       # one t per 1/64 stratum
    many = torch.cat([sample_t(8, g, how="stratified") for _ in range(4000)])
    assert abs(float(many.mean()) - 0.5005) < 0.01 and abs(float((many < 0.25).float().mean()) - 0.2492) < 0.01
    with pytest.raises(ValueError, match="unknown t sampling"):
        sample_t(4, g, how="sobol")


def test_per_batch_length_sampler_keeps_the_token_count_and_has_no_pads():
    pi, P = dense_bigram(0)
    sampler = make_batch_sampler(pi, P, np.random.default_rng(0), lengths=(16, 32, 64), per_batch_length=True)
    shapes = set()
    for _ in range(30):
        x, pad = sampler(8)
        assert x.shape[0] * x.shape[1] == 8 * 64 and not pad.any() and x.max() < 8
        shapes.add(tuple(x.shape))
    assert shapes == {(32, 16), (16, 32), (8, 64)}
    m = _tiny_model()
    loss = mdlm_loss(m, x, pad, torch.Generator().manual_seed(0), t_sampling="stratified")
    assert torch.isfinite(loss)


def test_training_runs_and_model_denoiser_interface():
    pi, P = dense_bigram(0)
    m = _tiny_model()
    from tasks.common.train import Schedule, fit

    sampler, gen = make_batch_sampler(pi, P, np.random.default_rng(0)), torch.Generator().manual_seed(0)
    hist = fit(m, lambda step: mdlm_loss(m, *sampler(8), gen), Schedule(steps=6, lr=1e-3, warmup=2))
    assert hist.steps_done == 6 and all(np.isfinite(hist.logs["loss"])) and not m.training
    den = model_denoiser(m, 8)
    x = np.zeros((3, 16), dtype=np.int64)
    mask = np.random.default_rng(0).random((3, 16)) < 0.5
    full, rows = den(x, mask), den(x, mask, mask)
    assert full.dtype == np.float64 and np.allclose(rows.sum(axis=1), 1.0)
    assert np.array_equal(rows, full[mask]) and (full[~mask] == 0).all()
    xs, c = sample_mdm(den, 3, 16, 4, "fixed", np.random.default_rng(0))
    assert xs.shape == (3, 16) and xs.max() < 8 and c["n_calls"] == 4
