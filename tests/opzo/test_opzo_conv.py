"""Tests of the conv-LIF arm of C3 (tasks/opzo/conv.py): online conv BP against autograd (OTTT reference), the
readout's exact local gradient, DFA/OPZO feedback shapes and state, one forward per time step, and a short training
run that changes the weights of every arm but the frozen ones. Behaviour only."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tasks.opzo.conv import CONV_ARMS, ConvMethod, ConvNet, conv_batch, conv_predict, init_conv
from tasks.opzo.snn import LIF, Counter, Setup, fit


def _autograd_conv(net: ConvNet, lif: LIF, x: torch.Tensor, y1h: torch.Tensor, T: int, lam_mse: float):
    """OTTT reference with autograd for the conv net: spatial graph within each step (surrogate psi), membrane and
    reset detached across steps, weight gradients through the presynaptic traces. x: (B, 1, 8, 8) static."""
    W = [w.clone().requires_grad_(True) for w in net.Ws]
    Wo, bo = net.Wo.clone().requires_grad_(True), net.bo.clone().requires_grad_(True)
    B = x.shape[0]
    u = [torch.zeros(B, w.shape[0], 8, 8) for w in W]
    a = [torch.zeros(B, c, 8, 8) for c in (1, *(w.shape[0] for w in W[:-1]))]
    ar = torch.zeros(B, Wo.shape[1])
    total = 0.0
    for _ in range(T):
        inp = x
        for l, w in enumerate(W):
            a[l] = lif.decay * a[l] + inp.detach()
            cw = F.conv2d(a[l], w, padding=1)
            v = u[l] * lif.decay + F.conv2d(inp, w.detach(), padding=1) + (cw - cw.detach())
            sg = torch.sigmoid(lif.alpha_s * (v - lif.v_th))
            spike = (v >= lif.v_th).float()
            u[l] = (v - lif.v_th * spike).detach()
            inp = spike + sg - sg.detach()
        r = F.avg_pool2d(inp, 2).flatten(1)
        ar = lif.decay * ar + r.detach()
        o = r @ Wo.detach().T + (ar @ Wo.T - (ar @ Wo.T).detach()) + bo
        loss = ((1 - lam_mse) * -(y1h * torch.log_softmax(o, -1)).sum(-1) + lam_mse * ((o - y1h) ** 2).mean(-1)) / T
        total = total + loss.mean()
    total.backward()
    return {**{f"W{l}": w.grad for l, w in enumerate(W)}, "Wo": Wo.grad, "bo": bo.grad}


def _data(gen, B=6):
    x = torch.rand(B, 64, generator=gen)
    return x, F.one_hot(torch.randint(0, 10, (B,), generator=gen), 10).float()


def test_conv_online_bp_matches_autograd():
    gen = torch.Generator().manual_seed(3)
    net = init_conv([3, 4], 10, 3.0, gen)
    lif, T = LIF(2.0, 1.0, 4.0), 4
    x, y1h = _data(gen)
    meth = ConvMethod("bp", net, lam=0.0, alpha=0.1, warmup=0, gen=gen)
    grads, _ = conv_batch(net, meth, x[None], y1h[None], Setup(lif, T, True, 0.05), None)
    ref = _autograd_conv(net, lif, x.view(-1, 1, 8, 8), y1h, T, 0.05)
    for k, g in ref.items():
        assert g.abs().sum() > 0, k
        torch.testing.assert_close(grads[k][0], g, rtol=1e-4, atol=1e-6)


def test_conv_noisy_arms_readout_exact_feedback_shapes_and_state():
    gen = torch.Generator().manual_seed(4)
    net = init_conv([3, 4], 10, 2.0, gen)
    su = Setup(LIF(), 3, True, 0.05)
    x, y1h = _data(gen)
    dfa = ConvMethod("dfa", net, lam=0.0, alpha=0.1, warmup=0, gen=gen)
    assert [tuple(b.shape) for b in dfa.B] == [(3 * 64, 10), (4 * 64, 10)]
    B0 = [b.clone() for b in dfa.B]
    conv_batch(net, dfa, x[None], y1h[None], su, gen)
    assert all(torch.equal(a, b) for a, b in zip(B0, dfa.B))                       # DFA: fixed feedback
    op = ConvMethod("opzo", net, lam=0.9, alpha=0.1, warmup=5, gen=gen)
    assert op.warmup_batches == 5 and all(float(M.abs().sum()) == 0 for M in op.M)
    c = Counter()
    g, _ = conv_batch(net, op, x[None], y1h[None], su, torch.Generator().manual_seed(1), c)
    assert op.n_updates == su.T and all(float(M.abs().sum()) > 0 for M in op.M)    # M filled once per step
    assert c.forward_calls == su.T and c.batches == 1
    assert not any(v.requires_grad for v in g.values())
    # T = 1: the readout gradient is e r~^T for the noisy pooled input r~ (the exact local gradient, autograd)
    op1 = ConvMethod("opzo", net, lam=0.9, alpha=0.1, warmup=0, gen=gen)
    g1, _ = conv_batch(net, op1, x[None], y1h[None], Setup(LIF(), 1, True, 0.0), torch.Generator().manual_seed(9))
    from tasks.opzo.conv import ConvState, conv_step
    step = conv_step(net, LIF(), ConvState(net, 6), x.view(-1, 1, 8, 8), 0.1, torch.Generator().manual_seed(9))
    Wo = net.Wo.clone().requires_grad_(True)
    (-(y1h * torch.log_softmax(step.r @ Wo.T + net.bo, -1)).sum(-1).mean()).backward()
    torch.testing.assert_close(g1["Wo"][0], Wo.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("arm", CONV_ARMS)
def test_conv_training_moves_the_weights_and_predicts(arm):
    gen = torch.Generator().manual_seed(5)
    net = init_conv([3, 4], 10, 2.0, gen)
    W0 = net.state_dict()
    x, y = torch.rand(48, 64, generator=gen), torch.randint(0, 10, (48,), generator=gen)
    meth = ConvMethod(arm, net, lam=0.9, alpha=0.1, warmup=1, gen=gen)
    c = Counter()
    fit(net, meth, x, y, Setup(LIF(), 2, True, 0.05), epochs=1, batch=16, lr=1e-2,
        data_gen=torch.Generator().manual_seed(0), noise_gen=torch.Generator().manual_seed(1), counter=c,
        batch_fn=conv_batch)
    assert c.forward_calls == 2 * 3
    assert all(not torch.equal(W0[k], v) for k, v in net.params().items())         # every weight learned
    pred = conv_predict(ConvNet.from_state(net.state_dict()), Setup(LIF(), 2, True, 0.05), x)
    assert pred.shape == (48,) and torch.equal(pred, conv_predict(net, Setup(LIF(), 2, True, 0.05), x))
