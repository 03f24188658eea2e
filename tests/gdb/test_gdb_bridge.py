"""Bridge mathematics against closed forms: training marginals, the sampler's marginals with an oracle endpoint
(mean (1 - s) R_0 + s R_T, variance sigma_b^2 s (1 - s) (1 - 1/n) per coordinate in the CoM-free subspace), the
oracle sampler ending exactly at R_T, zero-CoM noise, the trajectory chain hitting every frame."""
import numpy as np
import pytest
import torch

from tasks.gdb import bridge


def _pair(B=1, n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    R0 = bridge.com_free(torch.randn(B, n, 3, generator=g, dtype=torch.float64))
    RT = bridge.com_free(torch.randn(B, n, 3, generator=g, dtype=torch.float64))
    return R0, RT


def test_noise_is_com_free():
    eps = bridge.noise((50, 7, 3), torch.Generator().manual_seed(1))
    assert eps.mean(1).abs().max() < 1e-6


def test_training_marginal_matches_closed_form():
    n, M, sb, t = 6, 40000, 0.3, 0.3
    R0, RT = _pair()
    a, b = R0.expand(M, n, 3).float(), RT.expand(M, n, 3).float()
    eps = bridge.noise((M, n, 3), torch.Generator().manual_seed(2))
    x = bridge.bridge_marginal(a, b, torch.full((M,), t), torch.full((M,), sb), eps)
    assert torch.allclose(x.mean(0).double(), (1 - t) * R0[0] + t * RT[0], atol=0.01)
    var = x.var(0).mean().item()
    assert var == pytest.approx(sb ** 2 * t * (1 - t) * (1 - 1 / n), rel=0.03)


def test_sampler_marginals_with_oracle_endpoint_and_exact_landing():
    n, M, sb, steps = 5, 20000, 0.4, 10
    R0, RT = _pair(n=n, seed=3)
    seen = []

    def oracle(x, c, t):
        seen.append((float(t[0]), x.clone()))
        return RT.expand_as(x)

    out = bridge.sample(None, "gdb", R0.expand(M, n, 3).clone(), None, steps, sb, 1.0,
                        gen=torch.Generator().manual_seed(4), oracle=oracle)
    assert torch.equal(out, RT.expand(M, n, 3))                 # the deterministic last step lands on R_hat
    for s, x in seen[1:]:
        assert torch.allclose(x.mean(0), (1 - s) * R0[0] + s * RT[0], atol=0.02)
        assert x.var(0).mean().item() == pytest.approx(sb ** 2 * s * (1 - s) * (1 - 1 / n), rel=0.05)
        assert x.mean(1).abs().max() < 1e-9                      # stays in the zero-CoM subspace


def test_trajectory_chain_passes_through_every_frame():
    n, N = 4, 5
    g = torch.Generator().manual_seed(5)
    path = bridge.com_free(torch.randn(1, N + 1, n, 3, generator=g, dtype=torch.float64))
    starts = []

    def oracle(x, c, t):
        i = min(int(float(t[0]) * N + 1e-9), N - 1)
        starts.append((i, c.clone()))
        return path[:, i + 1]

    out = bridge.sample(None, "traj", path[:, 0], None, 10, 0.2, 1.0, n_seg=N, gen=g, oracle=oracle)
    assert torch.equal(out, path[:, N])
    for i, c in starts:                                           # each segment is conditioned on its start frame
        assert torch.allclose(c, path[:, i])


def test_training_batches_per_arm():
    B, n = 64, 6
    R0, RT = _pair(B, n)
    R0, RT = R0.float(), RT.float()
    frames = torch.stack([R0 + (k + 1) / 5 * (RT - R0) for k in range(4)], 1)
    g = torch.Generator().manual_seed(6)
    x, c, t, y = bridge.training_batch("direct", R0, RT, None, 0.1, 1.0, g)
    assert torch.equal(x, R0) and torch.equal(c, R0) and torch.all(t == 0) and torch.equal(y, RT)
    x, c, t, y = bridge.training_batch("gdb", R0, RT, None, 0.0, 1.0, g)
    assert torch.allclose(x, (1 - t)[:, None, None] * R0 + t[:, None, None] * RT, atol=1e-6) and torch.equal(c, R0)
    x, c, t, y = bridge.training_batch("traj", R0, RT, frames, 0.0, 1.0, g)
    assert torch.allclose(x, (1 - t)[:, None, None] * R0 + t[:, None, None] * RT, atol=1e-5)   # frames on the line
    assert torch.all((t >= 0) & (t < 1))
    x, c, t, y = bridge.training_batch("diffusion", R0, RT, None, 0.1, 1.0, g)
    assert torch.equal(c, R0) and torch.equal(y, RT) and x.mean(1).abs().max() < 1e-5
    assert bridge.n_noise("traj", 30, 5) == 25 and bridge.n_noise("diffusion", 30, 5) == 30


def test_unknown_arm_raises():
    R0, RT = _pair(2, 4)
    with pytest.raises(ValueError):
        bridge.training_batch("nope", R0, RT, None, 0.1, 1.0, torch.Generator())
    assert np.isfinite(bridge.T_MAX)
