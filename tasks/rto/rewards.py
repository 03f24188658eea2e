"""Per-token rewards of the PPO arms (sheet, Arms; released code `_compute_dpo_rewards` and `compute_reward`) and
the exact measurements (true reward, KL to pi_ref summed over the vocabulary along sampled responses).

All arms share the per-token k1 KL penalty -beta2 (log pi - log pi_ref) and differ only in what is added:

| arm | added reward |
|---|---|
| sentence (A, PPO-sparse) | normalised RM score (clamped to +-10) on the last token |
| rto (B) | A + clip(beta1 (log pi_dpo - log pi_ref), -c, c) on every token |
| dpo_token (C) | the clipped DPO token reward only (beta3 = 0) |
| dpo_end (D) | the sum of the same clipped DPO token rewards, placed on the last token (no RM) |
| true_dense (F) | the true token reward W / H, normalised like the RM score (on pi_ref samples), on every token |
| true_sparse (F) | the same normalised true reward summed and placed on the last token |

Arm F is the validity arm (issue 13): PPO on the true reward itself, dense vs sparse; if dense does not beat sparse
on the axis a claim uses, the toy cannot show density there and that claim is INCONCLUSIVE.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .env import World, true_reward, with_bos
from .model import exact_kl, response_out, rm_score, sample


@dataclass(frozen=True)
class Arm:
    kind: str            # sentence | rto | dpo_token | dpo_end
    data: str            # preference data behind its RM / DPO model: full | quarter
    label: str

    @property
    def uses_rm(self) -> bool:
        return self.kind in ("sentence", "rto")

    @property
    def uses_dpo(self) -> bool:
        return self.kind in ("rto", "dpo_token", "dpo_end")

    @property
    def uses_true(self) -> bool:
        return self.kind in ("true_dense", "true_sparse")


ARMS = {
    "sentence": Arm("sentence", "full", "A: PPO-sparse (RM)"),
    "rto": Arm("rto", "full", "B: RTO (RM + DPO tokens)"),
    "dpo_token": Arm("dpo_token", "full", "C: DPO tokens only"),
    "dpo_end": Arm("dpo_end", "full", "D: DPO sum at the end"),
    "rto_quarter": Arm("rto", "quarter", "B, 1/4 pairs"),
    "sentence_quarter": Arm("sentence", "quarter", "A, 1/4 pairs"),
    "true_dense": Arm("true_dense", "full", "F: true reward, dense"),
    "true_sparse": Arm("true_sparse", "full", "F: true reward, sparse"),
}
KINDS = ("sentence", "rto", "dpo_token", "dpo_end", "true_dense", "true_sparse")


def dpo_token_reward(logp_dpo: torch.Tensor, logp_ref: torch.Tensor, scale: float, clip: float) -> torch.Tensor:
    """clip(beta1 * (log pi_dpo - log pi_ref), -c, c): scale first, then clip (the released code's order). (B, H)."""
    return (scale * (logp_dpo - logp_ref)).clamp(-clip, clip)


def arm_rewards(kind: str, logp: torch.Tensor, logp_ref: torch.Tensor, logp_dpo: torch.Tensor | None,
                rm_norm: torch.Tensor | None, kl_coef: float, dpo_scale: float, dpo_clip: float,
                true_tok: torch.Tensor | None = None) -> torch.Tensor:
    """Per-token rewards (B, H) of one arm; logp* (B, H) are log-probs of the sampled tokens, rm_norm (B,),
    true_tok (B, H) the normalised true token rewards (arm F)."""
    if kind not in KINDS:
        raise ValueError(f"unknown arm kind {kind!r}")
    r = -kl_coef * (logp - logp_ref)                                     # (B, H) k1 KL penalty, every arm
    last = torch.zeros_like(r)
    last[:, -1] = 1.0
    if kind in ("sentence", "rto"):
        r = r + last * rm_norm[:, None]
    if kind in ("rto", "dpo_token"):
        r = r + dpo_token_reward(logp_dpo, logp_ref, dpo_scale, dpo_clip)
    if kind == "dpo_end":
        r = r + last * dpo_token_reward(logp_dpo, logp_ref, dpo_scale, dpo_clip).sum(1, keepdim=True)
    if kind == "true_dense":
        r = r + true_tok
    if kind == "true_sparse":
        r = r + last * true_tok.sum(1, keepdim=True)
    return r


def normalised_true_tokens(token_r: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """True token rewards (B, H) normalised so their sum is (r* - mean) / std (mean, std of r* on pi_ref)."""
    return (token_r - mean / token_r.shape[1]) / std


def gae(rewards: torch.Tensor, values: torch.Tensor, gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over a fixed horizon with a terminal value of 0.

    rewards, values (B, H) -> advantages, returns (B, H); delta_t = r_t + gamma V_(t+1) - V_t and
    A_t = sum_(s >= t) (gamma lam)^(s - t) delta_s, computed as one matrix product (no loop over tokens)."""
    H = rewards.shape[1]
    nxt = torch.cat([values[:, 1:], torch.zeros_like(values[:, :1])], 1)
    delta = rewards + gamma * nxt - values                                # (B, H)
    t = torch.arange(H, dtype=rewards.dtype)
    expo = t[None, :] - t[:, None]                                        # (H, H): s - t
    M = torch.where(expo >= 0, (gamma * lam) ** expo.clamp(min=0), torch.zeros(()))   # M[t, s]
    adv = delta @ M.T
    return adv, adv + values


def policy_logits(model, world: World):
    """seq (B, L) -> response logits (B, H, V) of a GPT policy."""
    return lambda seq: response_out(model, world, seq)[0]


def mixture_logits(dpo, ref, world: World, alpha: float):
    """Geometric mixture pi_ref^(1-a) pi_dpo^a (normalised by log_softmax downstream)."""
    return lambda seq: (alpha * torch.log_softmax(response_out(dpo, world, seq)[0], -1)
                        + (1 - alpha) * torch.log_softmax(response_out(ref, world, seq)[0], -1))


@torch.inference_mode()
def measure(model, ref, world: World, x: torch.Tensor, gen: torch.Generator, mix_alpha: float | None = None,
            rm=None, rm_norm: dict | None = None) -> dict[str, torch.Tensor]:
    """Sample one response per prompt and measure it exactly: true reward r*(x, y) (B,) and
    KL_sum = sum_h KL(pi(.|s_h) || pi_ref(.|s_h)) (B,) (exact over the vocabulary, Monte Carlo over states);
    with mix_alpha, the policy is the geometric mixture of `model` (pi_dpo) and ref."""
    if mix_alpha is None:
        y = sample(model, world, x, gen)
        logits_fn = policy_logits(model, world)
    else:
        y = sample(model, world, x, gen, mix=(ref, mix_alpha))
        logits_fn = mixture_logits(model, ref, world, mix_alpha)
    seq = with_bos(world, x, y)
    out = {"true": true_reward(world, x, y),
           "kl": exact_kl(logits_fn(seq), response_out(ref, world, seq)[0]).sum(1), "y": y}
    if rm is not None:
        out["rm"] = (rm_score(rm, world, seq) - rm_norm["mean"]) / rm_norm["std"]
    return out
