"""Stage `benchmark`: update FLOPs and wall clock against context length on a random-init timing model.

Sheet "Metrics", length sweep: a RANDOM-INIT decoder (default d=256, 6 layers; accuracy is meaningless here, only
cost) gets, for each post-edit length n', one inserted code line (m tokens) at the middle of the file. From the same
pre-edit cache (built once, untimed) it times the LEAN updates (tasks/pie/lean.py) of full recomputation, suffix
recomputation, PIE and conflict fast encoding, plus the reference PIE (tasks/pie/methods.py, descriptive: the
overhead the lean version removes): `torch.inference_mode()`, `threads` threads, `warmup` untimed rounds, then
`repeats` rounds with the methods interleaved in a fresh random order each round; median and IQR in ms, and the
median over rounds of the per-round ratio PIE / full (paired, robust to load drifting between rounds). FLOPs:
FlopCounterMode (matmuls + SDPA over causal pairs) plus the analytic rotation cost of the lean updates, the
reference's count and the sheet's analytic formula as cross-checks. Depends on nothing upstream, so it can run on
its own (the flow runs it alone: flows/pipeline.py TIMED). Run: `paperflow stage pie benchmark`.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from .lean import LEAN_METHODS, LeanCache, lean_flops, lean_update
from .methods import analytic_flops, count_flops, prefill, update
from .model import RoPELM
from .params import BenchmarkParams

TIMED = (*LEAN_METHODS, "pie_ref")   # lean full, suffix, conflict, PIE; the reference PIE


def run(p: BenchmarkParams, io) -> dict[str, float]:
    torch.set_num_threads(p.threads)
    torch.manual_seed(io.seed("timing-model"))
    model = RoPELM(128, p.d_model, p.layers, p.heads, p.d_ff).eval()
    rng = np.random.default_rng(io.seed("tokens"))
    metrics, rows = {"threads": p.threads, "repeats": p.repeats}, []
    with torch.inference_mode():
        for n1 in io.progress(p.lengths, desc="lengths"):
            m = p.edit_tokens
            n = n1 - m
            x = rng.integers(0, 128, n).tolist()
            i = n // 2
            edits = [(i, i, rng.integers(0, 128, m).tolist())]
            xp = x[:i] + edits[0][2] + x[i:]
            pl, pre = prefill(model, x)
            lpre = LeanCache.from_kv(pre)
            row = {"n_new": n1, "i": i, "m": m}
            for me in LEAN_METHODS:
                fl, rot = lean_flops(me, model, lpre, xp, edits)
                row[f"flops_{me}"], row[f"rot_flops_{me}"] = fl + rot, rot
                _, fl, rot = count_flops(me, model, pre, pl, x, xp, edits)
                row[f"ref_flops_{me}"] = fl + rot
            row["analytic_full"] = analytic_flops(p.layers, p.d_model, p.d_ff, n1, 0)
            row["analytic_pie"] = analytic_flops(p.layers, p.d_model, p.d_ff, m, i) + \
                analytic_flops(p.layers, p.d_model, p.d_ff, 1, n1 - 1) + row["rot_flops_pie"]
            fns = {me: (lambda me=me: lean_update(me, model, lpre, xp, edits)) for me in LEAN_METHODS}
            fns["pie_ref"] = lambda: update("pie", model, pre, pl, x, xp, edits)
            ts = {me: [] for me in TIMED}
            for r in range(p.warmup + p.repeats):
                for me in rng.permutation(TIMED):
                    t0 = time.perf_counter()
                    fns[me]()
                    if r >= p.warmup:
                        ts[me].append(1e3 * (time.perf_counter() - t0))
            for me, v in ts.items():
                q1, med, q3 = np.percentile(v, [25, 50, 75])
                row[f"ms_{me}"], row[f"iqr_{me}"], row[f"all_ms_{me}"] = float(med), [float(q1), float(q3)], v
            for ref in ("full", "suffix"):
                row[f"paired_ms_ratio_pie_{ref}"] = float(np.median(np.array(ts["pie"]) / np.array(ts[ref])))
            rows.append(row)
            for me in LEAN_METHODS:
                metrics[f"gflops_{me}_n{n1}"] = 1e-9 * row[f"flops_{me}"]
            for me in TIMED:
                metrics[f"ms_{me}_n{n1}"] = row[f"ms_{me}"]
            for ref in ("full", "suffix"):
                metrics[f"flops_ratio_pie_{ref}_n{n1}"] = row["flops_pie"] / row[f"flops_{ref}"]
                metrics[f"ms_ratio_pie_{ref}_n{n1}"] = row["ms_pie"] / row[f"ms_{ref}"]
                metrics[f"ms_ratio_pie_{ref}_paired_n{n1}"] = row[f"paired_ms_ratio_pie_{ref}"]
            metrics[f"ms_ratio_pie_ref_full_n{n1}"] = row["ms_pie_ref"] / row["ms_full"]
            metrics[f"flops_vs_analytic_full_n{n1}"] = row["ref_flops_full"] / row["analytic_full"]
    io.save_json("sweep.json", {"rows": rows, "model": {"d": p.d_model, "layers": p.layers, "heads": p.heads,
                                                         "d_ff": p.d_ff, "random_init": True}})
    return metrics
