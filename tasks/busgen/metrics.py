"""Metrics of the BUSGen reproduction (sheet, Metrics): AUC (Mann-Whitney with ties), paired test-set bootstrap of
AUCs, Youden threshold, sensitivity at a specificity, cross-entropy, distance to closest record and membership
inference. numpy/scipy only; vectorised over bootstrap replicates and arms."""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.stats import rankdata


def auc(y: np.ndarray, score: np.ndarray) -> np.ndarray:
    """ROC AUC of scores (n,) or (n, k) (one AUC per column) against binary labels y (n,); ties count 1/2."""
    y = np.asarray(y).astype(bool)
    s = np.asarray(score, dtype=np.float64)
    r = rankdata(s, axis=0)
    n1, n0 = y.sum(), (~y).sum()
    u = r[y].sum(axis=0) - n1 * (n1 + 1) / 2
    return u / (n1 * n0)


def bootstrap_aucs(y: np.ndarray, scores: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """AUC of every column of scores (n, k) on n_boot test-set resamples (the same rows for every column, so
    differences between columns are paired): (n_boot, k). Resamples are stratified by class (both classes kept)."""
    rng = np.random.default_rng(seed)
    y = np.asarray(y).astype(bool)
    pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
    out = np.empty((n_boot, scores.shape[1]))
    for b in range(n_boot):
        idx = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        out[b] = auc(y[idx], scores[idx])
    return out


def ci95(reps: np.ndarray) -> tuple[float, float]:
    lo, hi = np.quantile(reps, [0.025, 0.975])
    return float(lo), float(hi)


def youden_threshold(y: np.ndarray, score: np.ndarray) -> float:
    """The threshold t maximising sensitivity + specificity - 1 for the rule score >= t (first maximiser by
    ascending t)."""
    y = np.asarray(y).astype(bool)
    ts = np.unique(score)
    sens = (score[None, :] >= ts[:, None])[:, y].mean(1)
    spec = (score[None, :] < ts[:, None])[:, ~y].mean(1)
    return float(ts[int(np.argmax(sens + spec - 1))])


def sens_spec(y: np.ndarray, score: np.ndarray, t: float) -> tuple[float, float]:
    y = np.asarray(y).astype(bool)
    pred = score >= t
    return float(pred[y].mean()), float((~pred[~y]).mean())


def sens_at_spec(y: np.ndarray, score: np.ndarray, spec: float = 0.9) -> float:
    """Sensitivity at the smallest threshold whose specificity on these data is >= spec."""
    y = np.asarray(y).astype(bool)
    neg = np.sort(score[~y])
    t = neg[min(len(neg) - 1, int(np.ceil(spec * len(neg))) - 1)]
    return float((score[y] > t).mean())


def cross_entropy(y: np.ndarray, logit: np.ndarray) -> float:
    """Mean binary cross-entropy of logits (the paper's scaling curves use test loss)."""
    z = np.asarray(logit, dtype=np.float64)
    return float(np.mean(np.logaddexp(0, z) - np.asarray(y) * z))


def smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Light Gaussian smoothing of images (n, H, W) before pixel distances (speckle would dominate otherwise)."""
    x = np.asarray(x, dtype=np.float64)
    return gaussian_filter(x, (0, sigma, sigma)) if sigma > 0 else x


def nearest(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each row of a (n, d), the Euclidean distance to its nearest row of b (m, d)."""
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.clip(d2, 0, None).min(1))


def dcr_ratio(gen: np.ndarray, train: np.ndarray, heldout: np.ndarray) -> dict[str, float]:
    """Median DCR(generated -> train) / median DCR(held-out real -> train) (>= 0.9: not closer than fresh data)."""
    g, h = np.median(nearest(gen, train)), np.median(nearest(heldout, train))
    return {"dcr_gen": float(g), "dcr_heldout": float(h), "dcr_ratio": float(g / h)}


def mia_auc(members: np.ndarray, nonmembers: np.ndarray, gen: np.ndarray) -> float:
    """Membership inference: score = -distance of a real image to its nearest generated sample; AUC of members
    (training images) vs non-members (held-out). 0.5 = no membership signal, 1 = every member is nearer."""
    s = -np.concatenate([nearest(members, gen), nearest(nonmembers, gen)])
    y = np.concatenate([np.ones(len(members)), np.zeros(len(nonmembers))])
    return float(auc(y, s))
