"""Stage `evaluate`: every arm on the test problems, per length 1..N+K (sheet "Metrics").

Arms: ar (AR-CoT baseline), aligned / vanilla (looped; answer head; aligned also its assembled chain), relay
(RELAY-FT), selfchain (self-chain, GT filter). Per problem: final-answer correctness (AR: `= ans <eos>` at the end,
malformed = wrong), chain token accuracy (position-wise over the longer of generated / true chain) and exact chain.
Hit matrices (round x position from the right) at length N + hit_offset for the looped chains and the AR's own
chains. Outputs: per-problem arrays (problems.npz, for the report's paired bootstrap), results.json (per-length
accuracies with Wilson 95 % CIs). Run: `paperflow stage relay evaluate`.
"""
from __future__ import annotations

import numpy as np

from tasks.common.stats import wilson

from . import data as D
from .decode import ar_chains, gt_chain, looped_chains, score
from .model import build_ar, build_looped
from .params import EvaluateParams
from .prepare import by_length, load_set

AR_ARMS = {"ar": ("train_ar", None), "relay": ("finetune", "relay"), "selfchain": ("finetune", "selfchain")}
LOOP_ARMS = ("aligned", "vanilla")
ARMS = ("ar", "aligned", "vanilla", "relay", "selfchain")


def per_length(ks: np.ndarray, arr: np.ndarray) -> dict[str, dict]:
    out = {}
    for k in np.unique(ks):
        a = arr[ks == k]
        p, lo, hi = wilson(int(a.sum()), len(a)) if a.dtype == bool else (float(a.mean()), np.nan, np.nan)
        out[str(int(k))] = {"value": p, "lo": lo, "hi": hi, "n": int(len(a))}
    return out


def run(p: EvaluateParams, io) -> dict[str, float]:
    meta = io.load_json("prepare", "meta.json")
    N, K, mod = meta["N"], meta["K"], meta["mod"]
    hit_k = min(N + p.hit_offset, N + K)
    tests = by_length(load_set(io, "test"))
    ks = np.concatenate([[k] * len(v) for k, v in tests.items()])
    arrays: dict[str, np.ndarray] = {"k": ks}
    hits: dict[str, list] = {}
    for arm, (stage, item) in AR_ARMS.items():
        model = io.load_model(stage, build_ar, item=item, freeze=True)
        res = {"correct": [], "tok": [], "exact": []}
        for k, exprs in tests.items():
            chains = ar_chains(model, exprs, k)
            sc = score(chains, exprs, mod)
            for m in res:
                res[m].append(sc[m])
            if arm == "ar" and k == hit_k:
                hits["ar_selfchain"] = D.hit_matrix(chains, [gt_chain(e, mod) for e in exprs], k).tolist()
        arrays.update({f"{arm}__{m}": np.concatenate(v) for m, v in res.items()})
    for arm in LOOP_ARMS:
        model = io.load_model("train_looped", build_looped, item=arm, freeze=True)
        res = {"correct": [], "tok": [], "exact": []}
        for k, exprs in tests.items():
            _, ans, chains = looped_chains(model, exprs, k)
            sc = score(chains, exprs, mod)
            truth = np.array([gt_chain(e, mod)[-2] for e in exprs])
            res["correct"].append(ans == truth)     # the answer head (the looped model's final answer)
            res["tok"].append(sc["tok"])
            res["exact"].append(sc["exact"])
            if arm == "aligned" and k == hit_k:
                hits["looped"] = D.hit_matrix(chains, [gt_chain(e, mod) for e in exprs], k).tolist()
        arrays.update({f"{arm}__{m}": np.concatenate(v) for m, v in res.items()})
    io.save_npz("problems.npz", **arrays)
    idm, oodm = ks <= N, ks > N
    lens = {"id": idm, "ood": oodm}
    summary = {arm: {m: per_length(ks, arrays[f"{arm}__{m}"]) for m in ("correct", "tok", "exact")} for arm in ARMS}
    ar_ok, ar_exact = arrays["ar__correct"], arrays["ar__exact"]
    wrong_step = {s: float((ar_ok & ~ar_exact & m).sum() / max(1, (ar_ok & m).sum())) for s, m in lens.items()}
    io.save_json("results.json", {"N": N, "K": K, "hit_k": hit_k, "arms": summary, "hits": hits,
                                  "ar_correct_but_wrong_step": wrong_step})
    out = {}
    for arm in ARMS:
        for s, m in lens.items():
            acc = [arrays[f"{arm}__correct"][(ks == k)].mean() for k in np.unique(ks[m])]
            out[f"{arm}_{s}_acc"] = 100 * float(np.mean(acc))
    out["ar_correct_but_wrong_step_ood"] = wrong_step["ood"]
    return out
