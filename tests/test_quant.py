"""Unit tests of tasks/common/quant.py: float rounding emulation against torch's own casts, the straight-through
estimator, and per-channel integer post-training quantisation."""
import pytest
import torch
from torch import nn

from tasks.common.quant import (fake_quant, fake_quantize_weight, quantize_linear_weights, quantize_per_channel,
                                round_sig)


def _values(n=200_000, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, generator=g) * torch.exp(3 * torch.randn(n, generator=g))
    return torch.cat([x, -x[:1000], torch.tensor([0.0, -0.0, 1.0, 2.0 ** -20])])


@pytest.mark.parametrize("b, dtype, lo, hi", [
    (8, torch.bfloat16, 0.0, 3e38),              # bf16 has float32's exponent range: every finite value
    (11, torch.float16, 2.0 ** -14, 65504.0),    # fp16 normal range
    (4, torch.float8_e4m3fn, 2.0 ** -6, 448.0),  # e4m3fn normal range (no saturation above 448 here)
])
def test_round_sig_matches_torch_casts(b, dtype, lo, hi):
    x = _values()
    x = x[(x.abs() >= lo) & (x.abs() <= hi)]
    assert torch.equal(round_sig(x, b), x.to(dtype).float())


def test_round_sig_ties_to_even_and_identities():
    one = 1.0
    # halfway between 1 and 1 + 2^-3 (b = 4): ties go to the even significand (1.000)
    assert round_sig(torch.tensor([one + 2.0 ** -4]), 4).item() == 1.0
    # halfway between 1 + 2^-3 and 1 + 2^-2: goes up to the even one (1 + 2^-2)
    assert round_sig(torch.tensor([one + 3 * 2.0 ** -4]), 4).item() == 1.25
    assert round_sig(torch.tensor([-(one + 3 * 2.0 ** -4)]), 4).item() == -1.25
    assert round_sig(torch.tensor([1.96875]), 4).item() == 2.0            # carry into the exponent
    x = _values(10_000)
    assert torch.equal(round_sig(x, 24), x)                                   # fp32 is the identity
    for b in (3, 4, 8):
        y = round_sig(x, b)
        assert torch.equal(round_sig(y, b), y)                                # idempotent
        assert ((y - x).abs() <= x.abs() * 2.0 ** -b).all()                   # at most half an ulp, relative 2^-b
    inf = torch.tensor([float("inf"), -float("inf")])
    assert torch.equal(round_sig(inf, 4), inf)


def test_ste_forward_rounds_and_gradient_is_identity():
    x = torch.randn(64, 8, requires_grad=True)
    w = torch.randn(64, 8)
    y = fake_quant(x, 4)
    assert torch.equal(y.detach(), round_sig(x.detach(), 4))
    (y * w).sum().backward()
    assert torch.equal(x.grad, w)                                              # d y / d x = identity
    assert fake_quant(x, None) is x and fake_quant(x, 24) is x


def test_int8_round_trip_error_within_half_a_step():
    w = torch.randn(16, 40) * torch.rand(16, 1) * 3
    levels, scale = quantize_per_channel(w, 8)
    assert levels.abs().max() <= 127 and scale.shape == (16, 1)
    err = (fake_quantize_weight(w, 8) - w).abs()
    assert (err <= scale / 2 + 1e-7).all()
    assert torch.allclose(w.abs().amax(1, keepdim=True), (levels.abs().amax(1, keepdim=True) * scale))


def test_int4_levels_symmetric_and_model_copy():
    w = torch.randn(8, 12)
    levels, _ = quantize_per_channel(w, 4)
    assert levels.min() >= -7 and levels.max() <= 7 and (levels.abs() == 7).any(dim=1).all()
    model = nn.Sequential(nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    q = quantize_linear_weights(model, 4, skip=("2",))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())          # original untouched
    assert torch.equal(q[2].weight, model[2].weight)                                        # skipped module
    assert torch.equal(q[0].bias, model[0].bias)                                            # biases stay float
    lv, sc = quantize_per_channel(model[0].weight, 4)
    assert torch.allclose(q[0].weight, lv.float() * sc)
    assert len(torch.unique(q[0].weight[0])) <= 15
