"""Tests of the OPZO package (Xiao et al., arXiv 2407.12516; the sheet's "Tests").

LIF dynamics against a hand-computed trace; the single-point / momentum Jacobian estimator on a linear toy
problem; online BP against autograd; noise moments; the N-Digits generator; cost counters; and a smoke run of
the whole pipeline through the real runner. Asserts behaviour only, never that a claim passes.
"""
from __future__ import annotations


import numpy as np
import pytest
import torch

from tasks.opzo import TRAIN_ITEMS
from tasks.opzo.methods import ARMS, BP, OPZO, ZO, dfa, make_method
from tasks.opzo.prepare import events_from_frames, render_frames, saccade_offsets
from tasks.opzo.snn import (LIF, Counter, Net, Noise, Setup, State, Step, fit, forward_step, init_net, online_batch,
                            sample_noise)


def _net1(w: float) -> Net:
    return Net([torch.tensor([[w]])], torch.ones(1, 1), torch.zeros(1))


def test_lif_matches_hand_computed_trace():
    """tau = 2 (decay 0.5), V_th = 1, soft reset; input currents 0.6, 0.6, 0.6, 1.5, 0."""
    lif, net = LIF(2.0, 1.0, 4.0), _net1(1.0)
    st = State.zeros(net, 1, 1)
    us, ss, a0 = [], [], []
    for t, I in enumerate([0.6, 0.6, 0.6, 1.5, 0.0]):
        step = forward_step(net, lif, st, torch.tensor([[[I]]]), None, t, None)
        us.append(float(step.u[0]))
        ss.append(float(step.s[0]))
        a0.append(float(st.a[0]))
    # u: 0.6; 0.3+0.6; 0.45+0.6 -> spike, reset to 0.05; 0.025+1.5 -> spike, 0.525; 0.2625
    np.testing.assert_allclose(us, [0.6, 0.9, 1.05, 1.525, 0.2625], atol=1e-6)
    assert ss == [0, 0, 1, 1, 0]
    np.testing.assert_allclose(float(st.u[0]), 0.2625, atol=1e-6)          # no spike at the last step: no reset
    np.testing.assert_allclose(a0, [0.6, 0.9, 1.05, 2.025, 1.0125], atol=1e-6)   # presynaptic trace
    assert float(lif.surrogate(torch.tensor(1.0))) == pytest.approx(4.0 / 4)   # psi(V_th) = alpha_s / 4


@pytest.mark.parametrize("kind", ["gaussian", "rademacher", "sphere"])
def test_noise_has_identity_second_moment(kind):
    z = sample_noise(kind, (20000, 8), torch.Generator().manual_seed(0))
    cov = (z.T @ z / len(z)).numpy()
    np.testing.assert_allclose(cov, np.eye(8), atol=0.05)
    assert abs(float(z.mean())) < 0.02
    if kind == "sphere":
        np.testing.assert_allclose(z.norm(dim=1).numpy(), np.sqrt(8), rtol=1e-5)


def meth_net(n: int, m: int) -> Net:
    """A stand-in net with hidden width n and m outputs (only the sizes are read by the estimators)."""
    return Net([torch.zeros(n, 2)], torch.zeros(m, n), torch.zeros(m))


def _linear_step(A, c, h, alpha, gen):
    """A fake noisy step of o = A h + c with post-injected noise: o~ = A (h + alpha z) + c."""
    z = sample_noise("gaussian", tuple(h.shape), gen)
    o = (h + alpha * z) @ A.T + c
    return Step([h], [h], [z], o), (h @ A.T + c)


def test_single_point_estimate_is_unbiased_and_agrees_with_two_point():
    gen = torch.Generator().manual_seed(1)
    n, m, alpha = 6, 3, 0.1
    A, c = torch.randn(m, n, generator=gen), torch.randn(m, generator=gen)
    h = torch.randn(1, 4000, n, generator=gen)
    est = {}
    for two_point in (False, True):
        meth = OPZO(Noise("gaussian", "post", alpha), lam=0.0, two_point=two_point)
        meth.begin_batch(meth_net(n, m), 1)
        acc = torch.zeros(n, m)
        for _ in range(50):
            step, o_clean = _linear_step(A, c, h, alpha, gen)
            meth.signal(meth_net(n, m), LIF(), step, torch.zeros(1, 4000, m), None, o_clean, None)
            acc += meth.M[0][0] / 50
        est[two_point] = acc
    for two_point, M in est.items():
        rel = float((M - A.T).norm() / A.norm())
        assert rel < (0.02 if two_point else 0.2), (two_point, rel)    # E[z o~^T / alpha] = A^T
    assert float((est[False] - est[True]).norm() / A.norm()) < 0.2


def test_momentum_estimate_becomes_unbiased_as_the_window_grows():
    """On a linear f the momentum matrix M (bias-corrected) approaches A^T as lam -> 1 (window 1/(1 - lam))."""
    n, m, alpha, B = 16, 4, 0.1, 8
    errs = []
    for lam in (0.0, 0.9, 0.99, 0.999):
        gen = torch.Generator().manual_seed(2)
        A, c = torch.randn(m, n, generator=gen), torch.randn(m, generator=gen)
        meth = OPZO(Noise("gaussian", "post", alpha), lam=lam)
        meth.begin_batch(meth_net(n, m), 1)
        for _ in range(4000):
            step, _ = _linear_step(A, c, torch.rand(1, B, n, generator=gen), alpha, gen)
            meth.signal(meth_net(n, m), LIF(), step, torch.zeros(1, B, m), None, None, None)
        errs.append(float((meth.feedback()[0][0] - A.T).norm() / A.norm()))
    assert all(e1 > e2 for e1, e2 in zip(errs, errs[1:])), errs
    assert errs[0] > 1.0 and errs[-1] < 0.25 and errs[-1] / errs[0] < 0.06, errs   # ~ sqrt((1 - lam) / (1 + lam))


def _autograd_online(net: Net, lif: LIF, frames: torch.Tensor, y1h: torch.Tensor, lam_mse: float):
    """OTTT reference with autograd: the spatial graph within each step (surrogate psi for the spikes), membrane and
    reset detached across steps, weight gradients through the presynaptic traces (forward values unchanged).
    frames: (B, T, n_0)."""
    W = [w.clone().requires_grad_(True) for w in net.Ws]
    Wo, bo = net.Wo.clone().requires_grad_(True), net.bo.clone().requires_grad_(True)
    B, T = frames.shape[:2]
    u = [torch.zeros(B, w.shape[0]) for w in W]
    a = [torch.zeros(B, n) for n in net.sizes]
    total = 0.0
    for t in range(T):
        inp = frames[:, t]
        for l, w in enumerate(W):
            a[l] = lif.decay * a[l] + inp.detach()
            v = u[l] * lif.decay + inp @ w.detach().T + (a[l] @ w.T - (a[l] @ w.T).detach())
            sg = torch.sigmoid(lif.alpha_s * (v - lif.v_th))
            spike = (v >= lif.v_th).float()
            u[l] = (v - lif.v_th * spike).detach()
            inp = spike + sg - sg.detach()
        a[-1] = lif.decay * a[-1] + inp.detach()
        o = inp @ Wo.detach().T + (a[-1] @ Wo.T - (a[-1] @ Wo.T).detach()) + bo
        loss = ((1 - lam_mse) * -(y1h * torch.log_softmax(o, -1)).sum(-1) + lam_mse * ((o - y1h) ** 2).mean(-1)) / T
        total = total + loss.mean()
    total.backward()
    return {**{f"W{l}": w.grad for l, w in enumerate(W)}, "Wo": Wo.grad, "bo": bo.grad}


@pytest.mark.parametrize("static", [True, False])
def test_online_bp_matches_autograd(static):
    gen = torch.Generator().manual_seed(3)
    net = init_net(5, [7, 6], 3, 3.0, gen)
    lif, T, B = LIF(2.0, 1.0, 4.0), 4, 5
    x = torch.rand(B, 5, generator=gen) if static else (torch.rand(B, T, 5, generator=gen) < 0.5).float()
    y1h = torch.nn.functional.one_hot(torch.randint(0, 3, (B,), generator=gen), 3).float()
    grads, _ = online_batch(net, BP(), x[None], y1h[None], Setup(lif, T, static, 0.05), None)
    ref = _autograd_online(net, lif, x[:, None].expand(B, T, 5) if static else x, y1h, 0.05)
    for k, g in ref.items():
        assert g.abs().sum() > 0, k
        torch.testing.assert_close(grads[k][0], g, rtol=1e-4, atol=1e-6)


def test_opzo_step_is_one_forward_pass_without_autograd_and_readout_is_exact():
    gen = torch.Generator().manual_seed(4)
    net = init_net(8, [16, 16], 4, 2.0, gen)
    su = Setup(LIF(), 5, True, 0.05)
    x, y = torch.rand(64, 8, generator=gen), torch.randint(0, 4, (64,), generator=gen)
    for arm in ("opzo", "zo", "dfa", "bp"):
        meth = make_method(arm, net, lam=0.9, alpha=0.1, warmup=2, gen=torch.Generator().manual_seed(5))
        c = Counter()
        fit(Net.from_state(net.state_dict()), meth, x, y, su, epochs=1, batch=16, lr=1e-3,
            data_gen=torch.Generator().manual_seed(0), noise_gen=torch.Generator().manual_seed(1), counter=c, m=4)
        assert c.forward_calls == su.T * c.batches == 20
        assert not c.requires_grad_seen
        assert (c.layer_backward > 0) == (arm == "bp")
    # readout gradient of the noisy pass = e s~_L^T (T = 1: trace = input), the exact local gradient (autograd)
    meth = make_method("opzo", net, lam=0.9, alpha=0.1, warmup=0, gen=gen)
    xb, y1h = x[:8][None], torch.nn.functional.one_hot(y[:8], 4).float()[None]
    g1, _ = online_batch(net, meth, xb, y1h, Setup(LIF(), 1, True, 0.0), torch.Generator().manual_seed(9))
    step = forward_step(net, LIF(), State.zeros(net, 1, 8), xb, meth.noise, 0, torch.Generator().manual_seed(9))
    s_noisy = step.s[-1] + 0.1 * step.z[-1]
    Wo = net.Wo.clone().requires_grad_(True)
    (-(y1h * torch.log_softmax(s_noisy @ Wo.T + net.bo, -1)).sum(-1).mean()).backward()
    torch.testing.assert_close(g1["Wo"][0], Wo.grad, rtol=1e-4, atol=1e-6)


def test_dfa_feedback_is_fixed_and_shapes():
    gen = torch.Generator().manual_seed(6)
    net = init_net(8, [16, 12], 4, 2.0, gen)
    meth = dfa(net, gen)
    F0 = [f.clone() for f in meth.F]
    su = Setup(LIF(), 3, True, 0.05)
    x, y = torch.rand(32, 8, generator=gen), torch.randint(0, 4, (32,), generator=gen)
    fit(net, meth, x, y, su, epochs=2, batch=8, lr=1e-2, data_gen=gen, noise_gen=gen, counter=Counter(), m=4)
    assert all(torch.equal(a, b) for a, b in zip(F0, meth.F))
    assert [tuple(f.shape) for f in meth.F] == [(1, 16, 4), (1, 12, 4)]
    e = torch.randn(1, 5, 4)
    gs = meth.signal(net, su.lif, None, e, None, None, None)
    assert [tuple(g.shape) for g in gs] == [(1, 5, 16), (1, 5, 12)]


def test_readout_only_arm_keeps_hidden_weights_and_trains_the_readout():
    gen = torch.Generator().manual_seed(7)
    net = init_net(8, [16, 12], 4, 2.0, gen)
    W0, Wo0 = [w.clone() for w in net.Ws], net.Wo.clone()
    meth = make_method("readout", net, lam=0.9, alpha=0.1, warmup=0, gen=gen)
    x, y = torch.rand(32, 8, generator=gen), torch.randint(0, 4, (32,), generator=gen)
    c = Counter()
    fit(net, meth, x, y, Setup(LIF(), 3, True, 0.05), epochs=2, batch=8, lr=1e-2, data_gen=gen, noise_gen=gen,
        counter=c, m=4)
    assert all(torch.equal(a, b) for a, b in zip(W0, net.Ws)) and not torch.equal(Wo0, net.Wo)
    assert c.layer_backward == 0 and c.feedback_macs == 0
    assert ARMS["readout"].datasets == ("d1", "d2") == ARMS["opzo_nomom"].datasets and ARMS["opzo_rad"].datasets == ("d1",)


def test_zo_signal_and_item_parsing():
    z = torch.randn(1, 3, 4)
    step = Step([torch.zeros(1, 3, 4)], [torch.zeros(1, 3, 4)], [z], torch.zeros(1, 3, 2))
    loss = torch.tensor([[1.0, 2.0, 3.0]])
    g = ZO(Noise(alpha=0.5)).signal(meth_net(4, 2), LIF(), step, None, loss, None, None)[0]
    torch.testing.assert_close(g, z * loss[..., None] / 0.5)
    assert all(it.arm in ARMS and it == f"{it.arm}-s{it.seed}" for it in TRAIN_ITEMS)


def test_ndigits_generator_is_deterministic_with_one_percent_background():
    img = np.zeros((3, 64), dtype=np.float32)
    img[:, 18:22] = 16.0
    img[:, 26:30] = 16.0
    f1, f2 = render_frames(img, 12, 16, 12), render_frames(img, 12, 16, 12)
    assert f1.shape == (3, 13, 16, 16) and np.array_equal(f1, f2)
    ev1, sig = events_from_frames(f1, 0.3, 0.1, 0.01, np.random.default_rng(0))
    ev2, _ = events_from_frames(f1, 0.3, 0.1, 0.01, np.random.default_rng(0))
    assert np.array_equal(ev1, ev2) and ev1.shape == (3, 12, 2, 16, 16)
    assert 10 < sig.reshape(3, -1).sum(1).min() and sig.mean() < 0.3           # the moving edges fire
    still = np.repeat(f1[:, :1], 13, axis=1)                                   # no motion: background only
    bg, sig0 = events_from_frames(still, 0.3, 0.1, 0.01, np.random.default_rng(1))
    assert sig0.sum() == 0 and abs(bg.mean() - 0.01) < 0.003
    off = saccade_offsets(12, 2.0)
    assert np.allclose(off[0], off[-1]) and np.abs(off).max() <= 2.0            # closed path inside the margin
