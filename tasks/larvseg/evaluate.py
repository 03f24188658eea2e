"""Stage `evaluate`: every trained item on D_val and D_test (dataset-level mIoU, base / novel / all), the D_val
headroom re-check (oracle - baseline novel mIoU, C2's precondition), one-point propagation with seg_only and a
randomly initialised network (C3), and the per-image ROC-AUC of the CA attention on D_cls (L4).

Per-image intersections and unions go to `iu.npz` so the report can bootstrap over test images. Run:
`paperflow stage larvseg evaluate`.
"""
from __future__ import annotations

import numpy as np
import torch

from . import data as D
from .losses import Bank, ca_attention
from .metrics import dataset_iou, embeddings_full, inter_union, predict, propagate, roc_auc_rows, split_miou
from .model import build
from .params import EvaluateParams
from .train import CA


def attention_auc(model, bank: Bank, arr: dict, n: int, ca: dict, method: str) -> np.ndarray:
    """Per-image ROC-AUC of A (object vs background pixels at 16x16) on the first n D_cls images."""
    x = torch.from_numpy(arr["cls_x"][:n].astype(np.float32))
    c = torch.from_numpy(arr["cls_c"][:n].astype(np.int64))
    with torch.inference_mode():
        e, s, _ = model(x)
        att, _ = ca_attention(e.flatten(1, 2), s.flatten(1, 2), c, bank.means(), bank.ready(ca["warm_up"]),
                              ca["bg_score"], ca["bg_mse"], suppress=method != "larvseg_fg_only")
    obj = D.downsample(arr["cls_y"][:n]).reshape(n, -1) == arr["cls_c"][:n, None]
    return roc_auc_rows(att.numpy(), obj)


def propagation(model, arr: dict, p: EvaluateParams, seed_of) -> dict[str, list[float]]:
    emb = embeddings_full(model, arr["test_x"], p.batch)
    out = {"novel": [], "base": []}
    for r in range(p.prop_repeats):
        pred = propagate(emb, arr["test_y"], np.random.default_rng(seed_of("prop", r)))
        m = split_miou(dataset_iou(*inter_union(pred, arr["test_y"])))
        out["novel"].append(m["novel"])
        out["base"].append(m["base"])
    return out


def run(p: EvaluateParams, io) -> dict[str, float]:
    arr = io.load_npz("prepare", "data.npz")
    items, res, iu, metrics = list(io.items_of["train"]), {}, {}, {}
    for it in items:
        model = io.load_model("train", build, item=it)
        r = {"method": it.method, "seed": it.seed}
        for split in ("val", "test"):
            inter, union = inter_union(predict(model, arr[f"{split}_x"], p.batch), arr[f"{split}_y"])
            iu[f"{it}__{split}_inter"], iu[f"{it}__{split}_union"] = inter, union
            iou = dataset_iou(inter, union)
            r[split] = split_miou(iou)
            if split == "test":
                r["test_iou"] = [None if v != v else float(v) for v in iou]
            metrics[f"{split}_novel_{it}"], metrics[f"{split}_base_{it}"] = r[split]["novel"], r[split]["base"]
        if it.method in CA:
            bank = Bank.from_state(io.load_torch("train", "bank.pt", item=it))
            auc = attention_auc(model, bank, arr, min(p.auc_images, len(arr["cls_c"])),
                                io.load_json("train", "ca.json", item=it), it.method)
            r["attention_auc"] = float(np.nanmean(auc))
            r["attention_auc_per_image"] = [float(a) for a in auc]
            metrics[f"attention_auc_{it}"] = r["attention_auc"]
        res[str(it)] = r
    val = {m: [r["val"]["novel"] for r in res.values() if r["method"] == m] for m in ("baseline", "oracle")}
    headroom = float(np.mean(val["oracle"]) - np.mean(val["baseline"])) if all(val.values()) else None
    prop = {}
    seg_only = [it for it in items if it.method == "seg_only"]
    if seg_only:
        seed_of = lambda *s: io.seed(*s)
        prop["seg_only"] = propagation(io.load_model("train", build, item=seg_only[0]), arr, p, seed_of)
        torch.manual_seed(io.seed("random-init"))
        rand = build(io.load_json("train", "model.json", item=seg_only[0])).eval()
        prop["random_init"] = propagation(rand, arr, p, seed_of)
        for k, v in prop.items():
            metrics[f"prop_novel_{k}"], metrics[f"prop_base_{k}"] = float(np.mean(v["novel"])), float(np.mean(v["base"]))
    io.save_npz("iu.npz", **iu)
    io.save_json("results.json", {"items": res, "headroom_val": headroom, "propagation": prop})
    if headroom is not None:
        metrics["headroom_val"] = headroom
    return metrics
