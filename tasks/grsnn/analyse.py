"""Stage `analyse`: energy from the counted ops (ops.py), parameter counts (analytic and instantiated, K1 and
FB15k-237 scale) and the timing interpretation (G3 inputs), averaged over GRSNN seeds.

Run: `paperflow stage grsnn analyse`.
"""
from __future__ import annotations

import numpy as np

from . import ops
from .model import params_closed_form
from .params import AnalyseParams


def _mean(xs):
    xs = [x for x in xs if x is not None]
    return float(np.mean(xs)) if xs else None


def run(p: AnalyseParams, io) -> dict[str, float]:
    res = io.load_json("evaluate", "results.json")
    items, V, E, R, Q = res["items"], res["V"], res["E"], res["R"], res["Q"]
    g = [e for e in items.values() if e["arm"] == "grsnn"]
    cfg = g[0]["cfg"]
    D, T, L = cfg["dim"], cfg["T"], cfg["layers"]
    acs = _mean([ops.grsnn_acs(e["delivered_per_query"], D) for e in g])
    energy = ops.energy_ratios(acs, V, E, D, T, R, L, p.e_ac_pj, p.e_mac_pj)
    energy.update({"grsnn_acs_per_query": acs, "grsnn_state_acs_per_query": ops.grsnn_state_acs(V, D, T),
                   "nbfnet_macs_per_query": ops.nbfnet_macs(V, E, D, L),
                   "shared_macs_grsnn": ops.shared_macs("grsnn", V, D, R, L),
                   "shared_macs_nbfnet": ops.shared_macs("nbfnet", V, D, R, L),
                   "firing_rate": _mean([e["firing_rate"] for e in g]),
                   "firing_rate_reached": _mean([e["firing_rate_reached"] for e in g]),
                   "e_ac_pj": p.e_ac_pj, "e_mac_pj": p.e_mac_pj})
    params = {"k1": {a: params_closed_form(a, D, R, Q, L) for a in ("grsnn", "nodelay", "nbfnet")},
              "fb15k237": {a: params_closed_form(a, D, p.fb_query_rels, p.fb_query_rels, L) for a in ("grsnn", "nbfnet")},
              "instantiated": {e["arm"]: e["n_params"] for e in items.values()}}
    params["ratio_k1"] = params["k1"]["nbfnet"] / params["k1"]["grsnn"]
    params["ratio_fb15k237"] = params["fb15k237"]["nbfnet"] / params["fb15k237"]["grsnn"]
    rel_shares, n_rels = [], []
    for e in g:
        rel = e["g3_relations"]
        rel_shares.append(float(np.mean([v["shorter"] for v in rel.values()])) if rel else None)
        n_rels.append(len(rel))
    timing = {"share_relations_body_shorter": _mean(rel_shares), "n_query_relations": int(max(n_rels, default=0)),
              "share_queries_answer_spikes_first": _mean([e["answer_first_spike_earlier_share"] for e in g]),
              "per_seed_relation_share": rel_shares,
              "answer_silent_share": _mean([e["answer_silent_share"] for e in g]),
              "paternal_probe": [e["paternal_probe"] for e in g]}
    io.save_json("analysis.json", {"energy": energy, "params": params, "timing": timing, "D": D, "T": T, "L": L})
    return {"energy_ratio_core": energy["core"], "energy_ratio_all": energy["all"],
            "energy_ratio_core_no_state": energy["core_no_state"], "firing_rate": energy["firing_rate"] or 0.0,
            "params_ratio_k1": params["ratio_k1"], "params_ratio_fb15k237": params["ratio_fb15k237"],
            "g3_share_relations": timing["share_relations_body_shorter"] or 0.0,
            "g3_share_queries": timing["share_queries_answer_spikes_first"] or 0.0}
