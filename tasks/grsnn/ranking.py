"""Filtered ranking with pessimistic ties (sheet, Measurements), the data bundle every stage shares, and the
batched scoring loop.

rank = #{non-answer candidates scoring >= the positive} + 1 (pessimistic, as the official code); optimistic uses >;
"realistic" is their mean. Filtered: every other true answer of (h, q) over train + valid + test is removed from
the candidates; the positive itself stays.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import kg
from .model import Graph


def ranks(scores: torch.Tensor, target: torch.Tensor, answers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """scores (B, V), target (B,), answers (B, V) bool (all true answers of each (h, q), target included)
    -> (pessimistic, optimistic) ranks (B,)."""
    pos = scores.gather(1, target[:, None])                          # (B, 1)
    neg = ~answers
    pess = ((scores >= pos) & neg).sum(1) + 1
    opt = ((scores > pos) & neg).sum(1) + 1
    return pess, opt


def summary(pess: np.ndarray, opt: np.ndarray | None = None) -> dict[str, float]:
    pess = np.asarray(pess, dtype=np.float64)
    out = {"mrr": float((1 / pess).mean()), "mr": float(pess.mean()),
           **{f"hits{k}": float((pess <= k).mean()) for k in (1, 3, 10)}}
    if opt is not None:
        real = (pess + np.asarray(opt, dtype=np.float64)) / 2
        out["mrr_realistic"] = float((1 / real).mean())
        out["mrr_optimistic"] = float((1 / np.asarray(opt, dtype=np.float64)).mean())
    return out


@dataclass
class Data:
    n: int
    graph: Graph
    queries: dict[str, np.ndarray]     # split -> (N, 3) (h, q, t), both directions
    train_ans: torch.Tensor            # (V, Q, V) bool: answers among training queries (strict negatives)
    all_ans: torch.Tensor              # (V, Q, V) bool: answers over train + valid + test (the filter)


def load_data(arrays: dict[str, np.ndarray]) -> Data:
    n = len(arrays["male"])
    qs = {s: kg.queries(arrays[f"facts_{s}"]) for s in ("train", "valid", "test")}
    Q = len(kg.QUERY_RELS)

    def mask(*splits):
        m = torch.zeros(n, Q, n, dtype=torch.bool)
        for s in splits:
            x = torch.as_tensor(qs[s])
            m[x[:, 0], x[:, 1], x[:, 2]] = True
        return m

    return Data(n, Graph(arrays["edge"], n), qs, mask("train"), mask("train", "valid", "test"))


@torch.no_grad()
def evaluate_split(model, data: Data, split: str, batch: int = 64, record=None) -> dict:
    """Pessimistic/optimistic ranks of every query of `split`; `record(batch_queries, scores, rec)` sees the
    recorded spikes of each batch when given."""
    qs = torch.as_tensor(data.queries[split])
    P, O = [], []
    for i in range(0, len(qs), batch):
        b = qs[i:i + batch]
        if record is None:
            sc = model(data.graph, b[:, 0], b[:, 1])
        else:
            sc, rec = model(data.graph, b[:, 0], b[:, 1], record=True)
            record(b, sc, rec)
        p, o = ranks(sc, b[:, 2], data.all_ans[b[:, 0], b[:, 1]])
        P.append(p), O.append(o)
    return {"pess": torch.cat(P).numpy(), "opt": torch.cat(O).numpy()}
