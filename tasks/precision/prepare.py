"""Stage `prepare` (sheet Stage B1 "Data"): the data spec and the fixed test sets, one per number of summands k.

Training data are fresh random samples drawn inside `train` (tasks/precision/data.py); the test sets here are fixed
by the seed. With n = 4 there are only 16^k distinct inputs (256 for k = 2), so the k = 2 test set necessarily
repeats training inputs; the claims compare arms on the same items, so this affects every arm alike.

Outputs: spec.json (n_bits, ks, ans_bits, max_len, vocabulary), tests.npz (ops_k<k>: (test_items, k) operands).
Run: `paperflow stage precision prepare`.
"""
from __future__ import annotations

import numpy as np

from .data import TOKENS, VOCAB, Spec, encode, sample_ops
from .params import PrepareParams


def run(p: PrepareParams, io) -> dict[str, float]:
    spec = Spec(p.n_bits, tuple(p.ks), p.max_len)
    spec.check()
    tests = {}
    for k in p.ks:
        ops = sample_ops(np.random.default_rng(io.seed("test", k)), k, p.test_items, p.n_bits)
        assert encode(ops[:2], spec).shape[1] == spec.seq_len(k)
        tests[f"ops_k{k}"] = ops
    io.save_npz("tests.npz", **tests)
    io.save_json("spec.json", {"n_bits": p.n_bits, "ks": p.ks, "ans_bits": spec.ans_bits, "max_len": p.max_len,
                               "seq_len": {str(k): spec.seq_len(k) for k in p.ks}, "vocab": VOCAB, "tokens": TOKENS,
                               "test_items": p.test_items, "layout": "LSB-first digits, '+' between operands, '=' "
                               "before the answer, answer zero-padded to ans_bits, right-padded with '.'"})
    return {"test_items": p.test_items, "n_ks": len(p.ks), "ans_bits": spec.ans_bits,
            "max_seq_len": spec.seq_len(max(p.ks))}
