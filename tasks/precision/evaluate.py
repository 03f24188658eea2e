"""Stage `evaluate` (sheet Stage B1 metrics): exact-match accuracy per k, per arm and seed, on the fixed test sets.

Greedy decoding is computed in one teacher-forced pass: for a causal decoder, greedy decoding reproduces the whole
answer iff the argmax at every answer position of the teacher-forced pass equals the true digit (by induction over
the answer digits), so exact match under greedy decoding = all(argmax == target) over the answer positions.
tests/precision checks this against an explicit token-by-token greedy decoder. Each arm is evaluated in its own
precision (fq arms with their fake quantisation, bf16_pure in bfloat16).

Outputs: correct.npz (`<arm>_s<seed>_k<k>`: bool per test item), acc.json (pooled accuracy with Wilson 95% CIs).
Run: `paperflow stage precision evaluate`.
"""
from __future__ import annotations

import numpy as np
import torch

from tasks.common.stats import wilson

from .data import Spec, encode
from .model import from_config
from .params import EvaluateParams
from .train import spec_of


@torch.inference_mode()
def exact_match(model: torch.nn.Module, spec: Spec, ops: np.ndarray, batch: int) -> np.ndarray:
    """(N, k) operands -> (N,) bool: the greedy answer equals the true sum (all ans_bits digits)."""
    model.eval()
    seqs = torch.from_numpy(encode(ops, spec))                   # (N, L)
    A = spec.ans_bits
    out = []
    for i in range(0, len(seqs), batch):
        s = seqs[i:i + batch]
        logits = model(s[:, :-1])                                # (b, L-1, V): position t predicts token t+1
        out.append((logits[:, -A:].argmax(-1) == s[:, -A:]).all(-1))
    return torch.cat(out).numpy()


@torch.inference_mode()
def greedy_decode(model: torch.nn.Module, spec: Spec, ops: np.ndarray) -> np.ndarray:
    """Reference token-by-token greedy decoder: (N, k) -> (N, ans_bits) predicted answer digits."""
    model.eval()
    seqs = torch.from_numpy(encode(ops, spec))
    ctx = seqs[:, :-spec.ans_bits]                               # operands and '='
    for _ in range(spec.ans_bits):
        nxt = model(ctx)[:, -1].argmax(-1, keepdim=True)         # (N, 1)
        ctx = torch.cat([ctx, nxt], dim=1)
    return ctx[:, -spec.ans_bits:].numpy()


def trained_arms(io) -> dict[str, int]:
    """{arm: number of seeds} for the train@<arm> outputs that hold models (skipped arms left out)."""
    arms = {}
    for arm in io.items_of["train"]:
        path = io.input("train", arm)
        if not (path / "skipped.json").exists():
            arms[arm] = int(io.load_json("train", "train.json", arm)["seeds"])
    return arms


def accuracy_table(correct: dict[str, np.ndarray], arm_seeds: dict[str, int], ks: list[int], prefix=lambda a: a) -> dict:
    """{arm: {k: {correct: [per seed], n, acc, lo, hi}}}, pooled over seeds (Wilson 95% CI)."""
    table = {}
    for arm, n_seeds in arm_seeds.items():
        table[arm] = {}
        for k in ks:
            c = [int(correct[f"{prefix(arm)}_s{s}_k{k}"].sum()) for s in range(n_seeds)]
            n = n_seeds * len(correct[f"{prefix(arm)}_s0_k{k}"])
            acc, lo, hi = wilson(sum(c), n)
            table[arm][str(k)] = {"correct": c, "n": n, "acc": acc, "lo": lo, "hi": hi}
    return table


def run(p: EvaluateParams, io) -> dict[str, float]:
    spec = spec_of(io.load_json("prepare", "spec.json"))
    tests = io.load_npz("prepare", "tests.npz")
    arms = trained_arms(io)
    correct = {}
    for arm, n_seeds in arms.items():
        for s in range(n_seeds):
            model = io.load_model("train", from_config, arm, name=f"model_seed{s}")
            for k in spec.ks:
                correct[f"{arm}_s{s}_k{k}"] = exact_match(model, spec, tests[f"ops_k{k}"], p.batch)
    io.save_npz("correct.npz", **correct)
    table = accuracy_table(correct, arms, list(spec.ks))
    io.save_json("acc.json", {"arms": arms, "ks": list(spec.ks), "acc": table})
    return {f"acc_{arm}_k{k}": table[arm][str(k)]["acc"] for arm in arms for k in spec.ks}
