"""Stage `generate_chains` (Stage II): the loop-aligned model writes CoT chains for the OOD Stage-II problems.

Per OOD length, one batched forward pass of T = k iterations; round t is read off the CoT head at iteration t
(argmax, the tokens right of the rightmost predicted pad), the answer off the answer head, and the rounds are
assembled into AR-format sequences. Their quality against the ground truth is recorded (never used to filter).
Output: chains.jsonl ({"k", "expr", "seq"}), quality.json. Run: `paperflow stage relay generate_chains`.
"""
from __future__ import annotations

import json

import numpy as np

from . import data as D
from .decode import looped_chains, score
from .model import build_looped
from .params import ChainsParams
from .prepare import by_length, load_set, modulus


def run(p: ChainsParams, io) -> dict[str, float]:
    model = io.load_model("train_looped", build_looped, item="aligned", freeze=True)
    mod = modulus(io)
    lines, quality = [], {}
    for k, exprs in by_length(load_set(io, "stage2")).items():
        _, _, chains = looped_chains(model, exprs, k, p.batch)
        sc = score(chains, exprs, mod)
        quality[k] = {"answer_acc": float(sc["correct"].mean()), "token_acc": float(sc["tok"].mean()),
                      "exact": float(sc["exact"].mean()), "n": len(exprs)}
        for e, ch in zip(exprs, chains):
            lines.append(json.dumps({"k": k, "expr": e, "seq": [D.BOS] + list(e) + [D.EQ] + list(ch)}))
    (io.out / "chains.jsonl").write_text("\n".join(lines) + "\n")
    io.save_json("quality.json", {str(k): v for k, v in quality.items()})
    return {"n_chains": len(lines), "answer_acc_mean": float(np.mean([q["answer_acc"] for q in quality.values()])),
            "token_acc_mean": float(np.mean([q["token_acc"] for q in quality.values()])),
            "exact_mean": float(np.mean([q["exact"] for q in quality.values()]))}
