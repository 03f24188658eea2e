"""Probe (not a pipeline stage): time 20 training steps of each model, then train each at a candidate size and print
per-length accuracies on fresh problems, so the default profile's sizes are fixed before any claim's arms run.

    python -m tasks.relay.probe --model ar --steps 1000          # or looped / vanilla; --time-only for 20 steps
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from tasks.common.train import Schedule, fit

from . import data as D
from .batches import ARData, LoopData, ar_loss, looped_loss
from .decode import ar_chains, looped_chains, score
from .model import build_ar, build_looped, n_params


def make_sets(N: int, n_train: int, n_test: int, K: int, seed: int = 0, mod: int = D.P_MOD):
    rng = np.random.default_rng(seed)
    taken: set[str] = set()
    test = {k: D.draw_unique(rng, k, min(n_test, int(0.4 * mod ** (k + 1) * 2 ** k)), taken, mod=mod)
            for k in range(1, N + K + 1)}
    train = []
    for k, c in D.length_counts(n_train, list(range(1, N + 1))).items():
        train += D.draw_unique(rng, k, c, taken, mod=mod)
    return train, test


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="ar")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--N", type=int, default=6)
    ap.add_argument("--K", type=int, default=6)
    ap.add_argument("--n_train", type=int, default=40000)
    ap.add_argument("--n_test", type=int, default=100)
    ap.add_argument("--mod", type=int, default=7)
    ap.add_argument("--align", default="left")
    ap.add_argument("--eval_every", type=int, default=200)
    ap.add_argument("--time-only", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    train, test = make_sets(a.N, a.n_train, a.n_test, a.K, mod=a.mod)
    ks = [(len(e) - 1) // 2 for e in train]
    cfg = {"vocab": D.VOCAB, "d": a.d, "layers": a.layers, "heads": 4, "d_ff": 4 * a.d, "inject": True, "align": a.align}
    gen = torch.Generator().manual_seed(1)
    if a.model == "ar":
        model = build_ar(cfg)
        ds = ARData([D.ar_sequence(*D.split_expr(e), a.mod) for e in train], ks, by="ops")
        loss_fn = lambda s: ar_loss(model, *ds.draw(gen, a.batch))  # noqa: E731
    else:
        model = build_looped(cfg)
        ds = LoopData(train, ks, a.mod, by="ops", align=a.align)
        aligned = a.model == "looped"
        loss_fn = lambda s: looped_loss(model, *ds.draw(gen, a.batch), 1.0, aligned)  # noqa: E731
    steps = 20 if a.time_only else a.steps
    t0 = time.time()

    def report(step: int) -> dict:
        accs, toks = [], []
        for k, ex in test.items():
            if a.model == "ar":
                sc = score(ar_chains(model, ex, k), ex, a.mod)
                accs.append(sc["correct"].mean())
            else:
                R, A, ch = looped_chains(model, ex, k)
                sc = score(ch, ex, a.mod)
                accs.append(np.mean([a_ == D.direct_eval(*D.split_expr(e), a.mod) for a_, e in zip(A, ex)]))
            toks.append(sc["tok"].mean())
        print(f"step {step} {time.time() - t0:.0f}s acc " + " ".join(f"{v:.2f}" for v in accs)
              + " | tok " + " ".join(f"{v:.2f}" for v in toks), flush=True)
        return {}

    hist = fit(model, loss_fn, Schedule(steps, a.lr, warmup=max(1, steps // 50), weight_decay=0.01),
               eval_fn=None if a.time_only else report, eval_every=a.eval_every)
    dt = time.time() - t0
    print(f"{a.model}: {n_params(model)} params, {steps} steps in {dt:.1f} s ({1000 * dt / steps:.0f} ms/step), "
          f"loss tail {hist.tail_mean():.4f}")


if __name__ == "__main__":
    main()
