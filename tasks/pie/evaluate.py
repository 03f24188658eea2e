"""Stage `evaluate`: accuracy, fidelity and update cost of each cache strategy on the trained model.

For every instance (insertion, deletion, edition) the pre-edit cache of x is built once (untimed); each method
updates it (tasks/pie/methods.py) under FlopCounterMode, then greedy-decodes the next line. Measured per instance:
EM (`pred.split() == gt.split()`, RepoBench) and ES (`rapidfuzz.fuzz.ratio`, 0-100), agreement with full
recomputation's line, KL(full || method) of the first generated token, per-layer mean cosine of the reused suffix
keys to the full-recompute keys, update FLOPs (of the lean updates, tasks/pie/lean.py, and of the reference),
and the largest |logit| difference between each lean update and the reference (methods.py, which the accuracy
numbers come from); on the first `n_timed` instances per task, the lean update latency (interleaved methods,
median of `repeats`). Writes `results.json`. Run: `paperflow stage pie evaluate`.
"""
from __future__ import annotations

import time

import numpy as np
import torch
from rapidfuzz import fuzz

from .edits import STOP, TASKS, line_str
from .lean import LEAN_METHODS, LeanCache, lean_flops, lean_update
from .methods import METHODS, UPDATE_METHODS, count_flops, greedy, prefill, update
from .model import build
from .params import EvaluateParams


def em_es(pred: str, gt: str) -> tuple[float, float]:
    """RepoBench exact match (on whitespace tokens) and edit similarity (rapidfuzz ratio, 0-100)."""
    return float(pred.split() == gt.split()), float(fuzz.ratio(pred, gt))


def reused_new_index(n: int, edits) -> list[int]:
    """New-file indices of the old tokens at or after the first edit (the keys a cache-reuse method keeps)."""
    out, off, prev = [], 0, edits[0][0]
    for i, j, y in edits:
        out += [t + off for t in range(max(prev, edits[0][0]), i)]
        off += len(y) - (j - i)
        prev = j
    return out + [t + off for t in range(prev, n)]


def key_cosines(c, ref, idx) -> list[float]:
    """Per layer: mean over (head, token) of cos(k_method, k_full) on entries idx (float64)."""
    out = []
    for km, kf in zip(c.k, ref.k):
        a, b = km[0][:, idx].double(), kf[0][:, idx].double()  # (H, |idx|, dh)
        out.append(float(torch.nn.functional.cosine_similarity(a, b, dim=-1).mean()))
    return out


def kl(full_logits, logits) -> float:
    lp, lq = full_logits.double().log_softmax(-1), logits.double().log_softmax(-1)
    return float((lp.exp() * (lp - lq)).sum())


def one(model, inst, max_new: int) -> dict:
    x, xp, edits = inst["x"], inst["xp"], [(i, j, y) for i, j, y in inst["edits"]]
    gt = line_str(inst["target"])
    pl, pre = prefill(model, x)
    lpre = LeanCache.from_kv(pre)
    rec = {"n": len(x), "n_new": len(xp), "m": sum(len(y) for _, _, y in edits), "first_edit": edits[0][0],
           "dist_to_end": len(x) - edits[-1][1], "needs_context": bool(inst["needs_context"])}
    res = {}
    for me in METHODS:
        if me in UPDATE_METHODS:
            r, fl, rot = count_flops(me, model, pre, pl, x, xp, edits)
            rec[f"ref_flops_{me}"] = fl + rot
            fl, rot = lean_flops(me, model, lpre, xp, edits)
            rec[f"flops_{me}"], rec[f"rot_flops_{me}"] = fl, rot
            rec[f"lean_diff_{me}"] = float((lean_update(me, model, lpre, xp, edits)[0] - r[0]).abs().max())
        else:
            r = update(me, model, pre, pl, x, xp, edits)
        res[me] = r
    idx = [t for t in reused_new_index(len(x), edits) if t < len(xp) - 1]
    preds = {}
    for me, (lg, c, pos, _) in res.items():
        preds[me] = line_str(greedy(model, lg, c, pos, STOP, max_new))
        rec[f"em_{me}"], rec[f"es_{me}"] = em_es(preds[me], gt)
        rec[f"kl_{me}"] = kl(res["full"][0], lg)
        if me in ("suffix", "pie", "conflict") and idx:
            rec[f"cos_{me}"] = key_cosines(c, res["full"][1], idx)
    for me in METHODS:
        rec[f"agree_{me}"] = float(preds[me] == preds["full"])
    rec["pred"], rec["gt"] = preds, gt
    return rec


def timed(model, inst, repeats: int, rng) -> dict[str, float]:
    """Median lean update latency (ms) per method, methods interleaved in a random order each round, 1 warm-up
    round."""
    xp, edits = inst["xp"], [(i, j, y) for i, j, y in inst["edits"]]
    lpre = LeanCache.from_kv(prefill(model, inst["x"])[1])
    ts = {me: [] for me in LEAN_METHODS}
    for r in range(repeats + 1):
        for me in rng.permutation(LEAN_METHODS):
            t0 = time.perf_counter()
            lean_update(me, model, lpre, xp, edits)
            if r:
                ts[me].append(1e3 * (time.perf_counter() - t0))
    return {me: float(np.median(v)) for me, v in ts.items()}


def run(p: EvaluateParams, io) -> dict[str, float]:
    model = io.load_model("train", build)
    inst = io.load_json("prepare", "instances.json")
    rng = np.random.default_rng(io.seed("timing"))
    results, metrics = {}, {}
    with torch.inference_mode():
        torch.set_num_threads(1)
        for t in TASKS:
            results[t] = [one(model, r, p.max_new) for r in io.progress(inst[t], desc=t)]
        torch.set_num_threads(p.threads)
        lat = {t: [timed(model, r, p.repeats, rng) for r in inst[t][:p.n_timed]] for t in TASKS}
        torch.set_num_threads(1)
    for t in TASKS:
        rows = results[t]
        for me in METHODS:
            metrics[f"{t}_em_{me}"] = 100 * float(np.mean([r[f"em_{me}"] for r in rows]))
            metrics[f"{t}_es_{me}"] = float(np.mean([r[f"es_{me}"] for r in rows]))
            metrics[f"{t}_agree_{me}"] = 100 * float(np.mean([r[f"agree_{me}"] for r in rows]))
            metrics[f"{t}_kl_{me}"] = float(np.mean([r[f"kl_{me}"] for r in rows]))
        for me in ("pie", "conflict"):
            cs = np.array([r[f"cos_{me}"] for r in rows if f"cos_{me}" in r])
            for l, v in enumerate(cs.mean(0)):
                metrics[f"{t}_cos_{me}_L{l + 1}"] = float(v)
        for me in UPDATE_METHODS:
            metrics[f"{t}_gflops_{me}"] = 1e-9 * float(np.mean([r[f"flops_{me}"] + r[f"rot_flops_{me}"] for r in rows]))
        for me in UPDATE_METHODS:
            metrics[f"{t}_lean_max_abs_logit_diff_{me}"] = float(max(r[f"lean_diff_{me}"] for r in rows))
        for ref in ("full", "suffix"):
            metrics[f"{t}_flops_ratio_pie_{ref}"] = float(np.mean(
                [(r["flops_pie"] + r["rot_flops_pie"]) / r[f"flops_{ref}"] for r in rows]))
        for me in UPDATE_METHODS:
            if lat[t]:
                metrics[f"{t}_ms_{me}"] = float(np.median([d[me] for d in lat[t]]))
        if lat[t]:
            metrics[f"{t}_ms_ratio_pie_full"] = float(np.median([d["pie"] / d["full"] for d in lat[t]]))
    metrics["unedited_em_full"] = 100 * float(np.mean([r["em_full"] for t in TASKS for r in results[t]]))
    ctx = [r["em_full"] for t in TASKS for r in results[t] if r["needs_context"]]
    metrics["unedited_em_full_needs_context"] = 100 * float(np.mean(ctx)) if ctx else float("nan")
    io.save_json("results.json", {"tasks": results, "latency": lat, "n_layers": model.n_layers})
    return metrics
