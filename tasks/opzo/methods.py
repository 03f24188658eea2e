"""The hidden-layer learning signals g_l = dL/ds_l (estimates), the only thing that differs between arms.

- BP (online spatial BP, OTTT): g_L = W_o^T e, g_l = W_(l+1)^T (g_(l+1) * psi(u_(l+1))) within the time step.
- DFA: g_l = B_l e with fixed B_l ~ N(0, 1/m).
- ZO (single-point, black box L o f): g_l = z_l L(o~) / alpha, from the same noisy single pass (optionally with
  a running-mean loss baseline: an addition, not in the paper).
- Readout only (a reference, not in the paper): g_l = 0, so the hidden layers keep their initial weights and only
  the readout learns (exact local gradient). It measures what a frozen random spiking net gives for free, i.e. the
  cap on any hidden-layer method's gain over another that learns at least the readout (C2 headroom).
- OPZO: M_l <- lam M_l + (1 - lam) mean_b(z_l o~^T) / alpha (o~: the noisy output; "two_point" uses o~ - o from a
  second, clean pass), g_l = M_l e. M starts at 0; the estimate is bias-corrected by 1 / (1 - lam^n) (as Adam does;
  an addition) and the hidden weights wait `warmup_batches` batches while M fills (sheet, Arms).

An arm name (train items are `grid(arm=..., seed=...)`: io.item.arm, io.item.seed) maps to one of these with its
noise (ARMS).
Shapes: e (G, B, m), z_l (G, B, n_l), M_l (G, n_l, m); G stacks independent noise draws in the probes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .snn import Counter, LIF, Net, Noise, Step


@dataclass(frozen=True)
class Arm:
    kind: str                      # bp | dfa | zo | opzo | readout
    main: bool                     # a main arm: trained on every dataset, in the main figure (else an ablation)
    noise_kind: str = "gaussian"
    position: str = "post"
    momentum: bool = True          # OPZO: lam from `tune` (else lam = 0)
    baseline: bool = False         # ZO: running-mean loss baseline
    label: str = ""
    d2: bool = False               # an ablation also trained on D2 (paired with the main arms' seeds)

    @property
    def datasets(self) -> tuple[str, ...]:
        return ("d1", "d2") if self.main or self.d2 else ("d1",)


ARMS: dict[str, Arm] = {
    "bp": Arm("bp", True, label="online spatial BP"),
    "dfa": Arm("dfa", True, label="DFA"),
    "zo": Arm("zo", True, label="ZO single-point"),
    "opzo": Arm("opzo", True, label="OPZO"),
    "opzo_nomom": Arm("opzo", False, momentum=False, label="OPZO lam=0", d2=True),
    "readout": Arm("readout", False, label="readout only (hidden frozen; reference)", d2=True),
    "opzo_rad": Arm("opzo", False, noise_kind="rademacher", label="OPZO rademacher/post"),
    "opzo_sph": Arm("opzo", False, noise_kind="sphere", label="OPZO sphere/post"),
    "opzo_pre": Arm("opzo", False, position="pre", label="OPZO gaussian/pre"),
    "opzo_radpre": Arm("opzo", False, noise_kind="rademacher", position="pre", label="OPZO rademacher/pre"),
    "opzo_sphpre": Arm("opzo", False, noise_kind="sphere", position="pre", label="OPZO sphere/pre"),
    "zo_base": Arm("zo", False, baseline=True, label="ZO + running-mean baseline (addition)"),
}
MAIN_ARMS = tuple(a for a, v in ARMS.items() if v.main)
NOISE_VARIANTS = ("opzo", "opzo_rad", "opzo_sph", "opzo_pre", "opzo_radpre", "opzo_sphpre")   # C6 (seed 0)


class Method:
    noise: Noise | None = None
    needs_clean = False
    warmup_batches = 0

    def begin_batch(self, net: Net, G: int) -> None:
        pass

    def signal(self, net: Net, lif: LIF, step: Step, e: torch.Tensor, loss: torch.Tensor,
               o_clean: torch.Tensor | None, counter: Counter | None) -> list[torch.Tensor]:
        raise NotImplementedError


class BP(Method):
    """Online spatial backprop within each time step (autograd-free; tests compare it with autograd)."""

    def signal(self, net, lif, step, e, loss, o_clean, counter):
        gs: list[torch.Tensor] = [None] * len(net.Ws)   # type: ignore[list-item]
        g = e @ net.Wo                                                       # (G, B, n_L)
        macs, passes = net.m * net.Wo.shape[1], 1
        psi = step.psi(lif)
        for l in range(len(net.Ws) - 1, -1, -1):
            gs[l] = g
            if l > 0:
                g = (g * psi[l]) @ net.Ws[l]                                  # (G, B, n_{l-1})
                macs += net.Ws[l].numel()
                passes += 1
        if counter is not None:
            counter.feedback_macs += float(e.shape[0] * e.shape[1] * macs)
            counter.layer_backward += passes
        return gs


class Readout(Method):
    """g_l = 0 for every hidden layer: zero hidden gradients, so Adam leaves the hidden weights at their init."""

    def signal(self, net, lif, step, e, loss, o_clean, counter):
        return [torch.zeros(*e.shape[:2], n) for n in net.sizes[1:]]          # (G, B, n_l)


class FixedFeedback(Method):
    """g_l = F_l e with given matrices F_l (G, n_l, m): DFA (random, fixed) or a frozen OPZO estimate."""

    def __init__(self, F: list[torch.Tensor]):
        self.F = F

    def signal(self, net, lif, step, e, loss, o_clean, counter):
        if counter is not None:
            counter.feedback_macs += float(e.shape[0] * e.shape[1] * sum(f.shape[1] * f.shape[2] for f in self.F))
        return [e @ F.transpose(1, 2) for F in self.F]                        # (G, B, n_l)


def dfa(net: Net, gen: torch.Generator) -> FixedFeedback:
    m = net.m
    return FixedFeedback([torch.randn(1, n, m, generator=gen) / math.sqrt(m) for n in net.sizes[1:]])


class ZO(Method):
    """Single-point zeroth order: g_l = z_l (L(o~) - b) / alpha; b = 0, or a running mean of the loss."""

    def __init__(self, noise: Noise, baseline_decay: float | None = None):
        self.noise, self.decay, self.b = noise, baseline_decay, 0.0

    def signal(self, net, lif, step, e, loss, o_clean, counter):
        adv = loss - self.b if self.decay is not None else loss                  # (G, B)
        if self.decay is not None:
            self.b = self.decay * self.b + (1 - self.decay) * float(loss.mean())
        if counter is not None:
            counter.feedback_macs += float(loss.numel() * sum(net.sizes[1:]))
        return [z * adv.unsqueeze(-1) / self.noise.alpha for z in step.z]


class OPZO(Method):
    """Momentum feedback matrices M_l ~ E[J_l^T] from the single noisy pass; g_l = M_l e (three-factor update)."""

    def __init__(self, noise: Noise, lam: float, warmup_batches: int = 0, two_point: bool = False):
        self.noise, self.lam, self.warmup_batches, self.needs_clean = noise, lam, warmup_batches, two_point
        self.M: list[torch.Tensor] | None = None
        self.n_updates = 0

    def begin_batch(self, net, G):
        if self.M is None or self.M[0].shape[0] != G:
            self.M = [torch.zeros(G, n, net.m) for n in net.sizes[1:]]
            self.n_updates = 0

    def set_state(self, M: list[torch.Tensor], n_updates: int) -> None:
        self.M, self.n_updates = [m.clone() for m in M], n_updates

    def feedback(self) -> list[torch.Tensor]:
        """The bias-corrected M_l used in g_l = M_l e."""
        corr = 1.0 - self.lam ** self.n_updates if self.lam > 0 else 1.0
        return [M / corr for M in self.M]

    def signal(self, net, lif, step, e, loss, o_clean, counter):
        o = step.o - o_clean if self.needs_clean else step.o                  # (G, B, m)
        B = o.shape[1]
        for l, z in enumerate(step.z):
            self.M[l].mul_(self.lam).baddbmm_(z.transpose(1, 2), o, alpha=(1 - self.lam) / (B * self.noise.alpha))
        self.n_updates += 1
        if counter is not None:   # M update (outer products) + g = M e, per sample
            counter.feedback_macs += float(2 * e.shape[0] * B * sum(n * net.m for n in net.sizes[1:]))
        return [e @ M.transpose(1, 2) for M in self.feedback()]              # (G, B, n_l)


def make_method(arm: str, net: Net, *, lam: float, alpha: float, warmup: int, gen: torch.Generator,
                baseline_decay: float = 0.99) -> Method:
    a = ARMS[arm]
    noise = Noise(a.noise_kind, a.position, alpha)
    if a.kind == "bp":
        return BP()
    if a.kind == "dfa":
        return dfa(net, gen)
    if a.kind == "readout":
        return Readout()
    if a.kind == "zo":
        return ZO(noise, baseline_decay if a.baseline else None)
    return OPZO(noise, lam if a.momentum else 0.0, warmup)


def feedback_macs_analytic(sizes: list[int], m: int) -> dict[str, int]:
    """Per sample-step feedback MACs (sheet, Measurements): BP sum_l n_(l+1) n_l (hidden part, with the readout
    as n_(L+1) = m); OPZO sum_l n_l m for g = M e (+ the same again for the M update); DFA sum_l n_l m; ZO sum_l n_l."""
    hid = sizes[1:]
    bp = m * hid[-1] + sum(hid[l] * hid[l - 1] for l in range(1, len(hid)))
    nm = sum(n * m for n in hid)
    return {"bp": bp, "dfa": nm, "opzo": 2 * nm, "opzo_g_only": nm, "zo": sum(hid),
            "memory_bp": sum(hid[l] * hid[l - 1] for l in range(1, len(hid))) + m * hid[-1], "memory_opzo": nm}
