"""Stage `report`: verdicts for P1-P4 from `evaluate` and `benchmark`, figures, report.md and claims.json.

The criteria below are the sheet's pre-registered ones, fixed as code before any result was seen; nothing here reads
a result to choose a threshold. EM/ES/agreement are in points (0-100). CIs: paired percentile bootstrap over
instances (the same instances for every method). FLOP criteria are deterministic; the wall-clock sub-point of P3 is
not (shared CPU): a measured reduction within WALL_TOLERANCE of the threshold can flip between runs, and the report
says so when it happens.

Run: `paperflow stage pie report`.
"""
from __future__ import annotations

import numpy as np

from tasks.common import plotting
from tasks.common.claims import INCONCLUSIVE, Verdict, ci, from_checks, report
from tasks.common.stats import bootstrap_ci, wilson

from .edits import TASKS
from .methods import LABEL, METHODS, UPDATE_METHODS
from .params import ReportParams

# --- pre-registered criteria (sheet, "Claims and pass criteria"), written before any result was seen -----------
GATE_MIN_EM_FULL = 50.0          # full-recompute EM on unedited (natural) contexts >= 50 %, else accuracy claims INCONCLUSIVE
SANITY_MIN_GAP = 20.0            # EM_full - EM_stale >= 20 points on every task ("stale << full"), else P1 INCONCLUSIVE
P1_MAX_GAP = 2.0                 # |EM_PIE - EM_full| <= 2 and |ES_PIE - ES_full| <= 2, per task
P1_CI_BOUND = 3.0                # ... and the paired-bootstrap 95 % CI of each difference inside [-3, +3]
P2_MIN_DROP = 10.0               # EM_conflict <= EM_full - 10 on insertion and on deletion
P2_TASKS = ("insertion", "deletion")
P3_MIN_REDUCTION = 0.85          # PIE update FLOPs <= 15 % of full, every task; median wall clock too, at n' >= 512
P3_MIN_LEN = 512
WALL_TOLERANCE = 0.03            # wall-clock reductions within +-3 points of 85 % are flagged as not reproducible
ISSUE_TARGET = (0.90, 1024)      # the issue's target, reported (not judged): >= 90 % cheaper than full at n' >= 1024
P4_L1_MIN_COS = 1 - 1e-6         # layer-1 cosine(PIE, full) >= 1 - 1e-6
P4_MIN_MEAN_COS = 0.95           # mean over layers of cosine(PIE, full) >= 0.95
P4_CLEARLY_LOWER = 0.05          # conflict's mean cosine <= PIE's - 0.05
P4_KL_FACTOR = 10.0              # KL_PIE <= KL_conflict / 10


def _arr(rows, key):
    return np.array([r[key] for r in rows], dtype=float)


def _paired(rows, a, b, key, p):
    """mean(a - b) of a per-instance metric in points, with a paired bootstrap CI."""
    scale = 100.0 if key == "em" else 1.0
    d = scale * (_arr(rows, f"{key}_{a}") - _arr(rows, f"{key}_{b}"))
    lo, hi = bootstrap_ci(np.mean, d, n_boot=p.n_boot, seed=p.seed)
    return ci(d.mean(), lo, hi)


def _em(rows, me):
    k = int(_arr(rows, f"em_{me}").sum())
    v, lo, hi = wilson(k, len(rows))
    return ci(100 * v, 100 * lo, 100 * hi)


def verdicts(res: dict, bench: dict, p: ReportParams) -> list[Verdict]:
    T = res["tasks"]
    pooled = [r for t in TASKS for r in T[t]]
    gate_em = _em(pooled, "full")
    gate = (gate_em["value"] >= GATE_MIN_EM_FULL,
            f"full-recompute EM on unedited contexts {gate_em['value']:.1f} % < {GATE_MIN_EM_FULL:.0f} %")
    out = []
    # P1
    meas, checks, sane = {"gate: EM_full on unedited contexts (%)": gate_em}, {}, True
    for t in TASKS:
        gap = _paired(T[t], "full", "stale", "em", p)
        meas[f"{t}: EM_full - EM_stale (sanity)"] = gap
        sane &= gap["value"] >= SANITY_MIN_GAP
        for key in ("em", "es"):
            d = _paired(T[t], "pie", "full", key, p)
            meas[f"{t}: {key.upper()}_PIE - {key.upper()}_full"] = d
            checks[f"{t}: |{key.upper()} diff| <= {P1_MAX_GAP}"] = abs(d["value"]) <= P1_MAX_GAP
            checks[f"{t}: {key.upper()} diff CI inside +-{P1_CI_BOUND}"] = -P1_CI_BOUND <= d["lo"] and d["hi"] <= P1_CI_BOUND
    v = from_checks("P1", checks, meas, gate)
    if v.verdict != INCONCLUSIVE and not sane:
        v = Verdict("P1", INCONCLUSIVE, f"sanity failed: EM_stale is not << EM_full (gap < {SANITY_MIN_GAP} points "
                    "on some task), so P1 would be vacuous", meas, checks)
    out.append(v)
    # P2
    meas, checks = {}, {}
    for t in P2_TASKS:
        d = _paired(T[t], "conflict", "full", "em", p)
        meas[f"{t}: EM_conflict - EM_full"] = d
        checks[f"{t}: EM_conflict <= EM_full - {P2_MIN_DROP:g}"] = d["value"] <= -P2_MIN_DROP
    v = from_checks("P2", checks, meas, gate)
    if v.verdict == "FAIL":
        v.reason += " (not reproduced: the tiny model is insensitive to the position offsets)"
    out.append(v)
    out.append(p3(res, bench))
    out.append(p4(res))
    for v in out:
        v.checks = {k: bool(x) for k, x in v.checks.items()}
    return out


def p3(res: dict, bench: dict) -> Verdict:
    meas, checks = {}, {}
    for t in TASKS:
        rows = res["tasks"][t]
        red = 1 - float(np.mean([(r["flops_pie"] + r["rot_flops_pie"]) / r["flops_full"] for r in rows]))
        meas[f"{t}: FLOPs reduction PIE vs full (trained model, n' = {np.mean([r['n_new'] for r in rows]):.0f})"] = red
        checks[f"{t}: FLOPs reduction >= {P3_MIN_REDUCTION:.0%}"] = red >= P3_MIN_REDUCTION
    flaky = []
    for row in bench["rows"]:
        n = row["n_new"]
        if n < P3_MIN_LEN:
            continue
        fr = 1 - row["flops_pie"] / row["flops_full"]
        wr = 1 - row["ms_pie"] / row["ms_full"]
        meas[f"sweep n'={n}: FLOPs reduction"] = fr
        meas[f"sweep n'={n}: median wall-clock reduction"] = wr
        checks[f"sweep n'={n}: FLOPs reduction >= {P3_MIN_REDUCTION:.0%}"] = fr >= P3_MIN_REDUCTION
        checks[f"sweep n'={n}: wall-clock reduction >= {P3_MIN_REDUCTION:.0%}"] = wr >= P3_MIN_REDUCTION
        if abs(wr - P3_MIN_REDUCTION) < WALL_TOLERANCE:
            flaky.append(n)
    if not any(r["n_new"] >= P3_MIN_LEN for r in bench["rows"]):
        return Verdict("P3", INCONCLUSIVE, f"no sweep length >= {P3_MIN_LEN}", meas, checks)
    v = from_checks("P3", checks, meas)
    if flaky:
        v.reason += f"; wall-clock within +-{WALL_TOLERANCE:.0%} of the threshold at n' = {flaky}: not reproducible"
    return v


def p4(res: dict) -> Verdict:
    meas, checks = {}, {}
    for t in TASKS:
        rows = [r for r in res["tasks"][t] if "cos_pie" in r]
        if not rows:
            return Verdict("P4", INCONCLUSIVE, f"{t}: no reused suffix keys")
        cp, cc = np.mean([r["cos_pie"] for r in rows], 0), np.mean([r["cos_conflict"] for r in rows], 0)
        klp, klc = np.mean([r["kl_pie"] for r in rows]), np.mean([r["kl_conflict"] for r in rows])
        meas.update({f"{t}: cos PIE layer 1": float(cp[0]), f"{t}: cos PIE mean": float(cp.mean()),
                     f"{t}: cos conflict mean": float(cc.mean()), f"{t}: KL PIE": float(klp),
                     f"{t}: KL conflict": float(klc)})
        checks[f"{t}: layer-1 cos PIE >= 1 - 1e-6"] = cp[0] >= P4_L1_MIN_COS
        checks[f"{t}: mean cos PIE >= {P4_MIN_MEAN_COS}"] = cp.mean() >= P4_MIN_MEAN_COS
        checks[f"{t}: mean cos conflict <= PIE - {P4_CLEARLY_LOWER}"] = cc.mean() <= cp.mean() - P4_CLEARLY_LOWER
        checks[f"{t}: KL PIE <= KL conflict / {P4_KL_FACTOR:g}"] = klp <= klc / P4_KL_FACTOR
    return from_checks("P4", checks, meas)


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
    lines += ["", "## Length sweep (random-init timing model; update cost, PIE relative to full and suffix)", "",
              "| n' | GFLOPs full | GFLOPs suffix | GFLOPs PIE | GFLOPs conflict | ms full | ms suffix | ms PIE | ms conflict "
              "| PIE/full FLOPs | PIE/full ms | PIE/suffix FLOPs | PIE/suffix ms |", "|---" * 13 + "|"]
    for r in bench["rows"]:
        lines.append(f"| {r['n_new']} | " + " | ".join(f"{1e-9 * r[f'flops_{m}']:.4g}" for m in UPDATE_METHODS) + " | "
                     + " | ".join(f"{r[f'ms_{m}']:.2f}" for m in UPDATE_METHODS)
                     + f" | {r['flops_pie'] / r['flops_full']:.4f} | {r['ms_pie'] / r['ms_full']:.4f} | "
                     f"{r['flops_pie'] / r['flops_suffix']:.4f} | {r['ms_pie'] / r['ms_suffix']:.4f} |")
    thr, n0 = ISSUE_TARGET
    big = [r for r in bench["rows"] if r["n_new"] >= n0]
    if big:
        okf = all(1 - r["flops_pie"] / r["flops_full"] >= thr for r in big)
        okw = all(1 - r["ms_pie"] / r["ms_full"] >= thr for r in big)
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
