"""Stage `report`: verdicts for C1-C7 from `evaluate`'s results, the figures, report.md and claims.json.

This stage computes the measured numbers; the sheet's pre-registered criteria (thresholds, gates, INCONCLUSIVE
branches) are the judges in criteria.py. Accuracies are in points (percent). CIs: a paired percentile bootstrap
over test samples (the same test set for every arm, seeds averaged inside each resample) and a t-interval over
seeds. Verdicts use the point estimates, as the criteria are written.

Run: `paperflow stage opzo report`.
"""
from __future__ import annotations

import numpy as np

from tasks.common import plotting
from tasks.common.claims import Verdict, ci, report
from tasks.common.stats import bootstrap_ci

from . import criteria as K
from .criteria import DATASETS
from .methods import ARMS, MAIN_ARMS, NOISE_VARIANTS
from .params import ReportParams

DS_NAME = {"d1": "D1 static digits", "d2": "D2 N-Digits"}


def _acc(res: dict, arm: str, ds: str) -> dict | None:
    return res["accuracy"].get(f"{arm}/{ds}")


def _diff(correct: dict, a: str, b: str, ds: str, n_boot: int, seed: int) -> dict | None:
    """OPZO-style difference mean_acc(a) - mean_acc(b) in points, with a paired bootstrap CI over test samples."""
    A = [v for k, v in sorted(correct.items()) if k.startswith(f"{a}__{ds}__")]
    B = [v for k, v in sorted(correct.items()) if k.startswith(f"{b}__{ds}__")]
    if not A or not B:
        return None
    A, B = np.stack(A, 1).astype(float), np.stack(B, 1).astype(float)      # (n_test, seeds)
    stat = lambda x, y: 100.0 * (x.mean() - y.mean())                        # noqa: E731
    lo, hi = bootstrap_ci(stat, A, B, n_boot=n_boot, seed=seed)
    return ci(stat(A, B), lo, hi)


def verdicts(res: dict, correct: dict, p: ReportParams) -> list[Verdict]:
    """The measured numbers of C1-C7, judged by criteria.py."""
    d = lambda a, b, ds: _diff(correct, a, b, ds, p.n_boot, p.seed)          # noqa: E731
    mean_acc = lambda arm: {ds: (100 * x["mean"] if x is not None else None)   # noqa: E731
                            for ds in DATASETS for x in [_acc(res, arm, ds)]}
    bp_acc = mean_acc("bp")
    return [K.c1_close_to_bp({ds: d("opzo", "bp", ds) for ds in DATASETS}, bp_acc),
            K.c2_amended({ds: d("opzo", "zo", ds) for ds in DATASETS}, mean_acc("readout"), bp_acc),
            c3(res, correct, d),
            K.c4_gradient_quality(probe_means(res)),
            K.c5_amended(d("opzo", "opzo_nomom", "d1"), d("opzo", "opzo_nomom", "d2"),
                         paired_diffs(correct, "opzo", "opzo_nomom", "d2"), d("opzo_nomom", "zo", "d2"),
                         d("opzo", "zo", "d2"), res["tune"]["lam"], bp_acc),
            K.c6_noise_robustness(noise_accs(correct)),
            c7(res)]


def c3(res: dict, correct: dict, d) -> Verdict:
    """C3 inputs: FC OPZO - DFA per dataset; the conv-LIF arm's OPZO - DFA on D1 and its BP accuracy (the gate);
    conv OPZO - BP, OPZO - ZO and the per-seed paired OPZO - DFA are reported."""
    conv_bp = _acc(res, "conv_bp", "d1")
    extra = {}
    if _acc(res, "conv_opzo", "d1") is not None:
        for arm in ("conv_bp", "conv_dfa", "conv_zo", "conv_opzo"):
            if (r := _acc(res, arm, "d1")) is not None:
                extra[f"d1 {arm} accuracy (points)"] = ci(100 * r["mean"], 100 * r["lo"], 100 * r["hi"])
        extra["d1 conv OPZO - BP (points)"] = d("conv_opzo", "conv_bp", "d1")
        extra["d1 conv OPZO - ZO (points)"] = d("conv_opzo", "conv_zo", "d1")
        extra["d1 conv OPZO - DFA per seed (points)"] = [round(x, 2) for x in
                                                         paired_diffs(correct, "conv_opzo", "conv_dfa", "d1")]
    return K.c3_at_least_dfa({ds: d("opzo", "dfa", ds) for ds in DATASETS}, d("conv_opzo", "conv_dfa", "d1"),
                             100 * conv_bp["mean"] if conv_bp is not None else None, extra)


def paired_diffs(correct: dict, a: str, b: str, ds: str) -> list[float]:
    """Per-seed accuracy differences a - b (points) over the seeds both arms ran (arms of a seed share init, data
    order and noise)."""
    seeds = lambda arm: {k.rsplit("__s", 1)[1] for k in correct if k.startswith(f"{arm}__{ds}__s")}   # noqa: E731
    return [100.0 * float(correct[f"{a}__{ds}__s{s}"].mean() - correct[f"{b}__{ds}__s{s}"].mean())
            for s in sorted(seeds(a) & seeds(b), key=int)]


def probe_means(res: dict) -> dict[str, dict[str, float]]:
    """C4 inputs: per "<ds> L<l>", the mid-training probe values averaged over OPZO seeds."""
    mids = [pr for pr in res["probes"] if pr["epoch_tag"] == "mid"]
    out = {}
    for ds in DATASETS:
        rows = [pr["layers"] for pr in mids if pr["ds"] == ds]
        if not rows:
            continue
        for l in range(len(rows[0])):
            mean = lambda k: float(np.mean([r[l][k] for r in rows]))   # noqa: E731  (over seeds)
            out[f"{ds} L{l}"] = {"cos_opzo": mean("cos_opzo_median"), "cos_zo": mean("cos_zo_median"),
                                 "relvar_opzo": mean("relvar_opzo"), "relvar_zo": mean("relvar_zo")}
    return out


def noise_accs(correct: dict) -> dict[str, float | None]:
    """C6 inputs: D1 seed-0 test accuracy (points) per noise variant label, None where the variant was not run."""
    return {ARMS[arm].label: (100.0 * float(correct[k].mean()) if (k := f"{arm}__d1__s0") in correct else None)
            for arm in NOISE_VARIANTS}


def c7(res: dict) -> Verdict:
    """C7 inputs: the train metrics of the OPZO and BP runs, T per dataset, the analytic feedback MACs."""
    tm = [m for it, m in res["train_metrics"].items() if it.startswith("opzo-s")]
    bpm = [m for it, m in res["train_metrics"].items() if it.startswith("bp-s")]
    T = {ds: res["setup"]["T"][ds] for ds in DATASETS} if tm and bpm else {}
    return K.c7_cost(tm, bpm, T, res["feedback_macs_analytic"])


# --- figures and tables ----------------------------------------------------------------------------------------
def fig_accuracy(res: dict, path) -> str:
    fig, (a1, a2) = plotting.figure(2, width=5.6)
    w = 0.38
    for j, ds in enumerate(DATASETS):
        rows = [_acc(res, a, ds) for a in MAIN_ARMS]
        means = [100 * r["mean"] if r else np.nan for r in rows]
        err = [[100 * (r["mean"] - r["lo"]) if r and np.isfinite(r["lo"]) else 0 for r in rows],
               [100 * (r["hi"] - r["mean"]) if r and np.isfinite(r["hi"]) else 0 for r in rows]]
        a1.bar(np.arange(len(rows)) + (j - 0.5) * w, means, w, yerr=err, capsize=3, label=DS_NAME[ds])
    a1.set_xticks(range(len(MAIN_ARMS)), [ARMS[a].label for a in MAIN_ARMS], rotation=20, fontsize=8)
    a1.set_ylabel("test accuracy (%)")
    a1.set_title("main arms: mean and 95 % t-CI over seeds", fontsize=9)
    a1.legend(fontsize=8)
    abl = [a for a in ARMS if _acc(res, a, "d1") and not (ARMS[a].main and a != "opzo")]
    vals = [100 * _acc(res, a, "d1")["mean"] for a in abl]
    a2.barh(range(len(abl)), vals, color="tab:gray")
    a2.set_yticks(range(len(abl)), [ARMS[a].label for a in abl], fontsize=8)
    a2.set_xlim(min(vals + [90]) - 5, 100)
    a2.set_xlabel("D1 test accuracy (%), mean over the arm's seeds")
    a2.set_title("ablations (D1)", fontsize=9)
    return plotting.save(fig, path)


def fig_epochs(res: dict, path) -> str:
    fig, axes = plotting.figure(2)
    for ax, ds in zip(axes, DATASETS):
        for arm in MAIN_ARMS + ("opzo_nomom",):
            curves = [h[ds]["val_acc"] for it, h in res["histories"].items() if it.startswith(f"{arm}-s") and ds in h]
            if not curves:
                continue
            c = 100 * np.array(curves)
            ep = np.arange(1, c.shape[1] + 1)
            ax.plot(ep, c.mean(0), label=ARMS[arm].label)
            ax.fill_between(ep, c.min(0), c.max(0), alpha=0.2)
        ax.set_title(DS_NAME[ds], fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation accuracy (%)")
        ax.legend(fontsize=7)
    return plotting.save(fig, path)


def fig_probe_curves(res: dict, key: str, path) -> str:
    fig, axes = plotting.figure(2)
    mids = [pr for pr in res["probes"] if pr["epoch_tag"] == "mid" and "curve" in pr["layers"][0]]
    for ax, ds in zip(axes, DATASETS):
        rows = [pr["layers"] for pr in mids if pr["ds"] == ds]
        if not rows:
            continue
        for l in range(len(rows[0])):
            for name, style in (("zo", "--"), ("opzo_window", "-")):
                n = rows[0][l]["curve"][name]["n"]
                y = np.mean([r[l]["curve"][name][key] for r in rows], 0)
                ax.plot(n, y, style, color=f"C{l}", marker="o", ms=3,
                        label=f"{'ZO mean of N' if name == 'zo' else 'OPZO, M from N passes'} L{l}")
            trained = np.mean([r[l]["cos_opzo_median" if key == "cos_median" else "relvar_opzo"] for r in rows])
            ax.axhline(trained, ls=":", color=f"C{l}", label=f"OPZO as trained (momentum M) L{l}")
        ax.set_xscale("log", base=2)
        if key == "relvar":
            ax.set_yscale("log")
        ax.set_xlabel("noise samples N (noisy passes of the probe batch)")
        ax.set_ylabel("median cosine to online BP" if key == "cos_median" else "E||g - Eg||^2 / ||g_BP||^2")
        ax.set_title(f"{DS_NAME[ds]}, mid-training", fontsize=9)
        ax.legend(fontsize=6)
    return plotting.save(fig, path)


def tables(res: dict) -> list[str]:
    pct = lambda x: f"{100 * x:.1f}" if x is not None and np.isfinite(x) else "-"   # noqa: E731
    lines = ["## Test accuracy (%)", "", "| arm | dataset | mean | 95 % t-CI over seeds | seeds |", "|---|---|---|---|---|"]
    for key, r in res["accuracy"].items():
        lines.append(f"| {r['label']} | {r['ds']} | {pct(r['mean'])} | [{pct(r['lo'])}, {pct(r['hi'])}] | "
                     + ", ".join(pct(a) for a in r["accs"]) + " |")
    lines += ["", "## Gradient probes (mean over OPZO seeds; fixed training batch; K noise draws)", "",
              "| dataset | epoch | layer | cos OPZO | cos ZO | relvar OPZO | relvar ZO | relvar BP over batches |",
              "|---|---|---|---|---|---|---|---|"]
    for ds in DATASETS:
        for tag in ("first", "mid", "final"):
            rows = [pr for pr in res["probes"] if pr["ds"] == ds and pr["epoch_tag"] == tag]
            if not rows:
                continue
            for l in range(len(rows[0]["layers"])):
                m = lambda k: np.mean([r["layers"][l].get(k, np.nan) for r in rows])   # noqa: E731
                lines.append(f"| {ds} | {tag} ({rows[0]['epoch']}) | L{l} | {m('cos_opzo_median'):.3f} | {m('cos_zo_median'):.3f} "
                             f"| {m('relvar_opzo'):.3g} | {m('relvar_zo'):.3g} | {m('relvar_bp_batches'):.3g} |")
    t = res["tune"]
    lines += ["", f"## Tuning (D1 validation, {t['epochs']} epochs): chosen lam = {t['lam']}, alpha = {t['alpha']}", "",
              "| lam | alpha | val acc |", "|---|---|---|"]
    lines += [f"| {g['lam']} | {g['alpha']} | {pct(g['val_acc'])} |" for g in t["grid"]]
    lines += ["", "## Counted cost per sample and time step (D1; mean over seeds)", "",
              "| arm | forward calls / batch | feedback MACs | layer-backward passes / batch | synaptic ops (nnz inputs x fan-out) |",
              "|---|---|---|---|---|"]
    for arm in MAIN_ARMS + ("opzo_pre",):
        ms = [m for it, m in res["train_metrics"].items() if it.startswith(f"{arm}-s")]
        if ms:
            g = lambda k: np.mean([m[k] for m in ms])   # noqa: E731
            lines.append(f"| {ARMS[arm].label} | {g('d1_forward_calls_per_batch'):.0f} | {g('d1_feedback_macs_per_sample_step'):.0f} "
                         f"| {g('d1_layer_backward_per_batch'):.0f} | {g('d1_sops_per_sample_step'):.0f} |")
    return lines


def run(p: ReportParams, io) -> dict[str, float]:
    from . import PAPER

    res = io.load_json("evaluate", "results.json")
    correct = io.load_npz("evaluate", "correct.npz")
    vs = verdicts(res, correct, p)
    figs = io.out / "figures"
    sections = ["## Figures", "", fig_accuracy(res, figs / "accuracy.png"), fig_epochs(res, figs / "accuracy_vs_epochs.png"),
                fig_probe_curves(res, "cos_median", figs / "alignment_vs_samples.png"),
                fig_probe_curves(res, "relvar", figs / "variance_vs_samples.png"), "", *tables(res)]
    return report(io, PAPER, vs, sections, io.profile)
