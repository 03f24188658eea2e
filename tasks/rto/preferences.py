"""Stage `preferences`: Bradley-Terry pairs (x, y_a, y_b) sampled from pi_ref (the SFT policy), labelled by the hidden
reward: P(y_a > y_b) = sigmoid(kappa * H * (r*(y_a) - r*(y_b))), with kappa set so that the expected share of labels
that agree with the true order (on pairs with one) is `agreement` (sheet: 75-80 %). The first quarter of the
training pairs is the `quarter` data set of the data-efficiency arms.

Run: `paperflow stage rto preferences`.
"""
from __future__ import annotations

import torch

from .env import bt_labels, calibrate_kappa, expected_agreement, true_reward
from .model import build, sample
from .params import PreferencesParams
from .train import world_of


def run(p: PreferencesParams, io) -> dict[str, float]:
    world = world_of(io)
    ref = io.load_model("sft", build, freeze=True)
    gen = torch.Generator().manual_seed(io.seed("pairs"))
    n = p.n_pairs + p.n_heldout
    x = torch.randint(0, world.V, (n, world.P), generator=gen)
    ya, yb = sample(ref, world, x, gen), sample(ref, world, x, gen)                 # (n, H) x 2
    ra, rb = true_reward(world, x, ya), true_reward(world, x, yb)
    kappa = calibrate_kappa(ra[: p.n_pairs], rb[: p.n_pairs], world.H, p.agreement)
    a_wins = bt_labels(ra, rb, kappa, world.H, gen).bool()                          # (n,)
    yw, yl = torch.where(a_wins[:, None], ya, yb), torch.where(a_wins[:, None], yb, ya)
    rw, rl = true_reward(world, x, yw), true_reward(world, x, yl)
    has_order = rw != rl
    agree = float((rw > rl)[has_order].float().mean())
    io.save_npz("pairs.npz", x=x.numpy(), yw=yw.numpy(), yl=yl.numpy(), rw=rw.numpy(), rl=rl.numpy())
    io.save_json("split.json", {"n_train": p.n_pairs, "n_heldout": p.n_heldout, "kappa": kappa})
    return {"kappa": kappa, "label_agreement": agree, "expected_agreement": expected_agreement(ra, rb, kappa, world.H),
            "tie_share": float(1 - has_order.float().mean()), "ref_true_reward": float(torch.cat([ra, rb]).mean())}


def split(io, item: str) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(train pairs of the item, held-out pairs): item 'full' = all training pairs, 'quarter' = the first 1/4."""
    d = {k: torch.from_numpy(v) for k, v in io.load_npz("preferences", "pairs.npz").items()}
    s = io.load_json("preferences", "split.json")
    n = s["n_train"] if item == "full" else s["n_train"] // 4
    return {k: v[:n] for k, v in d.items()}, {k: v[s["n_train"]:] for k, v in d.items()}
