"""Stage `finetune@{relay,selfchain}`: fine-tune the trained AR-CoT model once more (sheet "Arms" 4 and 5).

- relay (RELAY-FT): the Stage-II chains the looped model wrote for N+1..N+K, plus `n_original` original training
  problems (a seeded subset), one fine-tuning run, unfiltered (the paper uses every generated chain).
- selfchain (GT filter): incremental phases at lengths N+1, N+2, ...: the current AR model decodes chains for fresh
  problems of that length, keeps those whose final answer equals the ground truth, is fine-tuned on them mixed with
  original data at RELAY-FT's ratio, and the next phase starts from it.
Run: `paperflow stage relay finetune --item relay`.
"""
from __future__ import annotations

import json

import numpy as np
import torch

from tasks.common.errors import UserError
from tasks.common.train import fit

from . import data as D
from .batches import ARData
from .batches import ar_loss
from .decode import ar_chains, score
from .model import build_ar
from .params import FinetuneParams
from .prepare import by_length, load_set, modulus, n_ops
from .train import schedule


def original_subset(io, n: int, salt: str) -> list[list[int]]:
    train = load_set(io, "train")
    idx = np.random.default_rng(io.seed("original", salt)).permutation(len(train))[:n]
    return [train[i] for i in sorted(idx)]


def load_chains(io) -> list[dict]:
    path = io.input("generate_chains") / "chains.jsonl"
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line]
    except (FileNotFoundError, json.JSONDecodeError) as e:
        raise UserError(f"{path}: missing or corrupt ({type(e).__name__}); re-run `paperflow stage relay "
                        "generate_chains`") from None


def tune(model, seqs: list[list[int]], ks: list[int], steps: int, lr: float, batch: int, seed: int, io):
    ds = ARData(seqs, ks)
    gen = torch.Generator().manual_seed(seed)
    return fit(model, lambda s: ar_loss(model, *ds.draw(gen, batch)), schedule(steps, lr), progress=io.progress)


def run(p: FinetuneParams, io) -> dict[str, float]:
    arm = io.item.arm
    model = io.load_model("train_ar", build_ar)
    cfg = io.load_json("train_ar", "model.json")
    mod = modulus(io)
    chains = load_chains(io)
    n_gen = len(chains)
    ratio = p.n_original / max(1, n_gen)          # original : generated, RELAY-FT's mix
    if arm == "relay":
        orig = original_subset(io, p.n_original, "relay")
        seqs = [c["seq"] for c in chains] + [D.ar_sequence(*D.split_expr(e), mod) for e in orig]
        ks = [c["k"] for c in chains] + [n_ops(e) for e in orig]
        hist = tune(model, seqs, ks, p.relay_steps, p.relay_lr, p.batch, io.seed("batches", arm), io)
        io.log_curves(hist.curves())
        io.save_model(model, cfg)
        return {"final_loss": hist.tail_mean(), "n_generated": n_gen, "n_original": len(orig),
                "steps": hist.steps_done}
    phases, out = [], {}
    for i, (k, exprs) in enumerate(by_length(load_set(io, "selfchain")).items()):
        model.eval()
        gen_chains = ar_chains(model, exprs, k)
        sc = score(gen_chains, exprs, mod)
        keep = np.nonzero(sc["correct"])[0]
        seqs = [[D.BOS] + list(exprs[j]) + [D.EQ] + list(gen_chains[j]) for j in keep]
        orig = original_subset(io, int(round(ratio * len(keep))), f"selfchain{i}")
        info = {"k": k, "n_problems": len(exprs), "n_kept": int(len(keep)), "n_original": len(orig),
                "answer_acc": float(sc["correct"].mean()), "token_acc": float(sc["tok"].mean()),
                "correct_but_wrong_step": float((sc["correct"] & ~sc["exact"]).sum() / max(1, len(keep))),
                "steps": 0}
        if len(keep):
            hist = tune(model, seqs + [D.ar_sequence(*D.split_expr(e), mod) for e in orig],
                        [k] * len(seqs) + [n_ops(e) for e in orig], p.selfchain_steps, p.selfchain_lr, p.batch,
                        io.seed("batches", arm, i), io)
            io.log_curves(hist.curves(prefix=f"phase{i + 1}_"))
            info.update(steps=hist.steps_done, final_loss=hist.tail_mean())
        phases.append(info)
        out.update({f"phase{i + 1}_kept": info["n_kept"], f"phase{i + 1}_answer_acc": info["answer_acc"]})
    io.save_json("phases.json", phases)
    io.save_model(model, cfg)
    return {**out, "steps": sum(ph["steps"] for ph in phases), "n_phases": len(phases)}
