"""The tiny causal GPT of the RTO pipeline: tasks/common/nn.py's Transformer plus a scalar value head.

One class serves every role (sheet, Models): the policy (SFT, DPO, PPO actor; logits over the V content tokens,
the BOS logit is never used), the reward model (value head on the last token) and the PPO critic (value head on
every state). All sequences have the same length (no padding). Sampling runs under torch.inference_mode.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tasks.common.nn import Transformer

from .env import World


class GPT(nn.Module):
    """Causal Transformer over V + 1 tokens (content + BOS); `forward` -> (logits over V, value)."""

    def __init__(self, V: int, d: int, n_layers: int, n_heads: int, max_len: int, reward: bool = False):
        super().__init__()
        self.V = V
        self.tf = Transformer(V + 1, d, n_layers, n_heads, 4 * d, max_len, causal=True)
        self.value = nn.Linear(d, 1)
        nn.init.normal_(self.value.weight, std=0.02)
        nn.init.zeros_(self.value.bias)
        if reward:      # reward model: a fresh, zero-initialised per-token score head (see rm_score)
            self.tok_head = nn.Linear(d, V)
            nn.init.zeros_(self.tok_head.weight)
            nn.init.zeros_(self.tok_head.bias)

    def hidden(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, T) -> final-LN hidden states (B, T, d) (the Transformer's forward without its head)."""
        tf = self.tf
        T = tokens.shape[1]
        h = tf._act(tf.tok(tokens) + tf.pos(torch.arange(T, device=tokens.device))[None])   # (B, T, d)
        for blk in tf.blocks:
            h = tf._act(blk(h))
        return tf.ln_f(h)                                                                  # (B, T, d)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.hidden(tokens)
        return self.tf.head(h)[..., : self.V], self.value(h).squeeze(-1)                   # (B, T, V), (B, T)


def build(cfg: dict, reward: bool | None = None) -> GPT:
    """A GPT from its saved config (`reward` from cfg["reward"] unless given: a reward model's score head)."""
    reward = bool(cfg.get("reward", False)) if reward is None else reward
    return GPT(cfg["V"], cfg["d"], cfg["n_layers"], cfg["n_heads"], cfg["max_len"], reward)


def response_out(model: GPT, world: World, seq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """seq (B, L) full sequences -> response logits (B, H, V) and state values (B, H).

    The logits at position lp-1+h predict y_(h+1); the value there is V(s_(h+1)) (state before y_(h+1))."""
    logits, values = model(seq[:, :-1])
    s = slice(world.lp - 1, world.lp - 1 + world.H)
    return logits[:, s], values[:, s]


def token_logprobs(logits: torch.Tensor, resp: torch.Tensor) -> torch.Tensor:
    """log pi(y_h | s_h): logits (B, H, V), resp (B, H) -> (B, H)."""
    return torch.log_softmax(logits, -1).gather(-1, resp[..., None]).squeeze(-1)


def rm_score(model: GPT, world: World, seq: torch.Tensor) -> torch.Tensor:
    """Sentence-level reward-model score r_MLE(x, y) = sum_h u(s_h)[y_h], (B,): one scalar per response.

    Deviation (README): the sheet's scalar head on the last token stayed at chance (held-out accuracy 0.49-0.52
    with lr 1e-3..3e-3, 3-4 epochs, last-token or mean-pooled) at this budget; this head has the token-additive
    form of the true reward and of DPO's implicit reward, so RM and DPO get the same capacity. PPO-sparse still
    sees only the one number, on the last token."""
    h = model.hidden(seq[:, :-1])[:, world.lp - 1:]                                   # (B, H, d)
    return model.tok_head(h).gather(-1, seq[:, world.lp:, None]).squeeze(-1).sum(1)   # (B,)


def exact_kl(logits: torch.Tensor, ref_logits: torch.Tensor) -> torch.Tensor:
    """Per-step KL(pi(.|s_h) || pi_ref(.|s_h)), exact over the vocabulary: (B, H, V) x 2 -> (B, H)."""
    lp, lq = torch.log_softmax(logits, -1), torch.log_softmax(ref_logits, -1)
    return (lp.exp() * (lp - lq)).sum(-1)


def extend(model: GPT, tokens: torch.Tensor, cache: list) -> torch.Tensor:
    """Incremental decoding with a key/value cache (nn.py's forward_qkv hook): feed `tokens` (B, t) after the cached
    prefix (t > 1 only for an empty cache), update `cache` (one (k, v) per block) in place -> logits (B, t, V)."""
    tf = model.tf
    T0 = 0 if cache[0] is None else cache[0][0].shape[2]
    t = tokens.shape[1]
    h = tf._act(tf.tok(tokens) + tf.pos(torch.arange(T0, T0 + t, device=tokens.device))[None])   # (B, t, d)
    for i, blk in enumerate(tf.blocks):
        att = blk.attn
        q, k, v = att.forward_qkv(blk.ln1(h))                                                   # (B, nh, t, dh)
        if cache[i] is not None:
            k, v = torch.cat([cache[i][0], k], 2), torch.cat([cache[i][1], v], 2)             # (B, nh, T0 + t, dh)
        cache[i] = (k, v)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=T0 == 0 and t > 1)
        h = h + att.out(att.merge_heads(y))
        h = tf._act(h + blk.ff(blk.ln2(h)))
    return tf.head(tf.ln_f(h))[..., : model.V]


@torch.inference_mode()
def sample(model: GPT, world: World, prompts: torch.Tensor, gen: torch.Generator, mix: tuple[GPT, float] | None = None,
           temperature: float = 1.0) -> torch.Tensor:
    """Responses (B, H) sampled autoregressively with a key/value cache.

    mix = (ref, alpha) samples from the geometric mixture pi_ref^(1-alpha) * pi^alpha (used to trace DPO's
    KL-reward curve: alpha scales DPO's implicit reward, i.e. DPO with beta / alpha)."""
    from .env import with_bos

    cache = [None] * len(model.tf.blocks)
    rcache = [None] * len(mix[0].tf.blocks) if mix is not None else None
    inp, out = with_bos(world, prompts), []
    for _ in range(world.H):
        logits = extend(model, inp, cache)[:, -1]                                  # (B, V)
        if mix is not None:
            ref, a = mix
            logits = a * torch.log_softmax(logits, -1) + (1 - a) * torch.log_softmax(extend(ref, inp, rcache)[:, -1], -1)
        inp = torch.multinomial(F.softmax(logits / temperature, -1), 1, generator=gen)   # (B, 1)
        out.append(inp)
    return torch.cat(out, 1)
