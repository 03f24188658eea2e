"""LarvSeg's losses (sheet "Method to implement"; official `larv_seg_head.py`), vectorised over the batch.

- `seg_ce`: per-pixel CE (ignore 255) on labels nearest-downsampled to the 16x16 loss resolution.
- `gap_ce` / `gap_ce_multi`: the image-level "basic" loss, a softmax CE on the spatially averaged logit map (logits,
  not features); multi-label: one term per present label with the other present labels removed from the softmax.
- `Bank`: per-class FIFO memory of M slots x k pixel embeddings (L2-normalised, detached); a class's bank is used
  once it has been filled `warm_up` times (M * warm_up enqueues).
- `ca_attention` + `ca_loss`: the category-wise attentive classifier. Foreground = mean cosine similarity to every
  entry of the labelled class's bank; background = mean similarity to the banks of the "background" classes (top-5
  pixel score > 0.35, not the label, standardised fg-map vs bg-map MSE > 2.0); A = sigmoid(standardise_pixels(fg -
  bg)) with no gradient; L_CA = CE(mean_pixels(A * logits), c). The bank state is the one at the start of the step
  (all images of a batch see the same bank); the batch is enqueued afterwards, in batch order. `ca_loss_reference`
  is the per-image loop the vectorised version is tested against.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE = 255


def seg_ce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """logits (n, K, h, w), labels (n, h, w) int (255 = ignore) -> mean CE over labelled pixels."""
    return F.cross_entropy(logits, labels.long(), ignore_index=IGNORE)


def gap_ce(logits: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
    """logits (n, K, P) over P pixels, cls (n,) -> mean over images of CE(mean_p logits, c)."""
    return F.cross_entropy(logits.mean(-1), cls)


def gap_ce_multi(logits: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """logits (n, K, P), present (n, K) bool label sets -> mean over all (image, label) terms of the CE of the
    pooled logits against the label, with the image's other present labels removed from the softmax."""
    pooled = logits.mean(-1)                                                   # (n, K)
    K = pooled.shape[1]
    eye = torch.eye(K, dtype=torch.bool, device=pooled.device)
    drop = present[:, None, :] & ~eye[None]                                    # (n, term l, class) others present
    lsm = torch.log_softmax(pooled[:, None, :].expand(-1, K, -1).masked_fill(drop, float("-inf")), -1)
    nll = -torch.diagonal(lsm, dim1=1, dim2=2)                                 # (n, K): term l at class l
    return nll[present].mean()


def standardise(x: torch.Tensor, dim: int, eps: float = 1e-6) -> torch.Tensor:
    """Zero mean, unit (biased) std along `dim`."""
    m = x.mean(dim, keepdim=True)
    return (x - m) / (x.var(dim, unbiased=False, keepdim=True).sqrt() + eps)


class Bank:
    """Per-class FIFO memory banks: mem (K, M, k, D), write pointer and total enqueues per class."""

    def __init__(self, n_cls: int, slots: int, k: int, dim: int):
        self.slots, self.k = slots, k
        self.mem = torch.zeros(n_cls, slots, k, dim)
        self.ptr = torch.zeros(n_cls, dtype=torch.long)
        self.count = torch.zeros(n_cls, dtype=torch.long)

    def ready(self, warm_up: int = 1) -> torch.Tensor:
        """(K,) bool: the bank has been filled `warm_up` times."""
        return self.count >= self.slots * warm_up

    def enqueue(self, cls: torch.Tensor, entries: torch.Tensor) -> None:
        """cls (n,), entries (n, k, D): enqueue in batch order (vectorised: each entry's rank among the batch's
        entries of its class gives its slot; only the last M of a class survive, as FIFO would leave them)."""
        if len(cls) == 0:
            return
        entries = F.normalize(entries.detach().float(), dim=-1)
        onehot = F.one_hot(cls, self.mem.shape[0])                             # (n, K)
        rank = (onehot.cumsum(0) - 1).gather(1, cls[:, None]).squeeze(1)       # 0-based rank within its class
        total = onehot.sum(0)                                                  # (K,)
        keep = rank >= total[cls] - self.slots
        slot = (self.ptr[cls] + rank) % self.slots
        self.mem[cls[keep], slot[keep]] = entries[keep]
        self.ptr = (self.ptr + total) % self.slots
        self.count = self.count + total

    def means(self) -> torch.Tensor:
        """(K, D) mean of every entry of each bank: e . means[c] = mean cosine similarity to c's entries."""
        return self.mem.mean((1, 2))

    def state(self) -> dict[str, torch.Tensor]:
        return {"mem": self.mem, "ptr": self.ptr, "count": self.count}

    @classmethod
    def from_state(cls, st: dict[str, torch.Tensor]) -> "Bank":
        K, M, k, D = st["mem"].shape
        b = cls(K, M, k, D)
        b.mem, b.ptr, b.count = st["mem"].clone(), st["ptr"].clone(), st["count"].clone()
        return b


def topk_weak(e: torch.Tensor, s: torch.Tensor, cls: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """e (n, P, D), s (n, P, K), cls (n,) -> the k pixels with the highest score for each image's class:
    entries (n, k, D), pixel indices (n, k)."""
    sc = s.gather(2, cls[:, None, None].expand(-1, s.shape[1], 1)).squeeze(2)  # (n, P)
    idx = sc.topk(k, dim=1).indices
    return e.gather(1, idx[..., None].expand(-1, -1, e.shape[-1])), idx


def topk_masked(e: torch.Tensor, s: torch.Tensor, labels: torch.Tensor, classes: torch.Tensor, k: int):
    """Base banks from mask data: for every image and class in `classes` covering >= k pixels of the label map
    (n, P), the k pixels of that region with the highest score. -> (class ids (m,), entries (m, k, D)) in
    image-major, class-minor order."""
    inside = labels[:, :, None] == classes[None, None, :]                      # (n, P, C)
    sc = s[:, :, classes].masked_fill(~inside, float("-inf"))
    idx = sc.topk(k, dim=1).indices                                            # (n, k, C)
    ok = inside.sum(1) >= k                                                    # (n, C)
    ent = e.gather(1, idx.permute(0, 2, 1).reshape(len(e), -1)[..., None].expand(-1, -1, e.shape[-1]))
    ent = ent.reshape(len(e), len(classes), k, -1)                             # (n, C, k, D)
    return classes[None].expand(len(e), -1)[ok], ent[ok]


@torch.no_grad()
def ca_attention(e: torch.Tensor, s: torch.Tensor, cls: torch.Tensor, bank_means: torch.Tensor, ready: torch.Tensor,
                 bg_thr: float = 0.35, mse_thr: float = 2.0, suppress: bool = True):
    """e (n, P, D), s (n, P, K) cosine scores, cls (n,) -> attention A (n, P) in (0, 1) (no gradient) and the kept
    background classes (n, K) bool."""
    sim = e @ bank_means.T                                                     # (n, P, K)
    fg = sim.gather(2, cls[:, None, None].expand(-1, sim.shape[1], 1)).squeeze(2)
    K = s.shape[-1]
    keep = torch.zeros(len(e), K, dtype=torch.bool)
    bg = torch.zeros_like(fg)
    if suppress:
        top5 = s.topk(min(5, s.shape[1]), dim=1).values.mean(1)                # (n, K)
        cand = (top5 > bg_thr) & ready[None] & (torch.arange(K)[None] != cls[:, None])
        mse = ((standardise(sim, 1) - standardise(fg, 1)[..., None]) ** 2).mean(1)
        keep = cand & (mse > mse_thr)
        bg = (sim * keep[:, None, :]).sum(-1) / keep.sum(-1).clamp(min=1)[:, None]
    return torch.sigmoid(standardise(fg - bg, 1)), keep


def ca_loss(logits: torch.Tensor, att: torch.Tensor, cls: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """logits (n, K, P), att (n, P) detached, valid (n,) bool (class bank ready) -> mean CE over valid images of
    mean_p(A * logits) against c (0 with the graph kept when none is valid)."""
    pooled = (att.detach()[:, None, :] * logits).mean(-1)                      # (n, K)
    ce = F.cross_entropy(pooled, cls, reduction="none")
    return (ce * valid).sum() / valid.sum().clamp(min=1)


def ca_loss_reference(logits, e, s, cls, bank: Bank, warm_up=1, bg_thr=0.35, mse_thr=2.0, suppress=True):
    """Per-image loop reference of one CA step (official-code style): each image's loss from the start-of-step
    bank, then its top-k pixels enqueued one image at a time. Returns (loss, bank after the step)."""
    means, ready = bank.means(), bank.ready(warm_up)
    K = s.shape[-1]
    terms = []
    for i in range(len(cls)):
        c = int(cls[i])
        if not ready[c]:
            continue
        with torch.no_grad():
            sim = e[i] @ means.T                                               # (P, K)
            fg = sim[:, c]
            bgs = []
            if suppress:
                for j in range(K):
                    top5 = s[i, :, j].topk(min(5, s.shape[1])).values.mean()
                    if j == c or not ready[j] or not top5 > bg_thr:
                        continue
                    z = lambda v: (v - v.mean()) / (v.var(unbiased=False).sqrt() + 1e-6)
                    if ((z(sim[:, j]) - z(fg)) ** 2).mean() > mse_thr:
                        bgs.append(sim[:, j])
            bg = torch.stack(bgs).mean(0) if bgs else torch.zeros_like(fg)
            d = fg - bg
            a = torch.sigmoid((d - d.mean()) / (d.var(unbiased=False).sqrt() + 1e-6))
        terms.append(F.cross_entropy((a[None] * logits[i]).mean(-1)[None], cls[i:i + 1]))
    loss = torch.stack(terms).mean() if terms else logits.sum() * 0
    new = Bank.from_state(bank.state())
    for i in range(len(cls)):
        c = int(cls[i])
        idx = s[i, :, c].topk(bank.k).indices
        new.mem[c, new.ptr[c]] = F.normalize(e[i, idx].detach(), dim=-1)
        new.ptr[c] = (new.ptr[c] + 1) % new.slots
        new.count[c] += 1
    return loss, new
