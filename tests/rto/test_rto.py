"""Tests of the RTO package (Zhong et al., arXiv 2404.18922; the sheet's "Tests").

DPO token reward: telescoping to the sentence-level implicit reward on a toy policy, scale-then-clip order; GAE
against a hand computation; exact KL against brute-force enumeration on a 2-token vocabulary; the KV-cache decoder
against the full forward; the BT label generator; the per-arm rewards; and a smoke run of the whole DAG through the
real runner. Asserts behaviour only, never that a claim passes.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from tasks.rto.env import World, bt_labels, calibrate_kappa, expected_agreement, make_W, true_reward, with_bos
from tasks.rto.model import GPT, exact_kl, extend, response_out, token_logprobs
from tasks.rto.calibrate import CLIP_GRID, CLIP_KEEP, RATIO, choose
from tasks.rto.ceiling import bigram_counts, bt_table_accuracy
from tasks.rto.rewards import arm_rewards, dpo_token_reward, gae, normalised_true_tokens




def toy(V=5, H=4, P=2, C=2, seed=0) -> tuple[World, GPT, GPT]:
    world = World(torch.from_numpy(make_W(V, C, 1, 1, np.random.default_rng(seed))), V, C, P, H)
    torch.manual_seed(seed)
    pol, ref = GPT(V, 16, 1, 2, world.seq_len).eval(), GPT(V, 16, 1, 2, world.seq_len).eval()
    for m in (pol, ref):   # larger weights: a policy far from uniform
        for q in m.parameters():
            q.data.mul_(20.0)
    return world, pol, ref


def seq_logprob_incremental(model: GPT, world: World, seq: torch.Tensor) -> torch.Tensor:
    """log pi(y | x) by decoding one token at a time with the KV cache (independent of response_out)."""
    cache, total = [None] * len(model.tf.blocks), torch.zeros(seq.shape[0])
    logits = extend(model, seq[:, : world.lp], cache)[:, -1]
    for h in range(world.H):
        y = seq[:, world.lp + h]
        total += torch.log_softmax(logits, -1).gather(1, y[:, None]).squeeze(1)
        logits = extend(model, y[:, None], cache)[:, -1]
    return total


@torch.no_grad()
def test_dpo_token_reward_telescopes_to_sentence_reward():
    world, dpo, ref = toy()
    g = torch.Generator().manual_seed(1)
    x, y = torch.randint(0, world.V, (32, world.P), generator=g), torch.randint(0, world.V, (32, world.H), generator=g)
    seq = with_bos(world, x, y)
    beta = 0.1
    tok = beta * (token_logprobs(response_out(dpo, world, seq)[0], y) - token_logprobs(response_out(ref, world, seq)[0], y))
    sentence = beta * (seq_logprob_incremental(dpo, world, seq) - seq_logprob_incremental(ref, world, seq))
    assert tok.abs().max() > 0.05                                           # a non-trivial toy
    torch.testing.assert_close(tok.sum(1), sentence, atol=1e-4, rtol=1e-4)
    # unclipped (c large) the shaped reward is exactly beta1 * log-ratio; the sum telescopes likewise
    lp_d, lp_r = token_logprobs(response_out(dpo, world, seq)[0], y), token_logprobs(response_out(ref, world, seq)[0], y)
    torch.testing.assert_close(dpo_token_reward(lp_d, lp_r, beta, 1e9).sum(1), sentence, atol=1e-4, rtol=1e-4)


def test_dpo_token_reward_scales_then_clips():
    lp_d, lp_r = torch.tensor([[0.0, 3.0, -3.0, 0.2]]), torch.zeros(1, 4)
    r = dpo_token_reward(lp_d, lp_r, scale=0.5, clip=1.0)
    torch.testing.assert_close(r, torch.tensor([[0.0, 1.0, -1.0, 0.1]]))        # clip(0.5 * x), not 0.5 * clip(x)
    assert float(r.abs().max()) <= 1.0


def test_gae_matches_hand_computation():
    r, v = torch.tensor([[0.0, 0.0, 1.0]]), torch.tensor([[0.5, 0.2, 0.4]])
    # gamma = 1, lambda = 0.95: deltas -0.3, 0.2, 0.6; A2 = 0.6, A1 = 0.2 + 0.95 * 0.6, A0 = -0.3 + 0.95 * 0.77
    adv, ret = gae(r, v, 1.0, 0.95)
    torch.testing.assert_close(adv, torch.tensor([[0.4315, 0.77, 0.6]]))
    torch.testing.assert_close(ret, torch.tensor([[0.9315, 0.97, 1.0]]))
    # gamma = lambda = 0.5: deltas 0.5 * 0.2 - 0.5 = -0.4, 0.5 * 0.4 - 0.2 = 0, 0.6; A1 = 0.25 * 0.6, A0 = -0.4 + 0.25 * 0.15
    adv, _ = gae(r, v, 0.5, 0.5)
    torch.testing.assert_close(adv, torch.tensor([[-0.3625, 0.15, 0.6]]))


@torch.no_grad()
def test_exact_kl_matches_brute_force_enumeration_on_two_tokens():
    world = World(torch.zeros(1, 2, 2), V=2, C=1, P=1, H=3)
    torch.manual_seed(0)
    pol, ref = GPT(2, 8, 1, 2, world.seq_len).eval(), GPT(2, 8, 1, 2, world.seq_len).eval()
    for q in pol.parameters():
        q.data.mul_(30.0)
    x = torch.tensor([[1]])
    ys = torch.tensor(list(itertools.product([0, 1], repeat=3)))               # all 8 responses
    seq = with_bos(world, x.expand(8, 1), ys)
    lp_pol, lp_ref = response_out(pol, world, seq)[0], response_out(ref, world, seq)[0]
    logp, logq = token_logprobs(lp_pol, ys).sum(1), token_logprobs(lp_ref, ys).sum(1)
    assert torch.isclose(logp.exp().sum(), torch.tensor(1.0), atol=1e-5)
    brute = float((logp.exp() * (logp - logq)).sum())                          # KL over whole sequences
    stepwise = exact_kl(lp_pol, lp_ref)                                        # (8, 3) per-step exact KL
    along = float((logp.exp() * stepwise.sum(1)).sum())                       # E_pi[sum_h KL_h], exact over states
    assert brute > 0.01
    assert along == pytest.approx(brute, rel=1e-4, abs=1e-6)
    assert float(stepwise.min()) >= -1e-7
    assert float(exact_kl(lp_ref, lp_ref).abs().max()) < 1e-6                  # 0 when pi = pi_ref


@torch.no_grad()
def test_kv_cache_decoder_matches_full_forward():
    world, pol, _ = toy()
    seq = torch.randint(0, world.V + 1, (4, world.seq_len), generator=torch.Generator().manual_seed(0))
    full = pol(seq)[0]
    cache = [None]
    parts = [extend(pol, seq[:, :3], cache)] + [extend(pol, seq[:, t:t + 1], cache) for t in range(3, world.seq_len)]
    torch.testing.assert_close(torch.cat(parts, 1), full, atol=1e-5, rtol=1e-5)


def test_bt_labels_agree_with_true_order_at_calibrated_kappa():
    g = torch.Generator().manual_seed(0)
    ra, rb = torch.randint(-4, 5, (20000,), generator=g) / 16.0, torch.randint(-4, 5, (20000,), generator=g) / 16.0
    kappa = calibrate_kappa(ra, rb, 16, 0.775)
    assert expected_agreement(ra, rb, kappa, 16) == pytest.approx(0.775, abs=1e-4)
    lab = bt_labels(ra, rb, kappa, 16, g).bool()
    order = ra != rb
    agree = float((lab == (ra > rb))[order].float().mean())
    assert 0.75 <= agree <= 0.80


def test_true_reward_is_token_additive():
    world = World(torch.from_numpy(make_W(6, 2, 2, 2, np.random.default_rng(0))), 6, 2, 3, 4)
    x, y = torch.tensor([[3, 1, 2]]), torch.tensor([[4, 0, 5, 5]])
    c = 3 % 2
    expect = (world.W[c, 2, 4] + world.W[c, 4, 0] + world.W[c, 0, 5] + world.W[c, 5, 5]) / 4
    assert float(true_reward(world, x, y)) == pytest.approx(float(expect))


def test_arm_rewards_place_rm_on_last_token_and_kl_on_every_token():
    B, H = 2, 5
    g = torch.Generator().manual_seed(0)
    logp, lref, ldpo = (torch.randn(B, H, generator=g) for _ in range(3))
    rm = torch.tensor([1.5, -2.0])
    kw = dict(kl_coef=0.1, dpo_scale=0.3, dpo_clip=0.2)
    kl = -0.1 * (logp - lref)
    dense = dpo_token_reward(ldpo, lref, 0.3, 0.2)
    a = arm_rewards("sentence", logp, lref, None, rm, **kw)
    torch.testing.assert_close(a[:, :-1], kl[:, :-1])
    torch.testing.assert_close(a[:, -1], kl[:, -1] + rm)
    torch.testing.assert_close(arm_rewards("rto", logp, lref, ldpo, rm, **kw), a + dense)
    torch.testing.assert_close(arm_rewards("dpo_token", logp, lref, ldpo, None, **kw), kl + dense)
    d = arm_rewards("dpo_end", logp, lref, ldpo, None, **kw)
    torch.testing.assert_close(d[:, :-1], kl[:, :-1])
    torch.testing.assert_close(d.sum(1), (kl + dense).sum(1))                # same DPO signal, moved to the end
    with pytest.raises(ValueError):
        arm_rewards("nope", logp, lref, ldpo, rm, **kw)


def test_arm_f_true_rewards_dense_and_sparse_carry_the_same_normalised_sum():
    B, H = 3, 4
    g = torch.Generator().manual_seed(1)
    logp, lref = torch.randn(B, H, generator=g), torch.randn(B, H, generator=g)
    tok_r = torch.randint(-1, 2, (B, H), generator=g).float() / H                  # W / H
    tt = normalised_true_tokens(tok_r, mean=0.1, std=0.5)
    torch.testing.assert_close(tt.sum(1), (tok_r.sum(1) - 0.1) / 0.5)
    kw = dict(kl_coef=0.2, dpo_scale=0.3, dpo_clip=0.2)
    kl = -0.2 * (logp - lref)
    dense = arm_rewards("true_dense", logp, lref, None, None, true_tok=tt, **kw)
    sparse = arm_rewards("true_sparse", logp, lref, None, None, true_tok=tt, **kw)
    torch.testing.assert_close(dense, kl + tt)
    torch.testing.assert_close(sparse[:, :-1], kl[:, :-1])
    torch.testing.assert_close(sparse.sum(1), dense.sum(1))


def test_calibration_rule_sets_the_std_ratio_and_picks_the_smallest_clip_that_keeps_the_term():
    g = torch.Generator().manual_seed(0)
    rm = torch.randn(4000, generator=g) * 1.3
    lr = torch.randn(4000, 24, generator=g) * 0.5                                   # log pi_dpo / pi_ref per token
    out = choose(lr, rm)
    assert out["ratio_unclipped"] == pytest.approx(RATIO, rel=1e-6)
    assert out["beta1"] == pytest.approx(RATIO * float(rm.std()) / float(lr.sum(1).std()), rel=1e-6)
    c = out["clip"]
    assert c in CLIP_GRID and out["ratio"] >= CLIP_KEEP * RATIO - 1e-9
    smaller = [v for v in CLIP_GRID if v < c]                                       # each smaller clip rescales the term
    for v in smaller:
        s = float(dpo_token_reward(lr, torch.zeros_like(lr), out["beta1"], v).sum(1).std())
        assert s < CLIP_KEEP * RATIO * float(rm.std())
    heavy = choose(lr * torch.where(torch.rand(lr.shape, generator=g) < 0.02, 40.0, 0.1), rm)   # heavy tails
    assert heavy["clip"] == math.inf or heavy["clip_fraction"] > 0


def test_bt_table_recovers_a_table_reward_and_counts_bigrams():
    world = World(torch.from_numpy(make_W(5, 2, 1, 1, np.random.default_rng(0))), 5, 2, 2, 6)
    g = torch.Generator().manual_seed(0)
    n = 3000
    x = torch.randint(0, 5, (n, 2), generator=g)
    ya, yb = torch.randint(0, 5, (n, 6), generator=g), torch.randint(0, 5, (n, 6), generator=g)
    ra, rb = true_reward(world, x, ya), true_reward(world, x, yb)
    a_wins = ra >= rb                                                                # noiseless labels
    d = {"x": x, "yw": torch.where(a_wins[:, None], ya, yb), "yl": torch.where(a_wins[:, None], yb, ya),
         "rw": torch.maximum(ra, rb), "rl": torch.minimum(ra, rb)}
    tr, ho = {k: v[:2500] for k, v in d.items()}, {k: v[2500:] for k, v in d.items()}
    acc, l2 = bt_table_accuracy(world, tr, ho)
    assert acc > 0.9 and l2 in (1e-4, 1e-3, 1e-2)
    cnt = bigram_counts(world, x[:1], ya[:1])
    assert float(cnt.sum()) == 6 and float((cnt.view(-1) @ world.W.reshape(-1)) / 6) == pytest.approx(float(ra[0]))


def test_full_profile_grid_has_the_sheets_nine_points_per_arm_and_default_runs_none():
    from tasks.rto.grid import points
    from tasks.rto.params import PROFILES, GridParams

    full = points(GridParams(**PROFILES["full"]["grid"]))
    assert len([q for q in full if q["arm"] == "rto"]) == 9 and len([q for q in full if q["arm"] == "sentence"]) == 9
    assert {(q["beta1"], q["clip"]) for q in full if q["arm"] == "rto"} == {
        (b, c) for b in (0.05, 0.1, 0.3) for c in (0.05, 0.2, 0.0)}
    assert points(GridParams()) == []
