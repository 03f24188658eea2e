"""Stage `downstream` (items `task`, `scaling`: two single-thread workers side by side): train the downstream CNN on
each arm's data with one recipe (same steps for every N) and write its logits on val and test (sheet, Downstream).

task (benign vs DCIS, device-A few-shot): real_fewshot, foundation_ft, gen_N (nested prefixes of the A/B/C bank),
  P2 adapted_a vs scratch (device A, N = n_compare), P4 real_a (i), adapted_a (ii), abc (iii), the no-adaptation
  proxy; logits on val and the device A/B/C/D test sets; the judge check of every bank.
scaling (benign vs malignant): real_N (pool prefixes) vs gen_N (pretrained generator bank); logits on the BUSI-like
  test. Run: `paperflow stage busgen downstream --item task`.
"""
from __future__ import annotations

import numpy as np
import torch

from . import sim
from .metrics import auc, cross_entropy
from .model import build_cnn
from .params import DownstreamParams
from .train import predict, train_classifier

TEST_DEVICES = ("A", "B", "C", "D")


def _t(x: np.ndarray, y: np.ndarray):
    return torch.from_numpy(sim.to_float(x)), torch.from_numpy(np.asarray(y))


def task_arms(p: DownstreamParams, io) -> dict[str, tuple]:
    """arm name -> (x uint8, y, init model or None, steps)."""
    few = io.load_npz("prepare", "fewshot.npz")
    real = io.load_npz("prepare", "real_task.npz")
    b = {k: io.load_npz("generate", f"{k}.npz") for k in ("task", "task_a", "scratch", "proxy")}
    found = io.load_model("calibrate", build_cnn, name="foundation")
    n = p.n_compare
    arms = {}
    for s in range(p.seeds):
        arms[f"real_fewshot-s{s}"] = (few["x"], few["y"], None, p.steps)
        arms[f"foundation_ft-s{s}"] = (few["x"], few["y"], found, p.ft_steps)
        for N in p.ns_task:
            arms[f"gen_{N}-s{s}"] = (b["task"]["x"][:N], b["task"]["y"][:N], None, p.steps)
    arms["adapted_a-s0"] = (b["task_a"]["x"][:n], b["task_a"]["y"][:n], None, p.steps)
    arms["scratch-s0"] = (b["scratch"]["x"][:n], b["scratch"]["y"][:n], None, p.steps)
    arms["abc-s0"] = (b["task"]["x"][:n], b["task"]["y"][:n], None, p.steps)
    arms["real_a-s0"] = (real["x"][:n], real["y"][:n], None, p.steps)
    arms["proxy-s0"] = (b["proxy"]["x"], b["proxy"]["y"], None, p.steps)
    return arms


def scaling_arms(p: DownstreamParams, io) -> dict[str, tuple]:
    pool = io.load_npz("prepare", "pool.npz")
    bank = io.load_npz("generate", "scaling.npz")
    arms = {}
    for s in range(p.seeds):
        for N in p.ns_scaling:
            arms[f"real_{N}-s{s}"] = (pool["x"][:N], pool["path"][:N], None, p.steps)
            arms[f"gen_{N}-s{s}"] = (bank["x"][:N], bank["y"][:N], None, p.steps)
    return arms


def judge(io, item: str) -> dict[str, float]:
    """Accuracy of the intended label on generated samples by the real-data classifiers (logit > 0), next to the
    judge's accuracy on real test images of the same task (reported, not gated)."""
    out = {}
    if item == "task":
        ref = io.load_model("calibrate", build_cnn, name="ref_large")
        t = io.load_npz("prepare", "test.npz")
        out["judge_real_test_A"] = float(((predict(ref, t["x_A"]) > 0) == t["y_A"]).mean())
        for k in ("task", "task_a", "scratch"):
            b = io.load_npz("generate", f"{k}.npz")
            out[f"judge_{k}"] = float(((predict(ref, b["x"]) > 0) == b["y"]).mean())
    else:
        ref = io.load_model("calibrate", build_cnn, name="foundation")
        t = io.load_npz("prepare", "busi.npz")
        out["judge_real_busi"] = float(((predict(ref, t["x"]) > 0) == t["y"]).mean())
        b = io.load_npz("generate", "scaling.npz")
        out["judge_scaling"] = float(((predict(ref, b["x"]) > 0) == b["y"]).mean())
    return out


def run(p: DownstreamParams, io) -> dict[str, float]:
    item = io.item.part
    if item == "task":
        arms = task_arms(p, io)
        t = io.load_npz("prepare", "test.npz")
        v = io.load_npz("prepare", "val.npz")
        evals = {"val": (v["x"], v["y"]), **{d: (t[f"x_{d}"], t[f"y_{d}"]) for d in TEST_DEVICES}}
    else:
        arms = scaling_arms(p, io)
        b = io.load_npz("prepare", "busi.npz")
        evals = {"busi": (b["x"], b["y"])}
    preds, metrics = {}, {}
    for k, (ys_name, (_, ys)) in enumerate(evals.items()):
        preds[f"y|{ys_name}"] = ys
    for name, (x, y, init, steps) in io.progress(list(arms.items()), desc=f"arms ({item})"):
        xt, yt = _t(x, y)
        model, hist = train_classifier(xt, yt, steps=steps, batch=p.batch, lr=p.lr, width=p.width,
                                       seed=io.seed(item, name), init=init)
        metrics[f"loss_{name}"] = hist.tail_mean()
        for e, (xe, ye) in evals.items():
            z = predict(model, xe)
            preds[f"{name}|{e}"] = z
            metrics[f"auc_{name}_{e}"] = float(auc(ye, z))
            if e == "busi":
                metrics[f"ce_{name}_{e}"] = cross_entropy(ye, z)
    io.save_npz("preds.npz", **preds)
    metrics.update(judge(io, item))
    metrics["n_arms"] = len(arms)
    return metrics
