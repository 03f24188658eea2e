"""Stage `evaluate`: test ranking of every trained arm and seed, spikes, delivered-spike counts, delays and
first-spike times (sheet, Measurements). Run: `paperflow stage grsnn evaluate`.

Per item: filtered pessimistic / optimistic ranks of every test query (both directions), saved for the report's
bootstrap. Spiking arms: firing rate (per step, overall, over reached nodes), the share of queries whose answer got
no spike, delivered spikes per query (the op counts of ops.py), first-spike time of the answer vs the median
filtered negative (no spike = +inf). GRSNN: the learned real-valued delays per (query relation, graph relation),
mean over channels, and the paternal vs maternal grandfather probe (first spike at the answer; not gated).
"""
from __future__ import annotations

import numpy as np
import torch

from . import kg
from .model import build, n_params
from .params import EvaluateParams
from .ranking import evaluate_split, load_data, summary

SPIKING = ("grsnn", "nodelay", "weights")


class SpikeStats:
    """Accumulates spike statistics over the recorded test batches of one model."""

    def __init__(self, data, T: int):
        self.data, self.T = data, T
        self.per_step, self.total, self.n_q, self.delivered = np.zeros(T), 0.0, 0, 0.0
        self.reached_spikes, self.reached_units = 0.0, 0.0
        self.answer_silent, self.answer_first, self.earlier = [], [], []
        self.D = None

    def __call__(self, b: torch.Tensor, scores: torch.Tensor, rec: dict) -> None:
        s = rec["spikes"]                                                   # (T, B, V, D)
        T, B, V, D = s.shape
        self.D = D
        self.per_step += s.sum((1, 2, 3)).numpy()
        self.total += float(s.sum())
        self.n_q += B
        self.delivered += float(rec["delivered"].sum())
        node_any = s.amax(3)                                                # (T, B, V)
        reached = node_any.amax(0) > 0                                       # (B, V)
        self.reached_spikes += float((s.sum((0, 3)) * reached).sum())
        self.reached_units += float(reached.sum()) * T * D
        t_idx = torch.arange(T, dtype=torch.float32)[:, None, None].expand_as(node_any)
        first = torch.where(node_any > 0, t_idx, torch.full_like(t_idx, float("inf"))).amin(0)   # (B, V)
        ans = self.data.all_ans[b[:, 0], b[:, 1]]
        for i in range(B):
            fa = float(first[i, b[i, 2]])
            neg = first[i][~ans[i]]
            med = float(neg.median()) if len(neg) else float("inf")       # lower median (torch)
            self.answer_silent.append(not np.isfinite(fa))
            self.answer_first.append(fa)
            self.earlier.append(bool(fa < med))

    def result(self, V: int) -> dict:
        units = self.n_q * V * self.D
        return {"firing_rate": self.total / (units * self.T), "firing_rate_per_step": (self.per_step / units).tolist(),
                "firing_rate_reached": self.reached_spikes / max(self.reached_units, 1.0),
                "delivered_per_query": self.delivered / self.n_q,
                "answer_silent_share": float(np.mean(self.answer_silent)),
                "answer_first_spike_earlier_share": float(np.mean(self.earlier))}


def delay_table(model) -> np.ndarray:
    """(Q, R) mean real delay over channels, for every query relation and graph relation."""
    with torch.no_grad():
        return model.relation_params(model.query.weight).mean(2).numpy()


def g3_relations(delays: np.ndarray) -> dict:
    """Per query relation with a non-trivial rule body: mean delay(body) < mean delay(others)?"""
    out = {}
    R = delays.shape[1]
    for q in range(delays.shape[0]):
        body = sorted(kg.query_body(q))
        other = [r for r in range(R) if r not in body]
        if not other:
            continue                                                        # the body uses every graph relation
        out[kg.QUERY_RELS[q]] = {"body": float(delays[q, body].mean()), "other": float(delays[q, other].mean()),
                                 "shorter": bool(delays[q, body].mean() < delays[q, other].mean())}
    return out


def paternal_probe(first: list[float], qs: np.ndarray, arrays: dict) -> dict:
    """Answer first-spike time on grandfather_of tail queries: paternal (via a son) vs maternal (via a daughter)."""
    par = {(h, t): r for h, r, t in arrays["base"].tolist() if r in (kg.F, kg.M)}
    kids = {}
    for (h, t), r in par.items():
        kids.setdefault(h, []).append(t)
    gf = kg.DERIVED.index("grandfather_of")
    pat, mat = [], []
    for (h, q, t), f in zip(qs.tolist(), first):
        if q != gf:
            continue
        mid = next(z for z in kids.get(h, []) if (z, t) in par)
        (pat if par[(mid, t)] == kg.F else mat).append(f)
    fin = lambda x: float(np.mean([v for v in x if np.isfinite(v)])) if any(np.isfinite(x)) else None  # noqa: E731
    return {"n_paternal": len(pat), "n_maternal": len(mat), "first_spike_paternal": fin(pat),
            "first_spike_maternal": fin(mat)}


def run(p: EvaluateParams, io) -> dict[str, float]:
    arrays = io.load_npz("prepare", "kg.npz")
    data = load_data(arrays)
    res, ranks, metrics = {}, {}, {}
    for item in io.items_of["train"]:
        model = io.load_model("train", build, item=item, freeze=True)
        arm, cfg = model.cfg["arm"], model.cfg
        stats = SpikeStats(data, cfg["T"]) if arm in SPIKING else None
        r = evaluate_split(model, data, "test", p.batch, record=stats)
        ranks[f"{item}__pess"], ranks[f"{item}__opt"] = r["pess"], r["opt"]
        entry = {"arm": arm, "seed": item.seed, "n_params": n_params(model), "cfg": cfg, **summary(r["pess"], r["opt"])}
        if stats is not None:
            entry.update(stats.result(data.n))
            if arm == "grsnn":
                d = delay_table(model)
                entry["delays"] = d.tolist()
                entry["g3_relations"] = g3_relations(d)
                entry["paternal_probe"] = paternal_probe(stats.answer_first, data.queries["test"], arrays)
        res[str(item)] = entry
        metrics[f"mrr_{item}"] = entry["mrr"]
    io.save_npz("ranks.npz", **ranks)
    io.save_json("results.json", {"items": res, "n_test_queries": len(data.queries["test"]), "V": data.n,
                                  "E": int(len(data.graph.src)), "R": len(kg.GRAPH_RELS), "Q": len(kg.QUERY_RELS)})
    return metrics
