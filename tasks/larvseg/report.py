"""Stage `report`: verdicts C1-C3 and L4 (criteria.py) from `evaluate`, a figure per claim, claims.json and
report.md. CIs: percentile bootstrap over D_test images of the dataset-level mIoU statistics (images resampled
jointly for every item, so paired seeds stay paired; seeds averaged inside each resample); propagation: t-interval
over the 5 seed-pixel repeats; L4: bootstrap over D_cls images. Run: `paperflow stage larvseg report`.
"""
from __future__ import annotations

import numpy as np
from scipy import stats as st

from tasks.common import plotting
from tasks.common.claims import ci, report
from tasks.common.stats import bootstrap_ci

from . import criteria as K
from . import data as D
from .params import ReportParams

NOV, BAS = list(D.NOVEL), list(D.BASE)
METHOD_ORDER = ("seg_only", "baseline", "larvseg", "ca_only", "larvseg_fg_only", "oracle")


def _miou(inter: np.ndarray, union: np.ndarray, cls: list[int]) -> np.ndarray:
    """inter, union (n, S, K) -> (S,) dataset-level mIoU over `cls` per item."""
    u = union.sum(0)[:, cls]
    return np.nanmean(np.where(u > 0, 100.0 * inter.sum(0)[:, cls] / np.maximum(u, 1), np.nan), 1)


def t_ci(x) -> dict:
    x = np.asarray(x, float)
    if len(x) < 2:
        return ci(x.mean(), float("nan"), float("nan"))
    h = st.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return ci(x.mean(), x.mean() - h, x.mean() + h)


def run(p: ReportParams, io) -> dict[str, float]:
    from . import PAPER

    res = io.load_json("evaluate", "results.json")
    iu = io.load_npz("evaluate", "iu.npz")
    items = res["items"]
    names = sorted(items)
    I = np.stack([iu[f"{k}__test_inter"] for k in names], 1)                 # (n_test, items, K)
    U = np.stack([iu[f"{k}__test_union"] for k in names], 1)
    idx = {m: [i for i, k in enumerate(names) if items[k]["method"] == m] for m in METHOD_ORDER}
    per = {m: {s: [items[names[i]]["test"][s] for i in idx[m]] for s in ("novel", "base")} for m in METHOD_ORDER}
    first = lambda m, s: per[m][s][0] if per[m][s] else None
    floor = first("seg_only", "base")
    boot = lambda f: bootstrap_ci(f, I, U, n_boot=p.n_boot, seed=p.seed)

    def mean_of(m, cls):
        return lambda i, u: float(_miou(i[:, idx[m]], u[:, idx[m]], cls).mean())

    def gap(a, b, cls):
        return lambda i, u: mean_of(a, cls)(i, u) - mean_of(b, cls)(i, u)

    both = lambda m: bool(idx[m])
    c1x = {}
    if both("baseline") and both("seg_only"):
        f = gap("baseline", "seg_only", NOV)
        c1x = {"novel_gain_ci": ci(f(I, U), *boot(f)), "base_baseline": float(np.mean(per["baseline"]["base"])),
               "base_seg_only": floor}
    c2x = {}
    if both("baseline") and both("larvseg"):
        fn, fb = gap("larvseg", "baseline", NOV), gap("larvseg", "baseline", BAS)
        n2 = min(len(idx["larvseg"]), len(idx["baseline"]))
        c2x = {"novel_gain_ci": ci(fn(I, U), *boot(fn)), "base_change_ci": ci(fb(I, U), *boot(fb)),
               "novel_gain_seed_t_ci": t_ci(np.subtract(per["larvseg"]["novel"][:n2], per["baseline"]["novel"][:n2])),
               "novel_larvseg": float(np.mean(per["larvseg"]["novel"])),
               "novel_baseline": float(np.mean(per["baseline"]["novel"])),
               "novel_oracle_test": first("oracle", "novel"), "headroom_val": res["headroom_val"],
               "bank_purity_final_per_seed": [io.upstream_metrics("train", names[i]).get("bank_purity_final")
                                              for i in idx["larvseg"]]}
        if both("oracle"):
            og = first("oracle", "novel") - c2x["novel_baseline"]
            c2x["gap_closed_share"] = (c2x["novel_larvseg"] - c2x["novel_baseline"]) / og if og > 0 else None
    prop = res["propagation"]
    pr = {k: {s: t_ci(v[s]) for s in ("novel", "base")} for k, v in prop.items()}
    c3x = {f"prop_{s}_{k}_ci": pr[k][s] for k in pr for s in ("novel", "base")}
    c3x.update({f"prop_{s}_{k}_sd": float(np.std(prop[k][s], ddof=1)) if len(prop[k][s]) > 1 else None
                for k in prop for s in ("novel", "base")})
    aucs = [np.asarray(items[k]["attention_auc_per_image"], float) for k in names if items[k]["method"] == "larvseg"]
    auc_img = np.nanmean(np.stack(aucs), 0) if aucs else None
    auc_mean = float(np.nanmean(auc_img)) if aucs else None
    l4x = {}
    if aucs:
        ok = auc_img[np.isfinite(auc_img)]
        l4x = {"attention_auc_ci": ci(auc_mean, *bootstrap_ci(np.mean, ok, n_boot=p.n_boot, seed=p.seed)),
               "attention_auc_per_seed": [items[k]["attention_auc"] for k in names if items[k]["method"] == "larvseg"]}
        for m in ("ca_only", "larvseg_fg_only"):
            if both(m):
                l4x[f"attention_auc_{m}"] = items[names[idx[m][0]]]["attention_auc"]
    pm = lambda k, s: float(np.mean(prop[k][s])) if k in prop else None
    vs = [K.c1(first("seg_only", "novel"), per["baseline"]["novel"], floor, c1x),
          K.c2(per["larvseg"]["novel"], per["baseline"]["novel"], per["larvseg"]["base"], per["baseline"]["base"],
               floor, res["headroom_val"], c2x),
          K.c3(pm("seg_only", "novel"), pm("seg_only", "base"), pm("random_init", "novel"), floor, c3x),
          K.l4(auc_mean, floor, l4x)]
    vs = [K.at_scale(v, io.profile) for v in vs]
    figs = io.out / "figures"
    sections = ["## Figures", "", fig_c1(per, figs), fig_c2(per, figs), fig_c3(prop, figs),
                fig_l4(auc_img, figs) if aucs else "", "", "## Per-item mIoU (dataset-level, %)", "",
                "| item | test novel | test base | test all | val novel | val base | attention AUC |",
                "|---|---|---|---|---|---|---|"]
    for k in sorted(names, key=lambda k: (METHOD_ORDER.index(items[k]["method"]), items[k]["seed"])):
        r = items[k]
        a = r.get("attention_auc")
        sections.append(f"| {k} | {r['test']['novel']:.1f} | {r['test']['base']:.1f} | {r['test']['all']:.1f} | "
                        f"{r['val']['novel']:.1f} | {r['val']['base']:.1f} | {'-' if a is None else f'{a:.3f}'} |")
    sections += ["", f"D_val headroom (oracle - baseline novel mIoU): {res['headroom_val']}.",
                 "Out of scope on CPU: the 21K-category model and the comparison with CLIP-based open-vocabulary "
                 "methods."]
    return report(io, PAPER, vs, sections, io.profile)


def fig_c1(per, figs) -> str:
    fig, ax = plotting.figure(1, width=6)
    ms = [m for m in METHOD_ORDER if per[m]["novel"]]
    for j, s in enumerate(("novel", "base")):
        xs = np.arange(len(ms)) + (j - 0.5) * 0.38
        ax[0].bar(xs, [np.mean(per[m][s]) for m in ms], 0.38, label=s, color=f"C{j}")
        for x, m in zip(xs, ms):
            ax[0].scatter([x] * len(per[m][s]), per[m][s], color="k", s=8, zorder=3)
    ax[0].axhline(K.FLOOR_BASE, ls=":", color="k", label="floor (seg_only base)")
    ax[0].set(xticks=range(len(ms)), xticklabels=ms, ylim=(0, 100), ylabel="D_test mIoU (%)",
              title="C1: mIoU by method (dots: seeds)")
    ax[0].tick_params(axis="x", labelsize=7)
    ax[0].legend(fontsize=7)
    return plotting.save(fig, figs / "c1_miou_by_method.png")


def fig_c2(per, figs) -> str:
    fig, ax = plotting.figure(1)
    n = min(len(per["larvseg"]["novel"]), len(per["baseline"]["novel"]))
    dn = np.subtract(per["larvseg"]["novel"][:n], per["baseline"]["novel"][:n])
    db = np.subtract(per["larvseg"]["base"][:n], per["baseline"]["base"][:n])
    x = np.arange(n)
    ax[0].bar(x - 0.2, dn, 0.4, label="novel gain")
    ax[0].bar(x + 0.2, db, 0.4, label="base change")
    ax[0].axhline(K.C2_MIN_GAIN, ls="--", color="C3", label=f"+{K.C2_MIN_GAIN:g} (novel)")
    ax[0].axhline(-K.C2_MAX_BASE_DROP, ls=":", color="k", label=f"-{K.C2_MAX_BASE_DROP:g} (base)")
    ax[0].axhline(0, color="k", lw=0.5)
    ax[0].set(xticks=x, xticklabels=[f"seed {i}" for i in x], ylabel="larvseg - baseline (mIoU points)",
              title="C2: paired seeds")
    ax[0].legend(fontsize=7)
    return plotting.save(fig, figs / "c2_paired_seeds.png")


def fig_c3(prop, figs) -> str:
    fig, ax = plotting.figure(1)
    ks = list(prop)
    for j, s in enumerate(("novel", "base")):
        xs = np.arange(len(ks)) + (j - 0.5) * 0.38
        ax[0].bar(xs, [np.mean(prop[k][s]) for k in ks], 0.38, yerr=[np.std(prop[k][s]) for k in ks], capsize=3,
                  label=s, color=f"C{j}")
    ax[0].set(xticks=range(len(ks)), xticklabels=ks, ylim=(0, 100), ylabel="propagation mIoU (%)",
              title="C3: one-point propagation (mean +- sd, 5 repeats)")
    ax[0].legend(fontsize=7)
    return plotting.save(fig, figs / "c3_propagation.png")


def fig_l4(auc, figs) -> str:
    fig, ax = plotting.figure(1)
    ax[0].hist(auc[np.isfinite(auc)], bins=30, range=(0, 1))
    ax[0].axvline(K.L4_MIN_AUC, ls="--", color="C3", label="expected 0.8")
    ax[0].set(xlabel="per-image ROC-AUC of A (object vs background)", ylabel="D_cls images",
              title="L4: CA attention (larvseg, seeds averaged)")
    ax[0].legend(fontsize=7)
    return plotting.save(fig, figs / "l4_attention_auc.png")
