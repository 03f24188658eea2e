"""Stage `evaluate`: test accuracy of every trained arm (noise-free forward), gradient probes (C4) and cost (C7).

The test split is first read here, after `tune` froze lam and alpha and `train` finished. Per arm and dataset:
accuracy per seed, its mean and a t-interval over seeds, and the per-sample correctness (for the report's paired
bootstrap over test samples). Probes run on each OPZO seed's checkpoints (epoch 1, mid, final) on a fixed training
batch (probe.py). The conv-LIF arms of C3 (`train_conv`, D1) are scored the same way under the names "conv_<arm>".
Everything the report needs is gathered in results.json (+ correct.npz).

Run: `paperflow stage opzo evaluate`.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy import stats as st

from tasks.common.stats import mean_se

from .conv import ConvNet, conv_predict
from .methods import ARMS, feedback_macs_analytic
from .params import EvaluateParams
from .probe import probe_checkpoint
from .snn import LIF, Net, Setup, predict
from .train import load_split, mid_epoch

CURVE_NS = [1, 2, 4, 8, 16, 32, 64, 128, 256]


def label_of(arm: str) -> str:
    return f"conv-LIF {ARMS[arm[5:]].label}" if arm.startswith("conv_") else ARMS[arm].label


def t_ci(x: list[float]) -> tuple[float, float, float, float]:
    """mean, std, and a 95 % t-interval over seeds (nan bounds for one seed)."""
    m, se = mean_se(x)
    sd = float(np.std(x, ddof=1)) if len(x) > 1 else float("nan")
    h = float(st.t.ppf(0.975, len(x) - 1) * se) if len(x) > 1 else float("nan")
    return m, sd, m - h, m + h


def run(p: EvaluateParams, io) -> dict[str, float]:
    data = io.load_npz("prepare", "data.npz")
    items = io.items_of["train"]
    hist = {it: io.load_json("train", "history.json", it) for it in items}
    setup = dict(hist[items[0]]["setup"])
    setup["T"] = {ds: T for h in hist.values() for ds, T in h["setup"]["T"].items()}
    lif = LIF(setup["tau"], setup["v_th"], setup["alpha_s"])
    sus = {ds: Setup(lif, T, ds == "d1", setup["lam_mse"]) for ds, T in setup["T"].items()}
    test = {ds: load_split(data, ds, "test") for ds in sus}
    metrics: dict[str, float] = {}
    correct: dict[str, np.ndarray] = {}
    acc: dict[str, dict[str, list[float]]] = {}
    for it in items:
        arm, s = it.arm, it.seed
        for ds in hist[it]["history"]:
            net = Net.from_state(io.load_torch("train", f"model_{ds}.pt", it))
            ok = (predict(net, sus[ds], test[ds].x, p.eval_batch) == test[ds].y).numpy()
            correct[f"{arm}__{ds}__s{s}"] = ok
            acc.setdefault(arm, {}).setdefault(ds, []).append(float(ok.mean()))
            metrics[f"acc_{arm}_{ds}_s{s}"] = float(ok.mean())
    conv_hist = {}
    for it in io.items_of.get("train_conv", []):
        h = conv_hist[it] = io.load_json("train_conv", "history.json", it)
        su = Setup(LIF(h["setup"]["tau"], h["setup"]["v_th"], h["setup"]["alpha_s"]), h["setup"]["T"], True,
                   h["setup"]["lam_mse"])
        net = ConvNet.from_state(io.load_torch("train_conv", "model_d1.pt", it))
        ok = (conv_predict(net, su, test["d1"].x, p.eval_batch) == test["d1"].y).numpy()
        arm = f"conv_{it.arm}"
        correct[f"{arm}__d1__s{it.seed}"] = ok
        acc.setdefault(arm, {}).setdefault("d1", []).append(float(ok.mean()))
        metrics[f"acc_{arm}_d1_s{it.seed}"] = float(ok.mean())
    table = {}
    for arm, per in acc.items():
        for ds, xs in per.items():
            m, sd, lo, hi = t_ci(xs)
            table[f"{arm}/{ds}"] = {"arm": arm, "ds": ds, "accs": xs, "mean": m, "std": sd, "lo": lo, "hi": hi,
                                    "label": label_of(arm)}
            metrics[f"acc_{arm}_{ds}_mean"] = m
    probes = run_probes(p, io, data, hist, sus)
    for pr in probes:
        if pr["epoch_tag"] == "mid":
            for l, row in enumerate(pr["layers"]):
                for k in ("cos_opzo_median", "cos_zo_median", "relvar_opzo", "relvar_zo"):
                    key = f"probe_{pr['ds']}_L{l}_{k}"
                    metrics[key] = metrics.get(key, 0.0) + row[k] / sum(q["epoch_tag"] == "mid" and q["ds"] == pr["ds"] for q in probes)
    train_metrics = {it: io.upstream_metrics("train", it) for it in items}
    sizes = hist[items[0]]["sizes"]
    io.save_npz("correct.npz", **correct)
    io.save_json("results.json", {"accuracy": table, "probes": probes, "setup": setup,
                                  "histories": {it: h["history"] for it, h in hist.items()},
                                  "conv_histories": {it: h["history"] for it, h in conv_hist.items()},
                                  "train_metrics": train_metrics, "tune": io.load_json("tune", "tuned.json"),
                                  "feedback_macs_analytic": feedback_macs_analytic(sizes, 10), "sizes": sizes,
                                  "n_test": {ds: int(len(t.y)) for ds, t in test.items()}})
    return metrics


def run_probes(p: EvaluateParams, io, data, hist, sus) -> list[dict]:
    out = []
    for it, h in hist.items():
        arm, s = it.arm, it.seed
        if arm != "opzo":
            continue
        for ds in h["history"]:
            tr = load_split(data, ds, "train")
            g = torch.Generator().manual_seed(io.seed("probe-batch", ds))
            idx = torch.randperm(len(tr.y), generator=g)[: p.probe_batch]
            x, y1h = tr.x[idx].float(), torch.nn.functional.one_hot(tr.y[idx], 10).float()
            K = p.probe_draws
            bidx = torch.randint(0, len(tr.y), (K, p.probe_batch), generator=g)
            bp_batches = (tr.x[bidx].float(), torch.nn.functional.one_hot(tr.y[bidx], 10).float())
            mid, last = mid_epoch(h["epochs"]), h["epochs"]
            for ep in h["ckpt_epochs"]:
                if ep != mid and s >= p.extra_epoch_seeds:
                    continue
                ck = io.load_torch("train", f"ckpt_{ds}_ep{ep}.pt", it)
                net = Net.from_state({k[4:]: v for k, v in ck.items() if k.startswith("net.")})
                M = [ck[f"M{l}"] for l in range(len(net.Ws))]
                tag = "mid" if ep == mid else ("final" if ep == last else "first")
                noise_gen = torch.Generator().manual_seed(io.seed("probe-noise", ds, s, ep))
                res = probe_checkpoint(net, M, int(ck["n_updates"]), h["lam"], h["alpha"], sus[ds], x, y1h, K,
                                       noise_gen, curve_ns=CURVE_NS if ep == mid else None,
                                       bp_batches=bp_batches if ep == mid else None)
                res.update({"item": it, "seed": s, "ds": ds, "epoch": ep, "epoch_tag": tag})
                io.log.info("probe %s %s epoch %d: %s", it, ds, ep,
                            [(round(r["cos_opzo_median"], 3), round(r["cos_zo_median"], 3)) for r in res["layers"]])
                out.append(res)
    return out
