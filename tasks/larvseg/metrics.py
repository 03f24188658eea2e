"""Segmentation metrics (sheet "Metrics (exact)"): dataset-level IoU (sum of intersections / sum of unions over
all pixels, as mmseg) split into base / novel, per-image intersections and unions for bootstrap CIs, one-point
propagation, and the per-image ROC-AUC of the CA attention. All vectorised over images."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from . import data as D


def inter_union(pred: np.ndarray, gt: np.ndarray, n_cls: int = D.K) -> tuple[np.ndarray, np.ndarray]:
    """pred, gt (n, H, W) ints (gt 255 = ignore) -> per-image intersections and unions (n, K)."""
    n = len(gt)
    pred, gt = pred.reshape(n, -1).astype(np.int64), gt.reshape(n, -1).astype(np.int64)
    ok = gt < n_cls
    img = np.broadcast_to(np.arange(n)[:, None], gt.shape)
    conf = np.bincount((img * n_cls * n_cls + gt * n_cls + pred)[ok], minlength=n * n_cls * n_cls)
    conf = conf.reshape(n, n_cls, n_cls)                                       # (n, gt, pred)
    inter = np.diagonal(conf, axis1=1, axis2=2)
    return inter, conf.sum(2) + conf.sum(1) - inter


def dataset_iou(inter: np.ndarray, union: np.ndarray) -> np.ndarray:
    """(n, K) -> (K,) dataset-level IoU in percent (nan where a class never occurs in gt or prediction)."""
    u = union.sum(0)
    return np.where(u > 0, 100.0 * inter.sum(0) / np.maximum(u, 1), np.nan)


def per_image_iou(inter: np.ndarray, union: np.ndarray) -> np.ndarray:
    """(K,) mean over images of per-image IoU (images where the class is absent from gt and prediction skipped);
    the definition the pipeline does NOT use, kept for the test that shows they differ."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return 100.0 * np.nanmean(np.where(union > 0, inter / union, np.nan), 0)


def split_miou(iou: np.ndarray) -> dict[str, float]:
    return {"novel": float(np.nanmean(iou[list(D.NOVEL)])), "base": float(np.nanmean(iou[list(D.BASE)])),
            "all": float(np.nanmean(iou))}


@torch.inference_mode()
def predict(model, x: np.ndarray, batch: int) -> np.ndarray:
    """Closed-vocabulary argmax over all K classes of bilinearly upsampled 32x32 logits -> (n, 32, 32)."""
    out = []
    for i in range(0, len(x), batch):
        _, _, lg = model(torch.from_numpy(x[i:i + batch].astype(np.float32)))
        out.append(F.interpolate(lg, size=(D.H, D.W), mode="bilinear", align_corners=False).argmax(1).numpy())
    return np.concatenate(out)


@torch.inference_mode()
def embeddings_full(model, x: np.ndarray, batch: int) -> torch.Tensor:
    """L2-normalised embeddings bilinearly upsampled to 32x32: (n, H*W, D)."""
    out = []
    for i in range(0, len(x), batch):
        e = model.embed(torch.from_numpy(x[i:i + batch].astype(np.float32))).permute(0, 3, 1, 2)
        e = F.interpolate(e, size=(D.H, D.W), mode="bilinear", align_corners=False)
        out.append(F.normalize(e, dim=1).flatten(2).transpose(1, 2))
    return torch.cat(out)


def propagate(emb: torch.Tensor, gt: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One-point propagation: one random GT pixel per present class of each image; every pixel takes the class
    of its most cosine-similar seed. emb (n, P, D), gt (n, H, W) -> predicted labels (n, H, W)."""
    n = len(gt)
    g = torch.from_numpy(gt.reshape(n, -1).astype(np.int64))
    onehot = g[:, :, None] == torch.arange(D.K)[None, None]                    # (n, P, K)
    r = torch.from_numpy(rng.uniform(size=onehot.shape[:2]).astype(np.float32))
    seed_pix = torch.where(onehot, r[..., None], -1.0).argmax(1)               # (n, K) a random pixel per class
    present = onehot.any(1)
    seeds = emb.gather(1, seed_pix[..., None].expand(-1, -1, emb.shape[-1]))   # (n, K, D)
    sim = (emb @ seeds.transpose(1, 2)).masked_fill(~present[:, None, :], float("-inf"))
    return sim.argmax(-1).reshape(gt.shape).numpy()


def roc_auc_rows(score: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Per-row ROC-AUC (Mann-Whitney, average ranks for ties) of score (n, P) against bool pos (n, P); nan for
    rows with no positive or no negative."""
    from scipy.stats import rankdata

    ranks = rankdata(score, axis=1)
    npos, nneg = pos.sum(1), (~pos).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = ((ranks * pos).sum(1) - npos * (npos + 1) / 2) / (npos * nneg)
    return np.where((npos > 0) & (nneg > 0), auc, np.nan)
