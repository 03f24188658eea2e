"""Synaptic delays with the trace gradient (sheet, Method: "Delay backward"); re-implemented, not copied.

Forward at step t: the message to node v on channel k is the sum over incoming edges (u, r, v) of the source spike
s_u,k[t - 1 - round(d_{r,k})] (a delay of 0 = the previous-step spike); delays reaching before t = 0 are masked.
Backward: the gradient w.r.t. the spikes is scattered back to the delayed index; the gradient w.r.t. the delay is
grad_out x trace, trace = -(s * kappa')(t - 1 - d), the spike train convolved with the time derivative of the
alpha PSP kernel kappa(t) = (t / tau) e^{1 - t / tau} (peak 1 at t = tau): the exact derivative of the
PSP-filtered delayed train w.r.t. a continuous delay. No gradient flows through the trace itself.
"""
from __future__ import annotations

import math

import torch


def kappa(t, tau: float):
    """Alpha PSP kernel (0 for t < 0)."""
    t = torch.as_tensor(t, dtype=torch.float64)
    return torch.where(t >= 0, t / tau * torch.exp(1 - t / tau), torch.zeros_like(t))


def kappa_prime(t, tau: float):
    """Its time derivative (right derivative at 0; 0 for t < 0)."""
    t = torch.as_tensor(t, dtype=torch.float64)
    return torch.where(t >= 0, torch.exp(1 - t / tau) / tau * (1 - t / tau), torch.zeros_like(t))


def psp_trace_step(s: torch.Tensor, filt: tuple[torch.Tensor, torch.Tensor], tau: float):
    """One step of trace[t] = -sum_j s[t - j] kappa'(j), via A = sum_j a^j s[t-j], Bf = sum_j j a^j s[t-j]."""
    a = math.exp(-1.0 / tau)
    A_prev, B_prev = filt
    Bf = a * (B_prev + A_prev)
    A = a * A_prev + s
    return -(math.e / tau) * (A - Bf / tau), (A, Bf)


class DelayPlan:
    """Per-forward constants: flat offsets of every (b, e, k) into a spike stack padded with beta zero steps in
    front, so that a delay reaching before t = 0 reads a zero (masked) and the gather needs no mask."""

    def __init__(self, d: torch.Tensor, g, beta: int):
        B, _, D = d.shape
        self.B, self.R, self.D, self.n, self.beta = B, d.shape[1], D, g.n, beta
        self.stride = B * g.n * D                                    # one time step in the flat stack
        j = torch.round(d.detach()).long()[:, g.rel]                  # (B, E, D) integer delays per edge
        base = (torch.arange(B)[:, None, None] * g.n + g.src[None, :, None]) * D + torch.arange(D)[None, None, :]
        self.const = base - j * self.stride                           # + (t - 1 + beta) * stride at step t
        self.rel, self.dst = g.rel, g.dst
        self.pad = torch.zeros(B, g.n, D)


class _Delayed(torch.autograd.Function):
    """One flat gather: S[t - 1 - j, b, src_e, k] for every (b, e, k), from the padded stack."""

    @staticmethod
    def forward(ctx, d, plan, trace_stack, *spikes):
        t = len(spikes)                                              # the step being computed
        S = torch.stack([plan.pad] * plan.beta + list(spikes))       # (beta + t, B, V, D)
        flat = plan.const + (t - 1 + plan.beta) * plan.stride          # (B, E, D)
        x = S.view(-1).take(flat)
        tr = trace_stack[:plan.beta + t].reshape(-1).take(flat)
        out = torch.zeros(plan.B, plan.n, plan.D, dtype=d.dtype).index_add_(1, plan.dst, x)
        ctx.save_for_backward(flat, tr)
        ctx.plan, ctx.shape = plan, S.shape
        return out

    @staticmethod
    def backward(ctx, g):
        flat, tr = ctx.saved_tensors
        plan = ctx.plan
        ge = g[:, plan.dst]                                           # (B, E, D)
        grad_d = torch.zeros(plan.B, plan.R, plan.D, dtype=g.dtype).index_add_(1, plan.rel, ge * tr)
        gS = torch.zeros(ctx.shape, dtype=g.dtype).view(-1).index_add_(0, flat.view(-1), ge.reshape(-1))
        return (grad_d, None, None, *gS.view(ctx.shape)[plan.beta:].unbind(0))


def delayed_messages(d: torch.Tensor, plan: DelayPlan, spikes: list[torch.Tensor], trace_stack: torch.Tensor):
    """(B, V, D) delayed spike counts delivered at step len(spikes); d (B, R, D) real delays in [0, beta];
    trace_stack (beta + T, B, V, D) holds beta zero steps, then the traces of the steps so far (no gradient)."""
    return _Delayed.apply(d, plan, trace_stack, *spikes)
