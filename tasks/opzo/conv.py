"""Conv-LIF network for C3 (the sheet's optional conv arm): conv3x3-C1 -> conv3x3-C2 -> avgpool 2x2 -> FC-10 on the
8x8 digits (D1), trained online (OTTT_A) with the same LIF, loss, Adam + cosine, warm-up and loop as the FC net
(snn.py); only the hidden-layer signal differs between arms (as in methods.py):

- BP (online spatial BP within each step): g_2 = pool^T(W_o^T e), g_1 = conv^T(g_2 * psi(u_2), W_2);
- DFA: g_l = B_l e, fixed B_l ~ N(0, 1/m), B_l of shape (C_l H W, m);
- ZO (single point): g_l = z_l L(o~) / alpha;
- OPZO: M_l <- lam M_l + (1 - lam) mean_b(z_l o~^T) / alpha, g_l = M_l e (M_l: (C_l H W, m), bias-corrected,
  hidden weights frozen for the warm-up batches while M fills).

Weight gradients are the conv analogue of delta_l a_(l-1)^T: the correlation of delta_l = g_l * psi(u_l) with the
presynaptic trace a_(l-1) (`torch.nn.grad.conv2d_weight`); the readout gets its exact local gradient. Noise z_l
(Gaussian, unit variance per unit) is added to the spike output of each conv layer ("post"), in the one noisy pass.
Nothing requires grad. Shapes: x (B, 1, 8, 8); s_l, u_l, a_l (B, C_l, 8, 8); pooled readout input (B, C_2 * 16).
Training uses G = 1 (no stacked probe draws for the conv arm).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.nn.grad import conv2d_input, conv2d_weight

from .snn import LIF, Setup, loss_and_error, sample_noise

SIDE = 8           # D1 digits are 8 x 8, one channel
POOL = 2
CONV_ARMS = ("bp", "dfa", "zo", "opzo")


@dataclass
class ConvNet:
    Ws: list[torch.Tensor]      # conv weights, W_l: (C_l, C_(l-1), 3, 3)
    Wo: torch.Tensor            # readout (m, C_L * (SIDE / POOL)^2)
    bo: torch.Tensor            # (m,)

    def params(self) -> dict[str, torch.Tensor]:
        return {**{f"W{l}": w for l, w in enumerate(self.Ws)}, "Wo": self.Wo, "bo": self.bo}

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.clone() for k, v in self.params().items()}

    @classmethod
    def from_state(cls, sd: dict[str, torch.Tensor]) -> "ConvNet":
        n = sum(k.startswith("W") and k[1:].isdigit() for k in sd)
        return cls([sd[f"W{l}"].clone() for l in range(n)], sd["Wo"].clone(), sd["bo"].clone())

    @property
    def channels(self) -> list[int]:
        return [w.shape[0] for w in self.Ws]

    @property
    def m(self) -> int:
        return self.Wo.shape[0]

    @property
    def units(self) -> list[int]:
        """C_l * H * W of each conv layer (the rows of M_l, B_l)."""
        return [c * SIDE * SIDE for c in self.channels]


def init_conv(channels: list[int], m: int, gain: float, gen: torch.Generator) -> ConvNet:
    cs = [1, *channels]
    Ws = [torch.randn(cs[l + 1], cs[l], 3, 3, generator=gen) * (gain / math.sqrt(9 * cs[l])) for l in range(len(channels))]
    n_out = channels[-1] * (SIDE // POOL) ** 2
    return ConvNet(Ws, torch.randn(m, n_out, generator=gen) / math.sqrt(n_out), torch.zeros(m))


@dataclass
class ConvStep:
    u: list[torch.Tensor]          # pre-reset membranes (B, C_l, H, W)
    inp: list[torch.Tensor]        # each conv layer's output as the next layer sees it (s + alpha z, or s)
    z: list[torch.Tensor | None]   # unscaled noise per layer, or None
    r: torch.Tensor                # pooled, flattened readout input (B, n_out)
    o: torch.Tensor                # (B, m)
    psi: list[torch.Tensor] | None = None   # surrogate derivatives psi(u_l), set once per step by conv_batch


class ConvState:
    def __init__(self, net: ConvNet, B: int):
        self.u = [torch.zeros(B, c, SIDE, SIDE) for c in net.channels]
        self.a = [torch.zeros(B, c, SIDE, SIDE) for c in (1, *net.channels[:-1])]   # inputs of W_0..W_(L-1)
        self.ar = torch.zeros(B, net.Wo.shape[1])                                   # readout input trace


def conv_step(net: ConvNet, lif: LIF, st: ConvState, x: torch.Tensor, alpha: float | None,
              gen: torch.Generator | None) -> ConvStep:
    """One synchronous time step; alpha None = noise-free. Updates `st` in place."""
    inp, us, ins, zs = x, [], [], []
    for l, W in enumerate(net.Ws):
        st.a[l].mul_(lif.decay).add_(inp)
        u = st.u[l] * lif.decay + F.conv2d(inp, W, padding=1)                  # (B, C_l, H, W)
        s = (u >= lif.v_th).to(u.dtype)
        st.u[l] = u - lif.v_th * s
        z = None
        if alpha is not None:
            z = sample_noise("gaussian", (u.shape[0], u[0].numel()), gen).view_as(u)
            inp = s + alpha * z
        else:
            inp = s
        us.append(u)
        ins.append(inp)
        zs.append(z)
    r = F.avg_pool2d(inp, POOL).flatten(1)                                      # (B, n_out)
    st.ar.mul_(lif.decay).add_(r)
    return ConvStep(us, ins, zs, r, r @ net.Wo.T + net.bo)


class ConvMethod:
    """The hidden-layer signal g_l = dL/d(inp_l) of one arm; `warmup_batches` is read by snn.fit."""

    noisy = False
    warmup_batches = 0

    def __init__(self, kind: str, net: ConvNet, *, lam: float, alpha: float, warmup: int, gen: torch.Generator):
        self.kind, self.lam, self.alpha = kind, lam, alpha
        self.noisy = kind in ("zo", "opzo")
        self.warmup_batches = warmup if kind == "opzo" else 0
        self.B = [torch.randn(n, net.m, generator=gen) / math.sqrt(net.m) for n in net.units] if kind == "dfa" else None
        self.M = [torch.zeros(n, net.m) for n in net.units] if kind == "opzo" else None
        self.n_updates = 0

    def signal(self, net: ConvNet, lif: LIF, step: ConvStep, e: torch.Tensor, loss: torch.Tensor) -> list[torch.Tensor]:
        Bn = e.shape[0]
        shapes = [u.shape for u in step.u]
        if self.kind == "bp":
            g = F.interpolate((e @ net.Wo).view(Bn, -1, SIDE // POOL, SIDE // POOL), scale_factor=POOL) / POOL ** 2
            gs = [g]
            for l in range(len(net.Ws) - 1, 0, -1):
                g = conv2d_input(shapes[l - 1], net.Ws[l], g * step.psi[l], padding=1)
                gs.insert(0, g)
            return gs
        if self.kind == "dfa":
            return [(e @ b.T).view(sh) for b, sh in zip(self.B, shapes)]
        if self.kind == "zo":
            return [z * (loss / self.alpha).view(-1, 1, 1, 1) for z in step.z]
        if self.kind == "opzo":
            for M, z in zip(self.M, step.z):
                M.mul_(self.lam).addmm_(z.flatten(1).T, step.o, alpha=(1 - self.lam) / (Bn * self.alpha))
            self.n_updates += 1
            corr = 1.0 - self.lam ** self.n_updates if self.lam > 0 else 1.0
            return [(e @ (M / corr).T).view(sh) for M, sh in zip(self.M, shapes)]
        if self.kind == "readout":
            return [torch.zeros(sh) for sh in shapes]
        raise ValueError(f"unknown conv arm {self.kind!r}")


def conv_batch(net: ConvNet, method: ConvMethod, x: torch.Tensor, y1h: torch.Tensor, su: Setup,
               gen: torch.Generator | None, counter=None) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """snn.online_batch for the conv net (G = 1): x (1, B, 64), y1h (1, B, m) -> ({name: (1, *shape)}, loss (1,))."""
    xb, yb = x[0].view(-1, 1, SIDE, SIDE), y1h[0]
    Bn = xb.shape[0]
    st = ConvState(net, Bn)
    grads = {k: torch.zeros_like(v) for k, v in net.params().items()}
    total = torch.zeros(())
    alpha = method.alpha if method.noisy else None
    for _ in range(su.T):
        step = conv_step(net, su.lif, st, xb, alpha, gen)
        loss, e = loss_and_error(step.o, yb, su.lam_mse, su.T)                 # (B,), (B, m)
        total += loss.mean()
        step.psi = [su.lif.surrogate(u) for u in step.u]
        gs = method.signal(net, su.lif, step, e, loss)
        for l, g in enumerate(gs):
            delta = g * step.psi[l]
            grads[f"W{l}"] += conv2d_weight(st.a[l], net.Ws[l].shape, delta, padding=1) / Bn
        grads["Wo"].addmm_(e.T, st.ar, alpha=1.0 / Bn)
        grads["bo"].add_(e.sum(0), alpha=1.0 / Bn)
        if counter is not None:
            counter.forward_calls += 1
    if counter is not None:
        counter.batches += 1
    return {k: v.unsqueeze(0) for k, v in grads.items()}, total.view(1)


@torch.no_grad()
def conv_predict(net: ConvNet, su: Setup, x: torch.Tensor, batch: int = 512) -> torch.Tensor:
    """Noise-free forward; class = argmax of the summed readout over T. x: (N, 64) -> (N,)."""
    out = []
    for i in range(0, len(x), batch):
        xb = x[i:i + batch].float().view(-1, 1, SIDE, SIDE)
        st = ConvState(net, xb.shape[0])
        acc = torch.zeros(xb.shape[0], net.m)
        for _ in range(su.T):
            acc += conv_step(net, su.lif, st, xb, None, None).o
        out.append(acc.argmax(-1))
    return torch.cat(out)
