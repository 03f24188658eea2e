"""Stage `prepare`: the K1 family-tree KG (kg.py), its 70/15/15 split, the message graph and the ceilings.

Writes kg.npz (entities, base facts, message edges, derived facts per split) and meta.json (relation names, rule
bodies, counts, the relation-blind and typed ideal-model ceilings on valid and test). Kinships (pykeen) is not
built (see README). Run: `paperflow stage grsnn prepare`.
"""
from __future__ import annotations

import hashlib

import numpy as np

from . import kg
from .params import PrepareParams


def run(p: PrepareParams, io) -> dict[str, float]:
    g = kg.generate(np.random.default_rng(io.seed("k1")), p.families, (p.min_children, p.max_children),
                    (p.min_grandchildren, p.max_grandchildren))
    sp = kg.split(g.derived, np.random.default_rng(io.seed("split")))
    edge = kg.edges(g.base)
    all_q = kg.queries(g.derived)
    ceil = {f"{kind}_{s}": kg.ceiling(g.n, edge, kg.queries(sp[s]), all_q, typed)
            for kind, typed in (("blind", False), ("typed", True)) for s in ("valid", "test")}
    arrays = {"male": g.male, "family": g.family, "generation": g.generation, "base": g.base, "edge": edge,
              **{f"facts_{s}": v for s, v in sp.items()}}
    io.save_npz("kg.npz", **arrays)
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes() for a in arrays.values())).hexdigest()[:16]
    io.save_json("meta.json", {
        "n_entities": g.n, "graph_rels": list(kg.GRAPH_RELS), "query_rels": list(kg.QUERY_RELS),
        "rule_body": {kg.QUERY_RELS[q]: sorted(kg.query_body(q)) for q in range(len(kg.QUERY_RELS))},
        "ceilings": ceil, "sha256_16": digest,
        "facts_per_relation": np.bincount(g.derived[:, 1], minlength=kg.ND).tolist()})
    return {"n_entities": g.n, "n_base_facts": len(g.base), "n_edges": len(edge), "n_derived": len(g.derived),
            **{f"n_{s}": len(v) for s, v in sp.items()},
            **{f"ceiling_{k}_mrr": v["mrr"] for k, v in ceil.items()}}
