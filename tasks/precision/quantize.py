"""Stage `quantize` (sheet Stage C): post-training integer weight quantisation of the fp32 models, the small analog
of the paper's LLaMA-3.1-8B int4 (AWQ) study (Feng et al. arXiv 2410.13857, §6, Fig. 4).

Per-output-channel symmetric round-to-nearest of every nn.Linear weight (tasks/common/quant.py), int8 in [-127, 127]
and int4 in [-7, 7]; biases, embeddings and LayerNorms stay float32, and so does the output head unless
`quantize_head` (AWQ-style int4 keeps the LM head in 16 bits). Activations stay float32. Accuracy per k is measured
as in `evaluate` (greedy exact match); the report compares the drop at k = 2 with the drop at the largest k.

Outputs: correct.npz (`int<b>_s<seed>_k<k>`), ptq.json (accuracies, relative weight errors).
Run: `paperflow stage precision quantize`.
"""
from __future__ import annotations

import numpy as np
import torch

from tasks.common.quant import quantize_linear_weights

from .evaluate import accuracy_table, exact_match, trained_arms
from .model import from_config
from .params import QuantizeParams
from .train import spec_of


def weight_error(ref: torch.nn.Module, q: torch.nn.Module) -> float:
    """Relative Frobenius error of all nn.Linear weights, ||W_q - W|| / ||W|| (pooled)."""
    num = den = 0.0
    for (_, a), (_, b) in zip(ref.named_modules(), q.named_modules()):
        if isinstance(a, torch.nn.Linear):
            num += float(((b.weight - a.weight).detach() ** 2).sum())
            den += float((a.weight.detach() ** 2).sum())
    return (num / den) ** 0.5


def run(p: QuantizeParams, io) -> dict[str, float]:
    spec = spec_of(io.load_json("prepare", "spec.json"))
    tests = io.load_npz("prepare", "tests.npz")
    n_seeds = trained_arms(io)["fp32"]
    skip = () if p.quantize_head else ("head",)
    correct, werr = {}, {}
    for s in range(n_seeds):
        model = io.load_model("train", from_config, "fp32", name=f"model_seed{s}")
        for bits in p.bits:
            qm = quantize_linear_weights(model, bits, skip=skip)
            werr[f"int{bits}_s{s}"] = weight_error(model, qm)
            for k in spec.ks:
                correct[f"int{bits}_s{s}_k{k}"] = exact_match(qm, spec, tests[f"ops_k{k}"], p.batch)
    io.save_npz("correct.npz", **correct)
    arms = {f"int{b}": n_seeds for b in p.bits}
    table = accuracy_table(correct, arms, list(spec.ks))
    io.save_json("ptq.json", {"bits": p.bits, "ks": list(spec.ks), "quantize_head": p.quantize_head,
                              "acc": table, "weight_rel_error": werr})
    metrics = {f"acc_int{b}_k{k}": table[f"int{b}"][str(k)]["acc"] for b in p.bits for k in spec.ks}
    metrics.update({f"weight_rel_err_int{b}": float(np.mean([werr[f"int{b}_s{s}"] for s in range(n_seeds)]))
                    for b in p.bits})
    return metrics
