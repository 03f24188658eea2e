"""Stage `prepare`: every image set of the pipeline from the seeded simulator (sim.py), each from its own salted seed
(sheet, Data). Run: `paperflow stage busgen prepare`.

Files (uint8 images (n, H, W); task labels y: 0 benign, 1 DCIS-like; pool labels path: 0 benign, 1 malignant):
  pool.npz       x, path, dev (0..2 = A/B/C)    generator pretraining + foundation classifier + P3 real_N
  fewshot.npz    x, y                           the 64 adaptation images (device A)
  val.npz        x, y                           calibration gate, Youden thresholds (device A)
  test.npz       x_A, y_A, x_B, y_B, x_C, y_C, x_D, y_D   task test per device (D never seen anywhere)
  busi.npz       x, y, dev                      benign-vs-malignant test, pool mix (P3)
  heldout.npz    x, y                           held-out real task images (privacy non-members)
  real_task.npz  x, y                           real device-A task images (calibration reference, P4 arm i)
  copies.npz     x, src                         re-speckled copies of the few-shot images (privacy positive control)
Subtype labels (invasive vs DCIS-like among malignant) are never written: they are hidden, as in the paper's data.
"""
from __future__ import annotations

import numpy as np

from . import sim
from .params import PrepareParams


def _task_set(rng: np.random.Generator, per_class: int, device: int, p: PrepareParams, keep_latents: bool = False):
    """Benign vs DCIS-like, interleaved (every prefix of even length is balanced), one device."""
    n = 2 * per_class
    y = np.arange(n) % 2
    lat = sim.latents(rng, np.where(y == 1, sim.DCIS, sim.BENIGN), p.sep)
    if keep_latents:
        lat["fields"] = sim.anatomy_fields(rng, n, p.size)
    x = sim.draw(rng, lat, np.full(n, device), p.size)
    return (x, y.astype(np.int64), lat) if keep_latents else (x, y.astype(np.int64))


def _pathology_set(rng: np.random.Generator, n: int, p: PrepareParams):
    """Benign vs malignant (of which dcis_frac DCIS-like), devices A/B/C equal, shuffled."""
    nb = n // 2
    nm = n - nb
    nd = int(round(nm * p.dcis_frac))
    sub = np.concatenate([np.full(nb, sim.BENIGN), np.full(nm - nd, sim.INVASIVE), np.full(nd, sim.DCIS)])
    dev = np.arange(n) % 3
    perm = rng.permutation(n)
    sub, dev = sub[perm], dev[rng.permutation(n)]
    x = sim.draw(rng, sim.latents(rng, sub, p.sep), dev, p.size)
    return x, (sub > 0).astype(np.int64), dev.astype(np.int64)


def run(p: PrepareParams, io) -> dict[str, float]:
    r = lambda name: np.random.default_rng(io.seed(name))          # noqa: E731  one stream per set
    x, path, dev = _pathology_set(r("pool"), p.pool, p)
    io.save_npz("pool.npz", x=x, path=path, dev=dev)
    metrics = {"n_pool": len(x), "pool_malignant": float(path.mean())}
    for k, name in enumerate("ABC"):
        metrics[f"pool_mean_{name}"] = float(x[dev == k].mean())
        metrics[f"pool_std_{name}"] = float(x[dev == k].std())

    xf, yf, lat = _task_set(r("fewshot"), p.fewshot, 0, p, keep_latents=True)
    io.save_npz("fewshot.npz", x=xf, y=yf)
    src = np.repeat(np.arange(len(xf)), p.copies)
    io.save_npz("copies.npz", x=sim.draw(r("copies"), sim.take(lat, src), np.zeros(len(src), int), p.size), src=src)

    for name, per_class in (("val", p.val), ("heldout", p.heldout), ("real_task", p.real_task // 2)):
        xs, ys = _task_set(r(name), per_class, 0, p)
        io.save_npz(f"{name}.npz", x=xs, y=ys)
        metrics[f"n_{name}"] = len(xs)
    test = {}
    for k, name in enumerate(sim.DEVICES):
        xs, ys = _task_set(r(f"test_{name}"), p.test_a if name == "A" else p.test_other, k, p)
        test[f"x_{name}"], test[f"y_{name}"] = xs, ys
        metrics[f"test_mean_{name}"] = float(xs.mean())
    io.save_npz("test.npz", **test)
    xb, yb, db = _pathology_set(r("busi"), 2 * p.busi, p)
    io.save_npz("busi.npz", x=xb, y=yb, dev=db)
    metrics.update(n_fewshot=len(xf), n_copies=len(src), n_test_A=len(test["y_A"]), n_busi=len(xb))
    return metrics
