"""Probe (not a pipeline stage): time 20 training steps per arm and train one arm briefly, printing validation MRR
per epoch, to fix the recipe before the comparison arms run. Validation only; the test split is never read.

Run: `python -m tasks.grsnn.probe [--arm grsnn] [--epochs 10] [--w-gain 3] [--time-only]`.
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from tasks.common.train import EarlyStop, Schedule, epoch_batches, fit

from . import kg
from .model import ARMS, build
from .params import PrepareParams, TrainParams
from .ranking import evaluate_split, load_data, summary
from .train import adversarial_bce, model_config


def make_data(families: int, seed: int = 0):
    g = kg.generate(np.random.default_rng(seed), families)
    sp = kg.split(g.derived, np.random.default_rng(seed + 1))
    return load_data({"male": g.male, "edge": kg.edges(g.base), **{f"facts_{s}": v for s, v in sp.items()}})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arm", default="grsnn")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--time-only", action="store_true")
    ap.add_argument("--set", nargs="*", default=[], help="NetParams overrides key=value")
    a = ap.parse_args()
    torch.set_num_threads(1)
    tp = TrainParams(**{k: float(v) if "." in v else int(v) for k, v in (s.split("=") for s in a.set)})
    data = make_data(PrepareParams().families)
    tr = torch.as_tensor(data.queries["train"])
    print(f"V={data.n} E={len(data.graph.src)} train queries={len(tr)} valid={len(data.queries['valid'])}")
    for arm in (ARMS if a.time_only else [a.arm]):
        torch.manual_seed(0)
        model = build(model_config(tp, arm))
        spe = math.ceil(len(tr) / tp.batch)
        epochs = 1 if a.time_only else a.epochs
        steps = 20 if a.time_only else epochs * spe
        batches = epoch_batches(len(tr), tp.batch, 10**6, torch.Generator().manual_seed(0))

        def loss_fn(step):
            b = tr[next(batches)]
            return adversarial_bce(model(data.graph, b[:, 0], b[:, 1]), b[:, 2], ~data.train_ans[b[:, 0], b[:, 1]],
                                   tp.temperature)

        def eval_fn(step):
            m = summary(evaluate_split(model, data, "valid")["pess"])["mrr"]
            print(f"  {arm} step {step} ({step / spe:.1f} ep) val MRR {m:.3f}  [{time.perf_counter() - t0:.0f} s]",
                  flush=True)
            return {"val_mrr": m}

        t0 = time.perf_counter()
        fit(model, loss_fn, Schedule(steps, tp.lr, min_ratio=1.0, optimizer="adam"),
            eval_fn=None if a.time_only else eval_fn, eval_every=spe,
            early_stop=None if a.time_only else EarlyStop("val_mrr", patience=10**6))
        dt = time.perf_counter() - t0
        print(f"{arm}: {steps} steps {dt:.2f} s ({dt / steps * 1000:.0f} ms/step, {spe} steps/epoch)", flush=True)


if __name__ == "__main__":
    main()
