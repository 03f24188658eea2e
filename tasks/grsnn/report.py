"""Stage `report`: verdicts G1-G6 (criteria.py) from `evaluate` and `analyse`, a figure per claim, claims.json and
report.md. CIs: percentile bootstrap over test queries (seeds averaged inside each resample; paired across arms,
since every arm ranks the same queries) and a t-interval over seeds for the per-seed MRRs.

Run: `paperflow stage grsnn report`.
"""
from __future__ import annotations

import numpy as np
from scipy import stats as st

from tasks.common import plotting
from tasks.common.claims import ci, report
from tasks.common.stats import bootstrap_ci

from . import criteria as K
from . import kg
from .params import ReportParams

ARM_NAMES = {"grsnn": "GRSNN", "nodelay": "GRSNN-nodelay", "weights": "GRSNN-weights", "nbfnet": "NBFNet-lite"}


def rr_matrix(ranks: dict, items: dict, arm: str) -> np.ndarray | None:
    """(n_queries, seeds) reciprocal pessimistic ranks of one arm."""
    cols = [1.0 / ranks[f"{k}__pess"] for k, e in sorted(items.items()) if e["arm"] == arm]
    return np.stack(cols, 1) if cols else None


def mrr_ci(rr: np.ndarray, p: ReportParams) -> dict:
    lo, hi = bootstrap_ci(lambda x: x.mean(), rr, n_boot=p.n_boot, seed=p.seed)
    return ci(rr.mean(), lo, hi)


def gap_ci(a: np.ndarray, b: np.ndarray, p: ReportParams, ratio: bool = False) -> dict:
    f = (lambda x, y: x.mean() / y.mean()) if ratio else (lambda x, y: x.mean() - y.mean())
    lo, hi = bootstrap_ci(f, a, b, n_boot=p.n_boot, seed=p.seed)
    return ci(f(a, b), lo, hi)


def seed_ci(x: list[float]) -> dict:
    x = np.asarray(x, float)
    if len(x) < 2:
        return ci(x.mean(), float("nan"), float("nan"))
    h = st.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return ci(x.mean(), x.mean() - h, x.mean() + h)


def run(p: ReportParams, io) -> dict[str, float]:
    from . import PAPER

    res = io.load_json("evaluate", "results.json")
    ranks = io.load_npz("evaluate", "ranks.npz")
    an = io.load_json("analyse", "analysis.json")
    meta = io.load_json("prepare", "meta.json")
    items = res["items"]
    per_seed = {a: [e["mrr"] for _, e in sorted(items.items()) if e["arm"] == a] for a in ARM_NAMES}
    mean = {a: (float(np.mean(v)) if v else None) for a, v in per_seed.items()}
    rr = {a: rr_matrix(ranks, items, a) for a in ARM_NAMES}
    ceil = meta["ceilings"]
    g1_extra = {"mrr_gap_ci": gap_ci(rr["grsnn"], rr["nodelay"], p) if rr["nodelay"] is not None else None,
                "mrr_grsnn_seed_ci": seed_ci(per_seed["grsnn"]), "mrr_nodelay_seed_ci": seed_ci(per_seed["nodelay"]),
                "mrr_weights": mean["weights"], "relation_blind_ceiling_mrr": ceil["blind_test"]["mrr"],
                "typed_ceiling_mrr": ceil["typed_test"]["mrr"]}
    g2_extra = {"mrr_ratio_ci": gap_ci(rr["grsnn"], rr["nbfnet"], p, ratio=True) if rr["nbfnet"] is not None else None,
                "mrr_grsnn_ci": mrr_ci(rr["grsnn"], p), "mrr_nbfnet_ci": mrr_ci(rr["nbfnet"], p) if rr["nbfnet"]
                is not None else None, "params_grsnn": an["params"]["k1"]["grsnn"],
                "params_nbfnet": an["params"]["k1"]["nbfnet"]}
    tm, en, pa = an["timing"], an["energy"], an["params"]
    vs = [K.g1_delay(per_seed["grsnn"], per_seed["nodelay"], g1_extra),
          K.g2_competitive(mean["grsnn"], mean["nbfnet"], g2_extra),
          K.g3_timing(mean["grsnn"], tm["share_relations_body_shorter"], tm["n_query_relations"],
                      tm["share_queries_answer_spikes_first"], {"answer_silent_share": tm["answer_silent_share"]}),
          K.g4_energy(mean["grsnn"], en["core"], en["firing_rate"],
                      {"energy_ratio_core_no_state": en["core_no_state"], "energy_ratio_all": en["all"],
                       "energy_ratio_all_no_state": en["all_no_state"], "firing_rate_reached": en["firing_rate_reached"],
                       "grsnn_acs_per_query": en["grsnn_acs_per_query"], "nbfnet_macs_per_query": en["nbfnet_macs_per_query"]}),
          K.g5_params(pa["ratio_k1"], {"params_ratio_fb15k237": pa["ratio_fb15k237"], "params_grsnn_k1": pa["k1"]["grsnn"],
                                       "params_nbfnet_k1": pa["k1"]["nbfnet"]}),
          K.g6_inductive(mean["grsnn"])]
    vs = [K.at_scale(v, io.profile) for v in vs]
    figs = io.out / "figures"
    sections = ["## Figures", "", fig_g1(per_seed, ceil, figs), fig_g2(rr, p, figs), fig_g3(items, figs),
                fig_g4(en, figs), fig_g5(pa, figs), "", "## Per-arm test metrics (filtered, pessimistic ties)", "",
                "| item | MRR | MRR realistic | H@1 | H@3 | H@10 | firing rate | answer silent |", "|---|---|---|---|---|---|---|---|"]
    for k, e in sorted(items.items()):
        fr, sil = e.get("firing_rate"), e.get("answer_silent_share")
        sections.append(f"| {k} | {e['mrr']:.3f} | {e['mrr_realistic']:.3f} | {e['hits1']:.3f} | {e['hits3']:.3f} | "
                        f"{e['hits10']:.3f} | {'-' if fr is None else f'{fr:.4f}'} | {'-' if sil is None else f'{sil:.3f}'} |")
    sections += ["", f"Relation-blind ideal-model ceiling (test MRR): {ceil['blind_test']['mrr']:.3f}; typed ideal "
                 f"model: {ceil['typed_test']['mrr']:.3f}. Paternal vs maternal grandfather probe (GRSNN, answer first-spike "
                 f"time, not gated): {tm['paternal_probe']}."]
    return report(io, PAPER, vs, sections, io.profile)


def fig_g1(per_seed, ceil, figs) -> str:
    fig, ax = plotting.figure(1)
    arms = [a for a in ARM_NAMES if per_seed[a]]
    for i, a in enumerate(arms):
        ax[0].bar(i, np.mean(per_seed[a]), color="C0" if a == "grsnn" else "C7")
        ax[0].scatter([i] * len(per_seed[a]), per_seed[a], color="k", s=10, zorder=3)
    ax[0].axhline(ceil["blind_test"]["mrr"], ls="--", color="C3", label="relation-blind ceiling")
    ax[0].axhline(K.FLOOR_MRR, ls=":", color="k", label="sanity floor")
    ax[0].set(xticks=range(len(arms)), xticklabels=[ARM_NAMES[a].replace("-", "-\n", 1) for a in arms],
              ylim=(0, 1.05), ylabel="K1 test MRR (filtered, pessimistic)", title="G1: delays vs relation-blind")
    ax[0].legend(fontsize=7)
    return plotting.save(fig, figs / "g1_mrr_by_arm.png")


def fig_g2(rr, p, figs) -> str:
    fig, ax = plotting.figure(1)
    arms = [a for a in ("grsnn", "nbfnet") if rr[a] is not None]
    cis = [mrr_ci(rr[a], p) for a in arms]
    ax[0].bar(range(len(arms)), [c["value"] for c in cis],
              yerr=np.array([[c["value"] - c["lo"], c["hi"] - c["value"]] for c in cis]).T, capsize=4)
    if "nbfnet" in arms:
        ax[0].axhline(K.G2_MIN_RATIO * cis[-1]["value"], ls="--", color="C3", label="0.85 x NBFNet-lite")
        ax[0].legend(fontsize=7)
    ax[0].set(xticks=range(len(arms)), xticklabels=[ARM_NAMES[a] for a in arms], ylim=(0, 1.05), ylabel="test MRR",
              title="G2: GRSNN vs NBFNet-lite (95% bootstrap CI)")
    return plotting.save(fig, figs / "g2_competitive.png")


def fig_g3(items, figs) -> str:
    e = next(e for _, e in sorted(items.items()) if e["arm"] == "grsnn")
    d = np.asarray(e["delays"])
    fig, ax = plotting.figure(1, width=6.5, height=6.5)
    im = ax[0].imshow(d, aspect="auto", cmap="viridis")
    for q in range(d.shape[0]):
        for r in kg.query_body(q):
            ax[0].scatter(r, q, marker="o", facecolors="none", edgecolors="w", s=30)
    ax[0].set(xticks=range(d.shape[1]), xticklabels=kg.GRAPH_RELS, yticks=range(d.shape[0]), yticklabels=kg.QUERY_RELS,
              title="G3: mean learned delay (GRSNN seed 0); circles = rule body")
    ax[0].tick_params(axis="x", rotation=90, labelsize=6)
    ax[0].tick_params(axis="y", labelsize=6)
    fig.colorbar(im, ax=ax[0])
    return plotting.save(fig, figs / "g3_delays.png")


def fig_g4(en, figs) -> str:
    fig, ax = plotting.figure(1)
    keys = ["core", "core_no_state", "all", "all_no_state"]
    ax[0].bar(range(4), [en[k] for k in keys])
    ax[0].axhline(K.G4_MIN_RATIO, ls="--", color="C3", label="criterion (core)")
    ax[0].set(xticks=range(4), xticklabels=keys, ylabel="E_NBFNet-lite / E_GRSNN",
              title=f"G4: energy ratio (firing rate {en['firing_rate']:.3f})")
    ax[0].legend(fontsize=7)
    return plotting.save(fig, figs / "g4_energy.png")


def fig_g5(pa, figs) -> str:
    fig, ax = plotting.figure(1)
    for i, scale in enumerate(("k1", "fb15k237")):
        ax[0].bar([i - 0.2, i + 0.2], [pa[scale]["grsnn"], pa[scale]["nbfnet"]], width=0.38,
                  color=["C0", "C7"], label=["GRSNN", "NBFNet-lite (L=6)"] if i == 0 else None)
    ax[0].set(xticks=[0, 1], xticklabels=[f"K1 (ratio {pa['ratio_k1']:.2f})", f"FB15k-237 (ratio {pa['ratio_fb15k237']:.2f})"],
              yscale="log", ylabel="parameters", title="G5: parameter counts (analytic)")
    ax[0].legend(fontsize=7)
    return plotting.save(fig, figs / "g5_params.png")
