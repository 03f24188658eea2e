"""Gradient-quality probes (C4): cosine to the online-BP gradient and estimator variance of ZO and OPZO.

On a fixed training batch and a checkpoint of an OPZO run (weights + M), per hidden weight W_l:
- reference: the online spatial-BP gradient of the batch (OTTT_A accumulation over T), noise-free;
- OPZO as trained: M from the checkpoint, updated with lam during the batch, fresh noise per draw (K draws);
- ZO single-point: same weights, K fresh noise draws;
- "vs number of noise samples" N: ZO averages N single-point estimates; OPZO estimates M from N noisy passes of
  the batch alone (uniform average of z o~^T / alpha over samples and steps: a window of N passes) and applies it
  on the clean pass. Both spend N noisy forward passes of the batch.
Relative variance = E||g^ - E g^||^2 / ||g_BP||^2. The sheet writes ||E g^||^2 in the denominator; with K draws
that plug-in ratio cannot exceed about K when the variance dominates (ZO), so the BP norm (the same target for
both estimators) is used instead. BP's own variance across random mini-batches is reported for context.
"""
from __future__ import annotations

import torch

from .methods import BP, OPZO, ZO
from .snn import Net, Noise, Setup, State, forward_step, loss_and_error, online_batch


def expand(x: torch.Tensor, K: int) -> torch.Tensor:
    return x.unsqueeze(0).expand(K, *x.shape)


def hidden_grads(net: Net, method, x: torch.Tensor, y1h: torch.Tensor, su: Setup, K: int,
                 gen: torch.Generator | None) -> list[torch.Tensor]:
    """[(K, n_l * n_{l-1})]: the method's accumulated hidden-weight gradient for K independent noise draws."""
    grads, _ = online_batch(net, method, expand(x, K), expand(y1h, K), su, gen)
    return [grads[f"W{l}"].reshape(K, -1) for l in range(len(net.Ws))]


def estimate_jacobians(net: Net, su: Setup, x: torch.Tensor, K: int, noise: Noise,
                       gen: torch.Generator) -> list[torch.Tensor]:
    """[(K, n_l, m)]: per draw, mean over samples and steps of z_l o~^T / alpha (one noisy pass each)."""
    B = x.shape[0]
    st = State.zeros(net, K, B)
    J = [torch.zeros(K, n, net.m) for n in net.sizes[1:]]
    xs = expand(x, K)
    for t in range(su.T):
        step = forward_step(net, su.lif, st, xs if su.static else xs[:, :, t], noise, t, gen)
        for l, z in enumerate(step.z):
            J[l].baddbmm_(z.transpose(1, 2), step.o, alpha=1.0 / (B * su.T * noise.alpha))
    return J


def feedback_grads(net: Net, su: Setup, x: torch.Tensor, y1h: torch.Tensor, F: list[torch.Tensor]) -> list[torch.Tensor]:
    """[(K, n_l * n_{l-1})]: g_l = F_l e on the clean (noise-free) pass, one gradient per feedback matrix F_l[k]."""
    B, K = x.shape[0], F[0].shape[0]
    st = State.zeros(net, 1, B)
    grads = [torch.zeros(K, net.sizes[l + 1], net.sizes[l]) for l in range(len(net.Ws))]
    xs = x.unsqueeze(0)
    for t in range(su.T):
        step = forward_step(net, su.lif, st, xs if su.static else xs[:, :, t], None, t, None)
        _, e = loss_and_error(step.o, y1h.unsqueeze(0), su.lam_mse, su.T)
        psi = step.psi(su.lif)
        for l in range(len(net.Ws)):
            delta = (e[0] @ F[l].transpose(1, 2)) * psi[l][0]                       # (K, B, n_l)
            grads[l] += delta.transpose(1, 2) @ st.a[l][0] / B                       # (K, n_l, n_{l-1})
    return [g.reshape(K, -1) for g in grads]


def cosines(G: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return (G @ ref) / (G.norm(dim=1) * ref.norm()).clamp_min(1e-30)


def rel_var(G: torch.Tensor, ref: torch.Tensor) -> float:
    """Unbiased E||g - mean||^2 over the K rows, divided by ||ref||^2."""
    K = G.shape[0]
    return float(((G - G.mean(0)) ** 2).sum(1).sum() / max(K - 1, 1) / ref.pow(2).sum().clamp_min(1e-30))


def probe_checkpoint(net: Net, M: list[torch.Tensor], n_updates: int, lam: float, alpha: float, su: Setup,
                     x: torch.Tensor, y1h: torch.Tensor, K: int, gen: torch.Generator,
                     curve_ns: list[int] | None = None, bp_batches: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict:
    """Per layer: cosine (median over draws, and of the draws' mean) and relative variance of OPZO and ZO."""
    noise = Noise("gaussian", "post", alpha)
    g_bp = [g[0] for g in hidden_grads(net, BP(), x, y1h, su, 1, None)]
    opzo = OPZO(noise, lam)
    opzo.set_state([expand(m, K) for m in M], n_updates)
    g_op = hidden_grads(net, opzo, x, y1h, su, K, gen)
    g_zo = hidden_grads(net, ZO(noise), x, y1h, su, K, gen)
    out: dict = {"layers": []}
    for l, ref in enumerate(g_bp):
        row = {"bp_norm": float(ref.norm())}
        for name, G in (("opzo", g_op[l]), ("zo", g_zo[l])):
            c = cosines(G, ref)
            row.update({f"cos_{name}_median": float(c.median()), f"cos_{name}_mean_draw": float(cosines(G.mean(0, keepdim=True), ref)[0]),
                        f"relvar_{name}": rel_var(G, ref), f"norm_ratio_{name}": float(G.norm(dim=1).mean() / ref.norm())})
        out["layers"].append(row)
    if bp_batches is not None:   # BP across K random mini-batches (data variance), for context
        xb, yb = bp_batches
        grads, _ = online_batch(net, BP(), xb, yb, su, None)
        for l, ref in enumerate(g_bp):
            out["layers"][l]["relvar_bp_batches"] = rel_var(grads[f"W{l}"].reshape(xb.shape[0], -1), ref)
    if curve_ns:
        J = estimate_jacobians(net, su, x, K, noise, gen)
        g_j = feedback_grads(net, su, x, y1h, J)
        Mhat = opzo_feedback(M, n_updates, lam)
        for l, ref in enumerate(g_bp):
            row = out["layers"][l]
            Jm = J[l].mean(0)
            row["M_relvar_single_pass"] = float(((J[l] - Jm) ** 2).sum((1, 2)).sum() / max(K - 1, 1) / Jm.pow(2).sum().clamp_min(1e-30))
            row["M_cos_pass_mean_vs_ckpt"] = float(torch.nn.functional.cosine_similarity(Jm.flatten(), Mhat[l].flatten(), dim=0))
            row["curve"] = {name: _curve(G[l] if isinstance(G, list) else G, ref, curve_ns)
                            for name, G in (("zo", g_zo), ("opzo_window", g_j))}
    return out


def opzo_feedback(M: list[torch.Tensor], n_updates: int, lam: float) -> list[torch.Tensor]:
    corr = 1.0 - lam ** n_updates if lam > 0 else 1.0
    return [m / corr for m in M]


def _curve(G: torch.Tensor, ref: torch.Tensor, ns: list[int]) -> dict[str, list[float]]:
    """Cosine (median over disjoint groups) and relative variance of the mean of N draws, for N in ns (<= K)."""
    K = G.shape[0]
    var1 = rel_var(G, ref)
    out = {"n": [], "cos_median": [], "relvar": []}
    for n in ns:
        if n > K:
            continue
        groups = K // n
        means = G[: groups * n].reshape(groups, n, -1).mean(1)
        out["n"].append(n)
        out["cos_median"].append(float(cosines(means, ref).median()))
        out["relvar"].append(var1 / n)
    return out
