"""Unit tests of RELAY's data, models and metrics (sheet, Tests): generator vs a direct evaluator, rounds and right
alignment, the x tier, length distribution, Stage-I masks, disjoint sets, causal mask, KV-cache greedy = full
recompute, left-padding invariance of the looped model, iteration count, Stage-II assembly, answer parsing, token
accuracy with missing / extra tokens, hit matrices, Wilson and the seeded bootstrap."""
import itertools

import numpy as np
import pytest
import torch
from scipy import stats as st

from tasks.common.stats import bootstrap_ci, wilson
from tasks.relay import data as D
from tasks.relay.decode import ar_chains, gt_chain, looped_chains, score
from tasks.relay.model import build_ar, build_looped
from tasks.relay.params import PrepareParams
from tasks.relay.prepare import build_sets

CFG = {"vocab": D.VOCAB, "d": 32, "layers": 2, "heads": 4, "d_ff": 64, "inject": True}


def test_chains_match_direct_evaluator_and_round_structure():
    rng = np.random.default_rng(0)
    for ops in ("+-", "+-*"):
        for k in (1, 2, 5, 9):
            for e in D.sample_problems(rng, k, 50, ops):
                nums, o = D.split_expr(e)
                st_ = D.states(nums, o)
                assert len(st_) == k + 1 and st_[-1][0][0] == D.direct_eval(nums, o)
                assert [len(s[1]) for s in st_] == list(range(k, -1, -1))        # s_t has k - t operators
                seq = D.ar_sequence(nums, o)
                assert len(seq) == D.ar_len(k) and seq.count(D.EQ) == k and seq[-1] == D.EOS
                assert D.parse_answer(seq, D.prompt_len(k)) == D.direct_eval(nums, o)


def test_example_from_the_sheet_and_times_precedence():
    three, five, two = 3, 5, 2
    assert D.ar_sequence([three, five, two], [D.PLUS, D.MINUS]) == [D.BOS, 3, D.PLUS, 5, D.MINUS, 2, D.EQ, 8, D.MINUS,
                                                                   2, D.EQ, 6, D.EOS]
    st_ = D.states([2, 3, 4], [D.PLUS, D.TIMES])                          # 2 + 3 * 4: the product first
    assert st_[1] == ([2, 1], [D.PLUS]) and st_[2][0] == [3]                # 12 = 1 mod 11; 2 + 1 = 3


def test_right_aligned_targets_keep_untouched_tokens_in_place():
    rng = np.random.default_rng(1)
    for e in D.sample_problems(rng, 6, 30):
        x, rounds, ans = D.looped_example(*D.split_expr(e))
        assert len(rounds) == 5 and all(len(r) == len(x) for r in rounds)
        for t, r in enumerate(rounds, 1):
            assert r[2 * t + 1:] == x[2 * t + 1:]                              # the tail never moves
            assert r[:2 * t] == [D.PAD] * (2 * t) and r[2 * t] != D.PAD
        _, left, _ = D.looped_example(*D.split_expr(e), align="left")
        for t, (r, l_) in enumerate(zip(rounds, left), 1):
            assert l_[:len(x) - 2 * t] == r[2 * t:] and l_[len(x) - 2 * t:] == [D.PAD] * (2 * t)   # shifted by 2t


def test_round_mask_is_content_plus_last_pad():
    t = np.array([[D.PAD, D.PAD, 7, D.PLUS, 3, D.EQ], [5, D.PLUS, 1, D.MINUS, 2, D.EQ]])
    assert D.round_mask(t).tolist() == [[False, True, True, True, True, True], [True] * 6]
    t = np.array([[7, D.PLUS, 3, D.EQ, D.PAD, D.PAD]])
    assert D.round_mask(t, "left").tolist() == [[True, True, True, True, True, False]]     # left: the first pad


def test_length_distribution_proportional_to_ops():
    c = D.length_counts(21_000, list(range(1, 7)))
    assert sum(c.values()) == 21_000
    p = PrepareParams(N=6, K=6, mod=11, n_train=6000, n_test=20, n_stage2=20, n_selfchain=20)
    train = build_sets(p, 0)["train"]
    ks = np.bincount([(len(e) - 1) // 2 for e in train], minlength=7)[2:]    # k = 1 is capped by its 242 problems
    expected = np.arange(2, 7) / np.arange(2, 7).sum() * ks.sum()
    assert st.chisquare(ks, expected).pvalue > 1e-3


def test_sets_pairwise_disjoint():
    p = PrepareParams(N=3, K=2, n_train=2000, n_test=50, n_stage2=100, n_selfchain=100, phases=2)
    sets = build_sets(p, 0)
    keys = {n: {D.key(e) for e in v} for n, v in sets.items()}
    assert all(len(keys[n]) == len(sets[n]) for n in sets)
    for a, b in itertools.combinations(keys, 2):
        assert not keys[a] & keys[b], (a, b)
    assert {(len(e) - 1) // 2 for e in sets["stage2"]} == {4, 5} and {(len(e) - 1) // 2 for e in sets["selfchain"]} == {4, 5}


def test_ar_causal_mask_and_kv_cache_greedy_equals_full_recompute():
    torch.manual_seed(0)
    m = build_ar(CFG).eval()
    x = torch.randint(0, 15, (3, 12))
    y = x.clone()
    y[:, 7:] = torch.randint(0, 15, (3, 5))
    with torch.no_grad():
        la, _ = m(x)
        lb, _ = m(y)
    assert torch.allclose(la[:, :7], lb[:, :7], atol=1e-5)                    # later tokens never change earlier logits
    exprs = [list(e) for e in D.sample_problems(np.random.default_rng(0), 4, 16)]
    assert ar_chains(m, exprs, 4, cache=True) == ar_chains(m, exprs, 4, cache=False)


@pytest.mark.parametrize("align", ["right", "left"])
def test_looped_left_padding_invariance_and_iterations(align):
    torch.manual_seed(0)
    m = build_looped({**CFG, "align": align}).eval()
    x = torch.as_tensor([[D.BOS] + list(e) + [D.EQ] for e in D.sample_problems(np.random.default_rng(0), 3, 5)])
    xp = torch.cat([torch.full((5, 4), D.PAD), x], 1)                          # x (5, 9), xp (5, 13)
    with torch.no_grad():
        cot, ans = m(x, 3)
        cotp, ansp = m(xp, 3)
    assert cot.shape == (5, 2, 9, D.VOCAB) and ans.shape == (5, D.P_MOD)     # T = #ops: k - 1 rounds + the answer
    assert torch.allclose(cot, cotp[:, :, 4:], atol=1e-5) and torch.allclose(ans, ansp, atol=1e-5)
    calls = []
    h = m.layers[0].register_forward_hook(lambda *a: calls.append(1))
    with torch.no_grad():
        m(x, 3)
    h.remove()
    assert len(calls) == 3


def test_stage2_assembly_from_ground_truth_rounds():
    rng = np.random.default_rng(2)
    for align in ("right", "left"):
        for k in (1, 3, 8):
            for e in D.sample_problems(rng, k, 10):
                x, rounds, ans = D.looped_example(*D.split_expr(e), align=align)
                assert D.assemble(x, rounds, ans, align) == D.ar_sequence(*D.split_expr(e))


def test_strip_round_reads_next_to_the_pads():
    assert D.strip_round([4, D.PLUS, 1, D.EQ, D.PAD, 3], "left") == [4, D.PLUS, 1, D.EQ]
    assert D.strip_round([3, D.PAD, 4, D.PLUS, 1, D.EQ]) == [4, D.PLUS, 1, D.EQ]
    assert D.strip_round([4, D.PLUS, 1, D.EQ]) == [4, D.PLUS, 1, D.EQ]


def test_answer_parsing_and_token_accuracy():
    pre = [D.BOS, 3, D.PLUS, 5, D.EQ]
    assert D.parse_answer(pre + [8, D.EOS], 5) == 8
    assert D.parse_answer(pre + [8], 5) is None                                # no <eos>: malformed
    assert D.parse_answer(pre + [8, D.PLUS, D.EOS], 5) is None
    assert D.parse_answer(pre + [D.EQ, 8, D.EOS, 1, 2], 5) == 8               # tokens after <eos> are ignored
    gt = [1, 2, 3, 4]
    assert D.token_accuracy([1, 2, 3, 4], gt) == 1.0
    assert D.token_accuracy([1, 2, 3], gt) == 0.75                             # missing token
    assert D.token_accuracy([1, 2, 3, 4, 5], gt) == 0.8                        # extra token
    assert D.token_accuracy([9, 1, 2, 3, 4], gt) == 0.0                        # shifted: position-wise
    e = [3, D.PLUS, 5]
    sc = score([[8, D.EOS], [7, D.EOS]], [e, e])
    assert sc["correct"].tolist() == [True, False] and sc["exact"].tolist() == [True, False]


def test_hit_matrix_counts_rounds_from_the_right():
    e = [1, D.PLUS, 2, D.PLUS, 3]                                              # 1+2+3 = 3+3 = 6
    gt = gt_chain(e)
    assert D.hit_matrix([gt], [gt], 2).sum() == sum(len(r) for r in D.split_rounds(gt))
    bad = [3, D.PLUS, 4, D.EQ, 6, D.EOS]
    H = D.hit_matrix([bad], [gt], 2)
    assert H[0, 0] == 1 and H[0, 1] == 0 and H[0, 2] == 1 and H[1].tolist()[:2] == [1, 1]


def test_looped_chains_shapes():
    torch.manual_seed(0)
    m = build_looped(CFG).eval()
    exprs = [list(e) for e in D.sample_problems(np.random.default_rng(0), 4, 7)]
    R, A, ch = looped_chains(m, exprs, 4, batch=3)
    assert R.shape == (7, 3, 10) and A.shape == (7,) and all(c[-1] == D.EOS for c in ch)


def test_wilson_and_seeded_bootstrap():
    p, lo, hi = wilson(8, 10)
    assert p == 0.8 and lo == pytest.approx(0.4902, abs=1e-3) and hi == pytest.approx(0.9433, abs=1e-3)
    x = np.random.default_rng(0).random(50)
    assert bootstrap_ci(np.mean, x, n_boot=200, seed=3) == bootstrap_ci(np.mean, x, n_boot=200, seed=3)


@pytest.mark.slow
def test_two_smoke_runs_give_identical_metrics(tmp_path):
    from tasks.common.testing import make_root, run_paper

    runs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        runs.append(run_paper(make_root(tmp_path / name, ["relay"]), "relay"))
    assert runs[0] == runs[1]
