"""Tests of the precision paper package (Feng et al., arXiv 2410.13857; the sheet's "Tests").

Exact mechanism (m_max, circuits), the data encoding and loss mask, the fake-quantised decoder, greedy decoding, the
verdict functions on synthetic tables (PASS / FAIL / INCONCLUSIVE paths) and one smoke run of the whole pipeline
through the real runner. Assertions are about behaviour, never that a claim PASSes at smoke scale.
"""
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np
import torch

from tasks.common.quant import round_sig
from tasks.precision import criteria as C
from tasks.precision import mechanism as M
from tasks.precision import report as R
from tasks.precision.data import EQ, PAD, PLUS, Spec, decode, encode, sample_ops, training_batch
from tasks.precision.evaluate import exact_match, greedy_decode
from tasks.precision.model import CoupledTransformer, FQAttention, FQLinear, coupled_ids, for_arm
from tasks.precision.params import TrainParams
from tasks.precision.train import _job, train_one

SPEC = Spec(4, (2, 3, 4, 5, 6, 8), 48)
SIZE = dict(d_model=16, layers=2, heads=2, d_ff=32, max_len=48)


# --- Stage A: exact mechanism -------------------------------------------------------------------------------------
def test_m_max_hand_worked_b3():
    # b = 3: 1/3 -> 0.3125; low-format sums 0.3125, 0.625, 0.9375 -> 1.0 (tie to even): counts 1, 2, 3 decode.
    # m = 5: 1/5 -> 0.1875; 3 * 0.1875 = 0.5625 -> 0.5 (tie to even); 0.5 * 5 = 2.5 -> 2 != 3. So m_max(3) = 4.
    assert M.round_sig_np(1 / 3, 3) == 0.3125 and M.round_sig_np(0.9375, 3) == 1.0
    assert M.round_sig_np(1 / 5, 3) == 0.1875 and M.round_sig_np(0.5625, 3) == 0.5
    assert M.m_max(3, "low", 256) == 4 and M.m_max(3, "fp32", 256) == 4


def test_m_max_monotone_in_b_and_fp32_exact_to_4096():
    fp32acc = [M.m_max(b, "fp32", 4096) for b in range(3, 14)]
    assert all(a < b for a, b in zip(fp32acc, fp32acc[1:]))
    low = [M.m_max(b, "low", 4096) for b in (3, 4, 6, 8, 11)]
    assert all(a < b for a, b in zip(low, low[1:]))
    # a finding, kept as a regression: low-format accumulation is not monotone at every single b (b=5 dips)
    assert M.m_max(5, "low", 4096) < M.m_max(4, "low", 4096)
    assert M.m_max(24, "low", 4096) == M.m_max(24, "fp32", 4096) == 4096


def test_emulation_agrees_with_torch_rounding_and_native_casts():
    x = np.random.default_rng(0).standard_normal(20000).astype(np.float32) * 7
    for b in range(3, 12):
        assert np.array_equal(M.round_sig_np(x.astype(np.float64), b), round_sig(torch.from_numpy(x), b).numpy())
    for name, b in M.NATIVE.items():
        for acc in M.VARIANTS:
            assert M.m_max(None, acc, 1024, M.native_rounder(name)) == M.m_max(b, acc, 1024)


def test_carry_lookahead_add_exact_every_format():
    rng = np.random.default_rng(1)
    for b in (3, 4, 5, 8, 11, 24):
        rnd = lambda x, b=b: M.round_sig_np(x, b)  # noqa: E731
        for n in (1, 2, 3, 7, 16, 33, 64):
            a, c = rng.integers(0, 2, size=(2, 64, n))
            s = M.cla_add(a, c, rnd)
            assert np.array_equal(s, M.ripple_add(a, c))
            ai, ci = [int("".join(map(str, r[::-1])), 2) for r in (a[0], c[0])]
            assert int("".join(map(str, s[0][::-1])), 2) == ai + ci


def test_counting_circuits_exact_below_m_max_and_value_check():
    rng = np.random.default_rng(2)
    for b in (3, 4, 6):
        mm = M.m_max(b, "fp32", 1024)
        grid = [2, mm, mm + 1, 4 * mm, 64 * mm]
        tabs = M.decode_tables(b, "fp32", grid)
        assert M.iteradd_circuit_acc(tabs[mm], mm, 8, 64, rng) == 1.0      # every count <= m_max decodes
        assert M.mul_circuit_acc(tabs[mm], mm, 16, rng) == 1.0
        assert M.iteradd_circuit_acc(tabs[64 * mm], 64 * mm, 8, 64, rng) < 1.0
    err = rng.integers(-2, 3, size=(300, 70)) * (rng.random((300, 70)) < 0.03)
    err[0] = 0
    err[0, :2] = [2, -1]                                                  # 2 - 2 = 0: cancels exactly
    ref = [sum(int(v) << t for t, v in enumerate(row)) == 0 for row in err]
    assert np.array_equal(M._value_is_zero(err), ref) and M._value_is_zero(err)[0]


# --- data ---------------------------------------------------------------------------------------------------------
def test_encoding_round_trip_lsb_first_and_lengths():
    assert SPEC.ans_bits == 7 and SPEC.seq_len(8) == 47 <= 48
    seq = encode(np.array([[3, 12]]), SPEC)[0]                                   # 3 = 1100 (LSB first), 12 = 0011
    assert seq.tolist() == [1, 1, 0, 0, PLUS, 0, 0, 1, 1, EQ, 1, 1, 1, 1, 0, 0, 0]
    rng = np.random.default_rng(3)
    for k in SPEC.ks:
        ops = sample_ops(rng, k, 50, 4)
        seqs = encode(ops, SPEC)
        assert seqs.shape[1] == SPEC.seq_len(k) <= 48
        for row, o in zip(seqs, ops):
            got_ops, ans = decode(row, SPEC)
            assert got_ops == o.tolist() and ans == o.sum() < 2 ** 7
    assert 8 * 15 < 2 ** SPEC.ans_bits


def test_loss_mask_covers_answer_digits_only():
    x, y, mask = training_batch(np.random.default_rng(4), SPEC, 128)
    assert x.shape == y.shape == mask.shape and torch.equal(x[:, 1:], y[:, :-1])
    assert (mask.sum(1) == SPEC.ans_bits).all()
    assert not (y[mask] >= PLUS).any()                                          # only digits, never '+', '=', pad
    for row in range(128):
        eq = int((y[row] == EQ).nonzero()[0, 0])
        assert mask[row].nonzero().flatten().tolist() == list(range(eq + 1, eq + 1 + SPEC.ans_bits))
        assert (y[row, eq + 1 + SPEC.ans_bits:] == PAD).all()


# --- model --------------------------------------------------------------------------------------------------------
def test_fake_quant_model_points_and_master_weights():
    torch.manual_seed(0)
    ref = for_arm("fp32", **SIZE)
    torch.manual_seed(0)
    fq = for_arm("fq4", **SIZE)
    assert ref.state_dict().keys() == fq.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(ref.state_dict().values(), fq.state_dict().values()))  # same init
    assert isinstance(fq.head, FQLinear) and isinstance(fq.blocks[0].attn, FQAttention)
    x = torch.from_numpy(encode(sample_ops(np.random.default_rng(5), 3, 8, 4), SPEC))[:, :-1]
    logits = fq(x)
    assert torch.equal(logits, round_sig(logits, 4)) and not torch.equal(logits, ref(x))
    opt = torch.optim.AdamW(fq.parameters(), lr=1e-2)
    logits.square().mean().backward()
    opt.step()
    assert all(p.dtype == torch.float32 for p in fq.parameters())
    assert any(not torch.equal(p, round_sig(p, 4)) for p in fq.parameters())   # masters are not on the 4-bit grid
    assert all(p.dtype == torch.bfloat16 for p in for_arm("bf16_pure", **SIZE).parameters())


def test_coupled_ids_share_column_between_operands_and_the_predicting_token():
    spec = Spec(2, (2, 3), 20)
    seq = torch.from_numpy(encode(np.array([[1, 3, 2]]), spec))                # 10+11+01=0110
    ids = coupled_ids(seq)[0].tolist()
    assert ids == [2, 4, 0, 2, 4, 0, 2, 4, 3, 5, 7, 9, 11]
    # column j of every operand (id (j+1)*2) and the token predicting answer digit j ('=' or s_{j-1}: (j+1)*2 + 1)
    for j in range(2):
        assert [i for i, v in enumerate(ids) if v == (j + 1) * 2] == [j, 3 + j, 6 + j]
        assert ids[8 + j] == (j + 1) * 2 + 1
    x, _, _ = training_batch(np.random.default_rng(0), SPEC, 16)               # right padding: ids stay in range
    assert coupled_ids(x).max() < 2 * SPEC.max_len + 2


def test_coupled_model_all_arms_and_config_round_trip():
    from tasks.precision.model import from_config
    for arm in ("fp32", "fq4", "bf16_pure"):
        torch.manual_seed(0)
        m = for_arm(arm, **SIZE, coupled=True)
        assert isinstance(m, CoupledTransformer) and "coup.weight" in m.state_dict()
        x = torch.from_numpy(encode(sample_ops(np.random.default_rng(5), 3, 4, 4), SPEC))[:, :-1]
        again = from_config({"arm": arm, **SIZE, "coupled": True})
        again.load_state_dict(m.state_dict())
        assert torch.equal(m(x), again(x))
    fq = for_arm("fq4", **SIZE, coupled=True)
    logits = fq(x)
    assert torch.equal(logits, round_sig(logits, 4))                           # fake quant still applies


def test_greedy_decoding_equals_teacher_forced_exact_match():
    torch.manual_seed(1)
    model = for_arm("fq4", **SIZE)
    ops = sample_ops(np.random.default_rng(6), 4, 64, 4)
    greedy = greedy_decode(model, SPEC, ops)                                    # (64, 7)
    forced = np.concatenate([encode(ops, SPEC)[:, :-SPEC.ans_bits], greedy], axis=1)
    with torch.inference_mode():
        again = model(torch.from_numpy(forced)[:, :-1])[:, -SPEC.ans_bits:].argmax(-1).numpy()
    assert np.array_equal(again, greedy)                                        # self-consistent: causal, per row
    truth = np.stack([np.asarray(decode(r, SPEC)[1] >> np.arange(7) & 1) for r in encode(ops, SPEC)])
    assert np.array_equal(exact_match(model, SPEC, ops, 16), (greedy == truth).all(1))


def test_training_deterministic_in_and_across_processes():
    p = TrainParams(steps=3, warmup=1, batch=8, d_model=16, layers=1, heads=2, d_ff=32)
    a = train_one("fq4", p, SPEC, 7, 8)
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as ex:
        b = ex.submit(_job, ("fq4", p, SPEC, 7, 8, torch.get_num_threads())).result()
    assert np.array_equal(a["loss"], b["loss"])
    assert all(torch.equal(a["state"][k], b["state"][k]) for k in a["state"])


# --- verdicts on synthetic tables ---------------------------------------------------------------------------------
def test_p1_paths():
    ok, trained, under = (1990, 2000), C.fp32_gate({2: 0.99}), C.fp32_gate({2: 0.9})
    assert C.judge_p1(ok, (1985, 2000), trained).verdict == "PASS"
    assert C.judge_p1(ok, (1700, 2000), trained).verdict == "FAIL"
    assert C.judge_p1(ok, (600, 2000), trained).verdict == "INCONCLUSIVE"        # the k=2 control collapsed
    assert C.judge_p1(ok, (1985, 2000), under).verdict == "INCONCLUSIVE"         # gate failed


def _synthetic(gaps, seeds=2, items=400, seed=0):
    rng = np.random.default_rng(seed)
    ref = rng.random((seeds, len(gaps), items)) < 0.99
    low = ref & (rng.random(ref.shape) >= np.asarray(gaps)[None, :, None])
    return ref, low


def test_p2_and_gate_paths():
    ks = [2, 3, 4, 5, 6, 8]
    ref, low = _synthetic([0.0, 0.05, 0.1, 0.2, 0.3, 0.5])
    st = R.did_stats(ref, low, ks, 300, 0)
    assert st["rho"] > 0.9 and st["did"] > 0.3 and st["did_ci"][0] > 0
    trained, under = C.fp32_gate({2: 0.99}), C.fp32_gate({2: 0.9})
    assert C.judge_p2(st, trained, 0.99).verdict == "PASS"
    assert C.judge_p2(st, under, 0.99).verdict == "INCONCLUSIVE"
    assert C.judge_p2(st, trained, 0.2).verdict == "INCONCLUSIVE"
    flat = R.did_stats(*_synthetic([0.02] * 6, seed=1), ks, 300, 0)
    assert C.judge_p2(flat, trained, 0.97).verdict == "FAIL"
    assert C.fp32_gate({2: 0.99, 8: 0.96}).passed and not C.fp32_gate({2: 0.99, 8: 0.9}).passed
    assert C.judge_p3({2: 0.99, 8: 0.9}).verdict == "FAIL"


def test_p_mech_paths():
    bits = [3, 4, 6, 8, 11]
    mech = {"m_cap": 4096, "bits": bits, "add_max_n": 64, "add_bits": list(range(3, 12)) + [24],
            "m_max": {"low": {**{str(b): 2 ** (b // 2 + 1) for b in bits}, "24": 4096},
                      "fp32": {**{str(b): 2 ** (b - 1) for b in bits}, "24": 4096}}}
    metrics = {"slope_low": 0.5, "slope_fp32": 1.0, "add_cla_min_acc": 1.0}
    assert C.judge_mech(mech, metrics).verdict == "PASS"
    assert C.judge_mech(mech, {**metrics, "slope_fp32": 1.6}).verdict == "FAIL"
    assert C.judge_mech({**mech, "add_max_n": 16}, metrics).verdict == "INCONCLUSIVE"


def test_curriculum_admits_k_up_to_the_schedule_and_keeps_answer_width():
    from tasks.precision.train import curriculum_k
    p = TrainParams(steps=100, curriculum=0.5)
    assert [curriculum_k(p, SPEC, s) for s in (0, 25, 50, 99)] == [2, 5, 8, 8]
    assert curriculum_k(TrainParams(steps=100, curriculum=0.0), SPEC, 0) is None
    x, y, mask = training_batch(np.random.default_rng(0), SPEC, 64, k_max=3)
    assert x.shape[1] == SPEC.seq_len(3) - 1 and (mask.sum(1) == SPEC.ans_bits).all()
    a = training_batch(np.random.default_rng(1), SPEC, 16)                    # k_max=None: the committed stream
    b = training_batch(np.random.default_rng(1), SPEC, 16, k_max=None)
    assert all(torch.equal(u, v) for u, v in zip(a, b))


def test_k_weight_linear_draws_k_in_proportion_and_clip_reaches_the_schedule():
    import pytest
    from pydantic import ValidationError
    from tasks.precision.train import schedule
    spec = Spec(2, (2, 4, 8), 48)
    rng = np.random.default_rng(0)
    for weight, expect in (("uniform", [1 / 3] * 3), ("linear", [2 / 14, 4 / 14, 8 / 14])):
        x, y, mask = training_batch(rng, spec, 4000, k_weight=weight)
        k_row = ((x == PLUS) | (x == EQ)).sum(1).numpy()                      # one separator per operand
        freq = [float(np.mean(k_row == k)) for k in spec.ks]
        assert np.allclose(freq, expect, atol=0.03), (weight, freq)
    x, _, _ = training_batch(rng, spec, 256, k_max=4, k_weight="linear")      # the curriculum still caps k
    assert x.shape[1] <= spec.seq_len(4) - 1
    with pytest.raises(ValueError):
        training_batch(rng, spec, 4, k_weight="square")
    with pytest.raises(ValidationError):
        TrainParams(k_weight="square")
    assert schedule(TrainParams(grad_clip=0.5)).grad_clip == 0.5 and schedule(TrainParams(grad_clip=None)).grad_clip is None


def test_probe_validate_scores_exact_match_and_every_answer_digit():
    from tasks.precision.probe import VAL_ITEMS, VAL_SEED, validate
    spec = Spec(2, (2, 4), 48)
    model = for_arm("fp32", **SIZE, coupled=True)
    acc, digit_err = validate(model, spec)
    assert set(acc) == {2, 4} and all(0.0 <= a <= 1.0 for a in acc.values())
    assert all(len(d) == spec.ans_bits for d in digit_err.values())
    # exact match is at most the accuracy of every single digit
    assert all(acc[k] <= 1 - max(digit_err[k]) + 1e-9 for k in acc)
    val = sample_ops(np.random.default_rng(VAL_SEED + 4), 4, VAL_ITEMS, 2)
    assert val.shape == (VAL_ITEMS, 4)
