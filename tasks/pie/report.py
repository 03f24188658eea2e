"""Stage `report`: verdicts for P1-P4 from `evaluate` and `benchmark`, figures, report.md and claims.json.

This stage measures (Wilson EM, paired percentile bootstrap differences over instances, the same instances for every
method; FLOP and wall-clock reductions) and draws; the pre-registered criteria and their judges are in
`criteria.py`. EM/ES/agreement are in points (0-100).

Run: `paperflow stage pie report`.
"""
from __future__ import annotations

import numpy as np

from tasks.common import plotting
from tasks.common.claims import Verdict, amend, ci, report
from tasks.common.stats import bootstrap_ci, wilson

from . import criteria as C
from .edits import TASKS
from .methods import LABEL, METHODS, UPDATE_METHODS
from .params import ReportParams


def _arr(rows, key):
    return np.array([r[key] for r in rows], dtype=float)


def _paired(rows, a, b, key, p):
    """mean(a - b) of a per-instance metric in points, with a paired bootstrap CI."""
    scale = 100.0 if key == "em" else 1.0
    if not rows:
        return ci(float("nan"), float("nan"), float("nan"))
    d = scale * (_arr(rows, f"{key}_{a}") - _arr(rows, f"{key}_{b}"))
    lo, hi = bootstrap_ci(np.mean, d, n_boot=p.n_boot, seed=p.seed)
    return ci(d.mean(), lo, hi)


def _em(rows, me):
    if not rows:
        return ci(float("nan"), float("nan"), float("nan"))
    k = int(_arr(rows, f"em_{me}").sum())
    v, lo, hi = wilson(k, len(rows))
    return ci(100 * v, 100 * lo, 100 * hi)


def _sweep(bench: dict) -> list[dict]:
    """Timing-model sweep rows as PIE-vs-full reductions (fractions) per n'."""
    return [{"n_new": r["n_new"], "flops_reduction": 1 - r["flops_pie"] / r["flops_full"],
             "wall_reduction": 1 - r["ms_pie"] / r["ms_full"]} for r in bench["rows"]]


def _mechanism(rows: list[dict]) -> dict | None:
    """Per-layer mean key cosines and mean KL over instances with reused suffix keys (None if there are none)."""
    rows = [r for r in rows if "cos_pie" in r]
    if not rows:
        return None
    out = {f"cos_{me}": np.mean([r[f"cos_{me}"] for r in rows], 0) for me in ("pie", "conflict")}   # (L,) each
    return out | {f"kl_{me}": float(np.mean([r[f"kl_{me}"] for r in rows])) for me in ("pie", "conflict")}


def _ctx(rows):
    """The instances whose target line needs the context (not a `return` line)."""
    return [r for r in rows if r["needs_context"]]


def verdicts(res: dict, bench: dict, p: ReportParams) -> list[Verdict]:
    """Measure the numbers each claim needs and pass them to its judge in `criteria.py`. P1 and P2 are judged with
    the amended gates (target lines that need the context) and carry the verdict of the original gates."""
    T = res["tasks"]
    gate_em = _em([r for t in TASKS for r in T[t]], "full")
    gate_ctx = _em(_ctx([r for t in TASKS for r in T[t]]), "full")
    stale = {t: _paired(T[t], "full", "stale", "em", p) for t in TASKS}
    stale_ctx = {t: _paired(_ctx(T[t]), "full", "stale", "em", p) for t in TASKS}
    diffs = {t: {key: _paired(T[t], "pie", "full", key, p) for key in ("em", "es")} for t in TASKS}
    drops = {t: _paired(T[t], "conflict", "full", "em", p) for t in C.P2_TASKS}
    flops = {t: {"reduction": 1 - float(np.mean([(r["flops_pie"] + r["rot_flops_pie"]) / r["flops_full"]
                                                 for r in T[t]])),
                 "n_new": float(np.mean([r["n_new"] for r in T[t]]))} for t in TASKS}
    v1 = amend(C.p1(gate_ctx, stale_ctx, diffs, ctx=True), C.p1(gate_em, stale, diffs), C.AMENDMENT,
               C.AMENDMENT_REASON)
    v2 = amend(C.p2(gate_ctx, drops, ctx=True), C.p2(gate_em, drops), C.AMENDMENT, C.AMENDMENT_REASON)
    return [v1, v2, C.p3(flops, _sweep(bench)), C.p4({t: _mechanism(T[t]) for t in TASKS})]


# --- figures and tables ----------------------------------------------------------------------------------------
def fig_accuracy(res, path) -> str:
    fig, axes = plotting.figure(2, width=5.6)
    w = 0.16
    for ax, key in zip(axes, ("em", "es")):
        for k, me in enumerate(METHODS):
            vals = [(100 if key == "em" else 1) * np.mean([r[f"{key}_{me}"] for r in res["tasks"][t]]) for t in TASKS]
            ax.bar(np.arange(len(TASKS)) + (k - 2) * w, vals, w, label=LABEL[me])
        ax.set_xticks(range(len(TASKS)), TASKS)
        ax.set_ylabel("exact match (%)" if key == "em" else "edit similarity (0-100)")
        ax.set_ylim(0, 100)
    axes[0].legend(fontsize=7)
    return plotting.save(fig, path)


def fig_cosine(res, path) -> str:
    fig, (ax,) = plotting.figure(1)
    for t, ls in zip(TASKS, ("-", "--", ":")):
        rows = [r for r in res["tasks"][t] if "cos_pie" in r]
        for me, c in (("pie", "C3"), ("conflict", "C2")):
            y = np.mean([r[f"cos_{me}"] for r in rows], 0)
            ax.plot(np.arange(1, len(y) + 1), y, ls, color=c, marker="o", label=f"{LABEL[me]}, {t}")
    ax.set_xlabel("layer")
    ax.set_ylabel("mean cosine of suffix keys to full recompute")
    ax.legend(fontsize=6)
    return plotting.save(fig, path)


def fig_sweep(bench, path) -> str:
    fig, (a1, a2) = plotting.figure(2)
    ns = [r["n_new"] for r in bench["rows"]]
    for me in UPDATE_METHODS:
        med = np.array([r[f"ms_{me}"] for r in bench["rows"]])
        iqr = np.array([r[f"iqr_{me}"] for r in bench["rows"]])
        a1.errorbar(ns, med, yerr=[med - iqr[:, 0], iqr[:, 1] - med], marker="o", capsize=3, label=LABEL[me])
        a2.plot(ns, [r[f"flops_{me}"] for r in bench["rows"]], marker="o", label=LABEL[me])
    for ax, lab in ((a1, "update latency (ms), median and IQR"), (a2, "update FLOPs")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("post-edit context length n'")
        ax.set_ylabel(lab)
        ax.legend(fontsize=7)
    m = bench["model"]
    fig.suptitle(f"random-init timing model d={m['d']}, {m['layers']} layers; 1 line inserted at the middle", fontsize=9)
    return plotting.save(fig, path)


def tables(res, bench) -> list[str]:
    lines = ["## Accuracy and fidelity (trained model)", "",
             "| task | method | EM (%) [Wilson 95 %] | ES | agreement with full (%) | KL(full ‖ method) | update GFLOPs |",
             "|---|---|---|---|---|---|---|"]
    for t in TASKS:
        rows = res["tasks"][t]
        for me in METHODS:
            e = _em(rows, me)
            fl = (f"{1e-9 * np.mean([r[f'flops_{me}'] + r[f'rot_flops_{me}'] for r in rows]):.4f}"
                  if me in UPDATE_METHODS else "0")
            lines.append(f"| {t} | {LABEL[me]} | {e['value']:.1f} [{e['lo']:.1f}, {e['hi']:.1f}] | "
                         f"{np.mean([r[f'es_{me}'] for r in rows]):.1f} | {100 * np.mean([r[f'agree_{me}'] for r in rows]):.1f} | "
                         f"{np.mean([r[f'kl_{me}'] for r in rows]):.3g} | {fl} |")
    lines += ["", "## PIE − full EM by distance from the last edit to the end of the context (semantic impact)", "",
              "| task | distance ≤ median | distance > median |", "|---|---|---|"]
    for t in TASKS:
        rows = res["tasks"][t]
        dist = _arr(rows, "dist_to_end")
        d = 100 * (_arr(rows, "em_pie") - _arr(rows, "em_full"))
        med = np.median(dist)
        lines.append(f"| {t} | {d[dist <= med].mean():+.1f} (n={int((dist <= med).sum())}) | "
                     f"{d[dist > med].mean() if (dist > med).any() else float('nan'):+.1f} (n={int((dist > med).sum())}) |")
    lat = res.get("latency", {})
    if any(lat.values()):
        lines += ["", "## Trained-model update latency (descriptive; median over instances of per-instance medians, ms)", "",
                  "| task | " + " | ".join(LABEL[m] for m in UPDATE_METHODS) + " |", "|---" * (len(UPDATE_METHODS) + 1) + "|"]
        for t in TASKS:
            if lat.get(t):
                lines.append(f"| {t} | " + " | ".join(f"{np.median([d[m] for d in lat[t]]):.2f}" for m in UPDATE_METHODS) + " |")
    lines += ["", "## Length sweep (random-init timing model; lean updates; PIE relative to full and suffix)", "",
              "ms: medians of interleaved rounds; paired: median over rounds of the per-round ratio; PIE (reference): "
              "the reference implementation (methods.py), descriptive.", "",
              "| n' | GFLOPs full | GFLOPs suffix | GFLOPs PIE | GFLOPs conflict | ms full | ms suffix | ms PIE | ms conflict "
              "| ms PIE (reference) | PIE/full FLOPs | PIE/full ms | PIE/full ms paired | PIE/suffix FLOPs | PIE/suffix ms |",
              "|---" * 16 + "|"]
    for r in bench["rows"]:
        lines.append(f"| {r['n_new']} | " + " | ".join(f"{1e-9 * r[f'flops_{m}']:.4g}" for m in UPDATE_METHODS) + " | "
                     + " | ".join(f"{r[f'ms_{m}']:.2f}" for m in UPDATE_METHODS)
                     + f" | {r['ms_pie_ref']:.2f} | {r['flops_pie'] / r['flops_full']:.4f} | {r['ms_pie'] / r['ms_full']:.4f} | "
                     f"{r['paired_ms_ratio_pie_full']:.4f} | {r['flops_pie'] / r['flops_suffix']:.4f} | "
                     f"{r['ms_pie'] / r['ms_suffix']:.4f} |")
    thr, n0 = C.ISSUE_TARGET
    met = C.issue_target(_sweep(bench))
    if met is not None:
        okf, okw = met
        lines += ["", f"Issue target (reported, not a pre-registered claim): PIE ≥ {thr:.0%} cheaper than full at "
                  f"n' ≥ {n0}: FLOPs {'met' if okf else 'not met'}, wall clock {'met' if okw else 'not met'}."]
    return lines


def run(p: ReportParams, io) -> dict[str, float]:
    from . import PAPER

    res = io.load_json("evaluate", "results.json")
    bench = io.load_json("benchmark", "sweep.json")
    vs = verdicts(res, bench, p)
    figs = io.out / "figures"
    sections = ["## Figures", "", fig_accuracy(res, figs / "accuracy.png"), fig_cosine(res, figs / "cosine_per_layer.png"),
                fig_sweep(bench, figs / "cost_vs_length.png"), "", *tables(res, bench)]
    return report(io, PAPER, vs, sections, io.profile)
