"""Geometric diffusion bridges (sheet "Method to implement"): the simulation-free training pairs of every arm and
the exact Brownian-bridge posterior sampler, endpoint-parameterised, in the zero-CoM subspace (T = 1).

Arms (same backbone, loss |R_hat - target|^2, same sampler step count):
  direct     one call at t = 0: R_hat = f(R_0; c = R_0)
  diffusion  bridge from CoM-free N(0, s0^2 I) noise to R_T, conditioned on c = R_0 (plain conditional diffusion)
  gdb        bridge R_0 -> R_T (Algorithm 1): R_t ~ N((1 - t) R_0 + t R_T, sigma_b^2 t (1 - t) I), c = R_0
  traj       chain of bridges over the FIRE frames R^0 = R_0, ..., R^N = R_T on t_i = i / N (Algorithm 2): segment i
             has c = R^i and target R^{i+1}; noise sigma_b^2 (s - t_i)(t_{i+1} - s) / (t_{i+1} - t_i), i.e. one
             Brownian motion pinned at the frames. Sampling feeds each segment's endpoint to the next.
Sampler step s -> s + D towards the segment end b: R <- R + D / (b - s) (R_hat - R) + sigma_b sqrt(D (b - s - D) /
(b - s)) eps, eps CoM-free; the last step of each segment is deterministic and lands on R_hat.
"""
from __future__ import annotations

import torch

ARMS = ("direct", "diffusion", "gdb", "traj")
T_MAX = 1 - 1e-3


def com_free(x: torch.Tensor) -> torch.Tensor:
    return x - x.mean(-2, keepdim=True)


def noise(shape, gen: torch.Generator | None = None, dtype=torch.float32) -> torch.Tensor:
    return com_free(torch.randn(shape, generator=gen, dtype=dtype))


def bridge_marginal(a: torch.Tensor, b: torch.Tensor, tau: torch.Tensor, scale: torch.Tensor,
                    eps: torch.Tensor) -> torch.Tensor:
    """Point on the Brownian bridge a -> b at local time tau in [0, 1] with std scale * sqrt(tau (1 - tau))."""
    std = (scale * torch.sqrt(tau * (1 - tau)))[:, None, None]
    tau = tau[:, None, None]
    return (1 - tau) * a + tau * b + std * eps


def training_batch(arm: str, R0, RT, frames, sigma_b: float, s0: float, gen: torch.Generator):
    """One simulation-free batch: returns (x, c, t, target). R0, RT (B, n, 3); frames (B, K, n, 3) for traj."""
    B = R0.shape[0]
    if arm == "direct":
        return R0, R0, torch.zeros(B), RT
    eps = noise(R0.shape, gen)
    if arm in ("gdb", "diffusion"):
        t = torch.rand(B, generator=gen) * T_MAX
        start = R0 if arm == "gdb" else s0 * noise(R0.shape, gen)
        return bridge_marginal(start, RT, t, torch.full((B,), sigma_b), eps), R0, t, RT
    if arm == "traj":
        path = torch.cat([R0[:, None], frames, RT[:, None]], 1)   # (B, N + 1, n, 3)
        N = path.shape[1] - 1
        seg = torch.randint(0, N, (B,), generator=gen)
        tau = torch.rand(B, generator=gen) * T_MAX
        ar = torch.arange(B)
        a, b = path[ar, seg], path[ar, seg + 1]
        x = bridge_marginal(a, b, tau, torch.full((B,), sigma_b / N ** 0.5), eps)
        return x, a, (seg + tau) / N, b
    raise ValueError(f"unknown arm {arm!r}")


def segments(arm: str, n_seg: int) -> list[tuple[float, float]]:
    if arm == "traj":
        return [(i / n_seg, (i + 1) / n_seg) for i in range(n_seg)]
    return [(0.0, 1.0)]


def n_noise(arm: str, steps: int, n_seg: int) -> int:
    """Noise tensors one sampler run draws (one start for diffusion, one per non-final step)."""
    if arm == "direct":
        return 0
    per = steps // n_seg if arm == "traj" else steps
    return (n_seg if arm == "traj" else 1) * (per - 1) + (1 if arm == "diffusion" else 0)


@torch.inference_mode()
def sample(model, arm: str, R0, Z, steps: int, sigma_b: float, s0: float, n_seg: int = 5,
           eps: torch.Tensor | None = None, gen: torch.Generator | None = None, oracle=None):
    """Run the arm's sampler from R0 (B, n, 3). eps: (n_noise, B, n, 3) CoM-free noise (drawn from gen if None) so
    tests can rotate / permute it with the input. oracle(x, c, t) replaces the model (tests). Total network calls:
    `steps` (traj: steps // n_seg per segment), 1 for direct."""
    f = oracle if oracle is not None else (lambda x, c, t: model(x, c, Z, t))
    B = R0.shape[0]
    if arm == "direct":
        return f(R0, R0, torch.zeros(B, dtype=R0.dtype))
    if eps is None:
        eps = noise((n_noise(arm, steps, n_seg),) + tuple(R0.shape), gen, R0.dtype)
    k = 0
    if arm == "diffusion":
        x, k = s0 * eps[0] + R0.mean(1, keepdim=True), 1
    else:
        x = R0
    segs = segments(arm, n_seg)
    per = steps // len(segs)
    c = R0
    for (ta, tb) in segs:
        grid = torch.linspace(ta, tb, per + 1, dtype=torch.float64)
        for j in range(per):
            s, s_next = float(grid[j]), float(grid[j + 1])
            r_hat = f(x, c, torch.full((B,), min(s, T_MAX), dtype=R0.dtype))
            if j == per - 1:
                x = r_hat                                          # deterministic last step lands on R_hat
            else:
                d, rem = s_next - s, tb - s
                x = x + (d / rem) * (r_hat - x) + sigma_b * (d * (rem - d) / rem) ** 0.5 * eps[k]
                k += 1
        c = x                                                      # the next segment starts from this endpoint
    return x
