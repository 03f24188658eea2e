"""Stage `prepare`: the four synthetic splits (tasks/larvseg/data.py), each from its own seeded stream.

D_seg (base classes, full masks), D_cls (one novel object, image label; masks stored for diagnostics and the
oracle only), D_val and D_test (1-2 novel objects on base regions, full masks). Images are stored as float16.
Run: `paperflow stage larvseg prepare`.
"""
from __future__ import annotations

import numpy as np

from . import data as D
from .params import PrepareParams


def splits(p: PrepareParams, seed_of) -> dict[str, np.ndarray]:
    """All arrays of the four splits; seed_of(name) gives each split's seed (disjoint streams)."""
    area = (p.obj_min, p.obj_max)
    out = {}
    x, y, _ = D.make_seg(np.random.default_rng(seed_of("seg")), p.n_seg, area, p.noise)
    out.update(seg_x=x, seg_y=y)
    x, y, _, c, ctx = D.make_cls(np.random.default_rng(seed_of("cls")), p.n_cls, p.rho, area, p.noise)
    out.update(cls_x=x, cls_y=y, cls_c=c, cls_ctx=ctx)
    for name, n in (("val", p.n_val), ("test", p.n_test)):
        x, y, _ = D.make_eval(np.random.default_rng(seed_of(name)), n, area, p.noise, p.eval_context)
        out.update({f"{name}_x": x, f"{name}_y": y})
    return {k: (v.astype(np.float16) if k.endswith("_x") else v) for k, v in out.items()}


def run(p: PrepareParams, io) -> dict[str, float]:
    arr = splits(p, lambda name: io.seed("split", name))
    io.save_npz("data.npz", **arr)
    io.save_json("meta.json", {"base": list(D.BASE), "novel": list(D.NOVEL),
                               "context": {str(k): v for k, v in D.CONTEXT.items()}})
    frac = (arr["cls_y"] == arr["cls_c"][:, None, None]).mean((1, 2))
    return {"n_seg": p.n_seg, "n_cls": p.n_cls, "n_val": p.n_val, "n_test": p.n_test,
            "cls_context_ratio": float(arr["cls_ctx"].mean()), "cls_object_frac_mean": float(frac.mean()),
            "test_novel_pixel_frac": float(np.isin(arr["test_y"], D.NOVEL).mean())}
