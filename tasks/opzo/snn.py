"""FC-LIF network and the online (OTTT_A) training loop, written once for every method (OPZO sheet, Protocol).

Neuron (OTTT): u[t] = (1 - 1/tau) u[t-1] + W s_in[t]; s[t] = H(u[t] - V_th); u <- u - V_th s (soft reset; no
autograd anywhere, so the reset and the membrane are "detached" by construction). Presynaptic traces
a[t] = (1 - 1/tau) a[t-1] + s_in[t] stand in for the spikes in every weight gradient: dW_l += delta_l[t] a_l[t]^T.
Loss per step: ((1 - lam) CE(o[t], y) + lam MSE(o[t], onehot)) / T, with the closed-form output error
e[t] = dL/do[t]. The readout (linear, with bias) always gets its exact local gradient e a_L^T; only the
hidden-layer signal g_l = dL/ds_l differs between methods (methods.py), and delta_l = g_l * psi(u_l).
OTTT_A: gradients are accumulated over the T steps of a batch, then one Adam step (the shared cosine schedule of
tasks/common/train.py; the loop itself stays here: it has no autograd, so the shared trainer does not apply).

Every tensor carries a leading group axis G (G = 1 in training; G = K stacked noise draws in the probes), so one
code path serves both: states are (G, B, n), weight gradients (G, n_out, n_in). Nothing here requires grad.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from tasks.common.train import Schedule


@dataclass(frozen=True)
class LIF:
    tau: float = 2.0
    v_th: float = 1.0
    alpha_s: float = 4.0

    @property
    def decay(self) -> float:
        return 1.0 - 1.0 / self.tau

    def surrogate(self, u: torch.Tensor) -> torch.Tensor:
        """psi(u) = alpha_s sigma(alpha_s (u - V_th)) (1 - sigma(...)); equals alpha_s / 4 at u = V_th."""
        sg = torch.sigmoid(self.alpha_s * (u - self.v_th))
        return self.alpha_s * sg * (1.0 - sg)


@dataclass
class Net:
    Ws: list[torch.Tensor]      # hidden weights, W_l: (n_l, n_{l-1})
    Wo: torch.Tensor            # readout (m, n_L)
    bo: torch.Tensor            # readout bias (m,)

    def params(self) -> dict[str, torch.Tensor]:
        return {**{f"W{l}": w for l, w in enumerate(self.Ws)}, "Wo": self.Wo, "bo": self.bo}

    @property
    def sizes(self) -> list[int]:
        return [self.Ws[0].shape[1], *(w.shape[0] for w in self.Ws)]

    @property
    def m(self) -> int:
        return self.Wo.shape[0]

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.clone() for k, v in self.params().items()}

    @classmethod
    def from_state(cls, sd: dict[str, torch.Tensor]) -> "Net":
        n = sum(k.startswith("W") and k[1:].isdigit() for k in sd)
        return cls([sd[f"W{l}"].clone() for l in range(n)], sd["Wo"].clone(), sd["bo"].clone())


def init_net(n_in: int, hidden: list[int], m: int, gain: float, gen: torch.Generator) -> Net:
    sizes = [n_in, *hidden]
    Ws = [torch.randn(sizes[l + 1], sizes[l], generator=gen) * (gain / math.sqrt(sizes[l])) for l in range(len(hidden))]
    Wo = torch.randn(m, sizes[-1], generator=gen) / math.sqrt(sizes[-1])
    return Net(Ws, Wo, torch.zeros(m))


@dataclass
class Counter:
    """Counted cost (C7): forward calls, synaptic ops, feedback MACs, backward passes through layers."""

    batches: int = 0
    sample_steps: int = 0          # sum over forward calls of G * B
    forward_calls: int = 0         # one per time step per batch (all layers, one pass)
    sops: float = 0.0              # sum over layers of nnz(input) * fan_out (spike-driven synaptic operations)
    dense_macs: float = 0.0        # the same with every input counted (a dense accelerator's cost)
    feedback_macs: float = 0.0     # MACs spent producing the hidden-layer signals g_l (and M updates)
    layer_backward: int = 0        # matrix products with a transposed forward weight (backprop through a layer)
    requires_grad_seen: bool = False

    def per_sample_step(self) -> dict[str, float]:
        n = max(self.sample_steps, 1)
        return {"sops": self.sops / n, "dense_macs": self.dense_macs / n, "feedback_macs": self.feedback_macs / n}


@dataclass
class Noise:
    """Noise injected in the single noisy forward: z ~ kind, scaled by alpha, into the spikes ("post") or the
    membrane ("pre"); `antithetic` uses z on even and -z on odd time steps (the sheet's "dual")."""

    kind: str = "gaussian"          # gaussian | rademacher | sphere
    position: str = "post"          # post | pre
    alpha: float = 0.1
    antithetic: bool = False


def sample_noise(kind: str, shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    """Unit second moment per coordinate, E[z z^T] = I, for every kind (sphere: radius sqrt(n))."""
    if kind == "gaussian":
        return torch.randn(shape, generator=gen)
    if kind == "rademacher":
        return torch.randint(0, 2, shape, generator=gen).float() * 2.0 - 1.0
    if kind == "sphere":
        z = torch.randn(shape, generator=gen)
        return z * (math.sqrt(shape[-1]) / z.norm(dim=-1, keepdim=True).clamp_min(1e-12))
    raise ValueError(f"unknown noise kind {kind!r}; use gaussian, rademacher or sphere")


@dataclass
class Step:
    u: list[torch.Tensor]                 # pre-reset membrane of each hidden layer, (G, B, n_l)
    s: list[torch.Tensor]                 # clean spikes, (G, B, n_l)
    z: list[torch.Tensor | None]          # the noise injected into each hidden layer (unscaled), or None
    o: torch.Tensor                       # readout output, (G, B, m)
    _psi: list[torch.Tensor] | None = None

    def psi(self, lif: LIF) -> list[torch.Tensor]:
        """Surrogate derivatives psi(u_l), computed once per step."""
        if self._psi is None:
            self._psi = [lif.surrogate(u) for u in self.u]
        return self._psi


@dataclass
class State:
    u: list[torch.Tensor]                 # membranes (G, B, n_l)
    a: list[torch.Tensor]                 # presynaptic traces of the inputs of W_0..W_{L-1} and of the readout
    z_prev: list[torch.Tensor] = field(default_factory=list)

    @classmethod
    def zeros(cls, net: Net, G: int, B: int) -> "State":
        sizes = net.sizes
        return cls([torch.zeros(G, B, n) for n in sizes[1:]], [torch.zeros(G, B, n) for n in sizes])


def _count_layer(counter: Counter | None, inp: torch.Tensor, n_out: int) -> None:
    if counter is not None:
        counter.sops += float(torch.count_nonzero(inp)) * n_out
        counter.dense_macs += float(inp.numel()) * n_out


def forward_step(net: Net, lif: LIF, st: State, x_t: torch.Tensor, noise: Noise | None, t: int,
                 gen: torch.Generator | None, counter: Counter | None = None) -> Step:
    """One synchronous time step through every layer (a perturbation at layer l, step t reaches o[t]).

    x_t: (G, B, n_0). Updates the membranes and traces in `st` in place; returns the step's signals.
    """
    inp, us, ss, zs = x_t, [], [], []
    for l, W in enumerate(net.Ws):
        st.a[l].mul_(lif.decay).add_(inp)
        _count_layer(counter, inp, W.shape[0])
        u = st.u[l] * lif.decay + inp @ W.T                          # (G, B, n_l)
        z = None
        if noise is not None:
            if noise.antithetic and t % 2 == 1:
                z = -st.z_prev[l]
            else:
                z = sample_noise(noise.kind, tuple(u.shape), gen)
        if z is not None and noise.position == "pre":
            u = u + noise.alpha * z
        s = (u >= lif.v_th).to(u.dtype)
        st.u[l] = u - lif.v_th * s                                   # soft reset
        us.append(u)
        ss.append(s)
        zs.append(z)
        inp = s + noise.alpha * z if (z is not None and noise.position == "post") else s
    if noise is not None and noise.antithetic:
        st.z_prev = zs
    st.a[-1].mul_(lif.decay).add_(inp)
    _count_layer(counter, inp, net.m)
    o = inp @ net.Wo.T + net.bo                                      # (G, B, m)
    if counter is not None:
        counter.forward_calls += 1
        counter.sample_steps += o.shape[0] * o.shape[1]
        counter.requires_grad_seen |= any(t_.requires_grad for t_ in (*us, *ss, o))
    return Step(us, ss, zs, o)


def loss_and_error(o: torch.Tensor, y1h: torch.Tensor, lam_mse: float, T: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample step loss (G, B) and its closed-form gradient e = dL/do (G, B, m)."""
    m = o.shape[-1]
    logp = torch.log_softmax(o, dim=-1)
    loss = ((1 - lam_mse) * -(y1h * logp).sum(-1) + lam_mse * ((o - y1h) ** 2).mean(-1)) / T
    e = ((1 - lam_mse) * (logp.exp() - y1h) + lam_mse * 2.0 * (o - y1h) / m) / T
    return loss, e


@dataclass
class Setup:
    lif: LIF
    T: int
    static: bool          # True: x is (N, n_0), repeated each step; False: x is (N, T, n_0) event frames
    lam_mse: float


def online_batch(net: Net, method, x: torch.Tensor, y1h: torch.Tensor, su: Setup, gen: torch.Generator | None,
                 counter: Counter | None = None) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Accumulated online gradients of one batch (OTTT_A) with `method`'s hidden-layer signal.

    x: (G, B, n_0) static or (G, B, T, n_0) frames; y1h: (G, B, m). Returns ({name: (G, *shape)}, loss (G,)).
    """
    G, B = y1h.shape[:2]
    st = State.zeros(net, G, B)
    clean = State.zeros(net, G, B) if getattr(method, "needs_clean", False) else None
    grads = {k: torch.zeros(G, *v.shape) for k, v in net.params().items()}
    total = torch.zeros(G)
    method.begin_batch(net, G)
    for t in range(su.T):
        x_t = x if su.static else x[:, :, t]
        step = forward_step(net, su.lif, st, x_t, method.noise, t, gen, counter)
        o_clean = forward_step(net, su.lif, clean, x_t, None, t, gen, counter).o if clean is not None else None
        loss, e = loss_and_error(step.o, y1h, su.lam_mse, su.T)
        total += loss.mean(1)
        gs = method.signal(net, su.lif, step, e, loss, o_clean, counter)          # [(G, B, n_l)]
        psi = step.psi(su.lif)
        for l, g in enumerate(gs):
            grads[f"W{l}"].baddbmm_((g * psi[l]).transpose(1, 2), st.a[l], alpha=1.0 / B)   # (G, n_l, n_{l-1})
        grads["Wo"].baddbmm_(e.transpose(1, 2), st.a[-1], alpha=1.0 / B)
        grads["bo"].add_(e.sum(1), alpha=1.0 / B)
    if counter is not None:
        counter.batches += 1
    return grads, total


@torch.no_grad()
def predict(net: Net, su: Setup, x: torch.Tensor, batch: int = 512) -> torch.Tensor:
    """Noise-free forward; class = argmax of the summed readout over T. x: (N, n_0) or (N, T, n_0) -> (N,)."""
    out = []
    for i in range(0, len(x), batch):
        xb = x[i:i + batch].unsqueeze(0).float()
        st = State.zeros(net, 1, xb.shape[1])
        acc = torch.zeros(1, xb.shape[1], net.m)
        for t in range(su.T):
            acc += forward_step(net, su.lif, st, xb if su.static else xb[:, :, t], None, t, None).o
        out.append(acc[0].argmax(-1))
    return torch.cat(out)


@torch.no_grad()
def firing_rates(net: Net, su: Setup, x: torch.Tensor) -> list[float]:
    xb = x.unsqueeze(0).float()
    st = State.zeros(net, 1, xb.shape[1])
    tot = [0.0] * len(net.Ws)
    for t in range(su.T):
        step = forward_step(net, su.lif, st, xb if su.static else xb[:, :, t], None, t, None)
        for l, s in enumerate(step.s):
            tot[l] += float(s.mean()) / su.T
    return tot


class Adam:
    """Plain Adam on a dict of tensors (no autograd); lr set per step by the caller (cosine schedule)."""

    def __init__(self, params: dict[str, torch.Tensor], b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8):
        self.b1, self.b2, self.eps = b1, b2, eps
        self.t = {k: 0 for k in params}        # per tensor, so weights frozen in a warm-up start their own count
        self.m = {k: torch.zeros_like(v) for k, v in params.items()}
        self.v = {k: torch.zeros_like(v) for k, v in params.items()}

    def step(self, params: dict[str, torch.Tensor], grads: dict[str, torch.Tensor], lr: float) -> None:
        for k, g in grads.items():
            self.t[k] += 1
            c1, c2 = 1 - self.b1 ** self.t[k], 1 - self.b2 ** self.t[k]
            self.m[k].mul_(self.b1).add_(g, alpha=1 - self.b1)
            self.v[k].mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
            params[k].sub_(lr * (self.m[k] / c1) / ((self.v[k] / c2).sqrt() + self.eps))


def fit(net: Net, method, x: torch.Tensor, y: torch.Tensor, su: Setup, *, epochs: int, batch: int, lr: float,
        data_gen: torch.Generator, noise_gen: torch.Generator, counter: Counter, on_epoch=None, m: int = 10,
        batch_fn=None) -> None:
    """Online training: shuffled mini-batches (order from data_gen, identical across methods), OTTT_A + Adam.

    Hidden weights are frozen during the method's warm-up batches (OPZO: M fills first). `on_epoch(epoch, loss)`
    is called after each epoch (1-based). `batch_fn` (default `online_batch`, the FC net) computes one batch's
    accumulated gradients; the conv net passes `conv.conv_batch`.
    """
    batch_fn = online_batch if batch_fn is None else batch_fn
    n = len(x)
    per_epoch = math.ceil(n / batch)
    total, it = epochs * per_epoch, 0
    opt, sched = Adam(net.params()), Schedule(total, lr)   # the suite's cosine schedule (no warm-up)
    warm = getattr(method, "warmup_batches", 0)
    for ep in range(1, epochs + 1):
        perm = torch.randperm(n, generator=data_gen)
        ep_loss = 0.0
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            xb, yb = x[idx].unsqueeze(0).float(), torch.nn.functional.one_hot(y[idx], m).float().unsqueeze(0)
            grads, loss = batch_fn(net, method, xb, yb, su, noise_gen, counter)
            grads = {k: v[0] for k, v in grads.items()}
            if it < warm:
                grads = {k: v for k, v in grads.items() if not k[1:].isdigit()}
            opt.step(net.params(), grads, sched.lr_at(it))
            ep_loss += float(loss[0]) * len(idx) / n
            it += 1
        if on_epoch is not None:
            on_epoch(ep, ep_loss)
