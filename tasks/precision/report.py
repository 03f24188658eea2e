"""Stage `report`: the numbers behind verdicts P-mech, P3 (gate), P1 and P2, figures, claims.json and report.md
(Feng et al. arXiv 2410.13857; claims in shared/papers/precision.md).

This stage computes accuracies, Wilson counts and the bootstrap gap statistics (`did_stats`); the pre-registered
criteria and the judges are in `criteria.py`. Secondary arms (fq8, bf16_pure) and the int8/int4 PTQ of Stage C are
reported the same way, without a verdict. Run: `paperflow stage precision report`.
"""
from __future__ import annotations

import numpy as np

from tasks.common.claims import report
from tasks.common.stats import bootstrap_ci, spearman

from .criteria import (P1_GATE_KS, P2_ALPHA, PRIMARY, arm_missing, fp32_gate, judge_mech_amended, judge_p1_amended,
                       judge_p2, judge_p3)
from .params import ARMS, ReportParams


def did_stats(c_ref: np.ndarray, c_low: np.ndarray, ks: list[int], n_boot: int, seed: int) -> dict:
    """Gap statistics from per-item correctness arrays of shape (seeds, len(ks), items) (bool).

    g(k) = pooled acc_ref(k) - acc_low(k); rho = Spearman(k, g); did = g(k_max) - g(2) with a percentile bootstrap over
    test items (items resampled jointly for both arms: paired; seeds averaged per item); per-seed did.
    """
    d = c_ref.astype(float).mean(0) - c_low.astype(float).mean(0)          # (K, items): per-item gap, seed-averaged
    g = d.mean(1)                                                           # (K,)
    i2, imax = ks.index(2), int(np.argmax(ks))
    did = float(g[imax] - g[i2])
    lo, hi = bootstrap_ci(lambda x, y: x.mean() - y.mean(), d[imax], d[i2], n_boot=n_boot, alpha=P2_ALPHA, seed=seed)
    per_seed = (c_ref.mean(2) - c_low.mean(2))                              # (seeds, K)
    per_k_ci = [bootstrap_ci(np.mean, d[j], n_boot=max(200, n_boot // 5), seed=seed + j) for j in range(len(ks))]
    return {"g": g.tolist(), "g_ci": per_k_ci, "rho": spearman(ks, g), "did": did, "did_ci": (lo, hi),
            "did_per_seed": (per_seed[:, imax] - per_seed[:, i2]).tolist(), "k_max": int(ks[imax])}


# --- tables and figures ----------------------------------------------------------------------------------------
def _stack(correct: dict, prefix: str, n_seeds: int, ks: list[int]) -> np.ndarray:
    return np.stack([np.stack([correct[f"{prefix}_s{s}_k{k}"] for k in ks]) for s in range(n_seeds)])


def _acc_rows(name: str, table: dict, ks: list[int]) -> str:
    cells = [f"{table[str(k)]['acc']:.3f} [{table[str(k)]['lo']:.3f}, {table[str(k)]['hi']:.3f}]" for k in ks]
    return f"| {name} | " + " | ".join(cells) + " |"


def _yerr(p: np.ndarray, tab: dict, ks: list[int]) -> np.ndarray:
    """(2, K) error-bar lengths from Wilson bounds, clipped at 0: at acc = 1 the upper bound can be 1 - 1e-16."""
    err = np.array([[p[i] - tab[str(k)]["lo"], tab[str(k)]["hi"] - p[i]] for i, k in enumerate(ks)]).T
    return np.clip(err, 0, None)


def _figures(io, mech: dict, ks: list[int], acc: dict, gaps: dict, ptq: dict) -> list[str]:
    from tasks.common.plotting import figure, save

    fig_dir, lines = io.out / "figures", []
    fig, ax = figure(1)
    bits = mech["bits"]
    for acc_v, mk in (("low", "o"), ("fp32", "s")):
        ax[0].plot(bits, [mech["m_max"][acc_v][str(b)] for b in bits], marker=mk, label=f"{acc_v} accumulation")
    ax[0].plot(bits, [2.0 ** b for b in bits], color="k", ls=":", lw=1, label="2^b")
    ax[0].set(yscale="log", xlabel="significand bits b", ylabel="m_max(b)", title="counting by averaging: exact up to m_max")
    ax[0].legend(fontsize=7)
    lines.append(save(fig, fig_dir / "m_max_vs_bits.png"))

    fig, ax = figure(2)
    for name, tab in acc.items():
        p = np.array([tab[str(k)]["acc"] for k in ks])
        ax[0].errorbar(ks, p, yerr=_yerr(p, tab, ks), marker="o", ms=3, capsize=2, label=name)
    ax[0].set(xlabel="summands k (k=2 is ADD)", ylabel="exact match (Wilson 95% CI)", ylim=(-0.02, 1.02),
              title="accuracy vs k per arm")
    ax[0].legend(fontsize=7)
    for name, st in gaps.items():
        g = np.array(st["g"])
        lo, hi = np.array([c[0] for c in st["g_ci"]]), np.array([c[1] for c in st["g_ci"]])
        ax[1].errorbar(ks, g, yerr=np.clip([g - lo, hi - g], 0, None), marker="o", ms=3, capsize=2,
                       label=f"fp32 − {name}" + (" (primary)" if name == PRIMARY else ""))
    ax[1].axhline(0, color="k", lw=0.8)
    ax[1].set(xlabel="summands k", ylabel="gap g(k) (bootstrap 95% CI)", title="fp32 minus low precision")
    ax[1].legend(fontsize=7)
    lines.append(save(fig, fig_dir / "accuracy_and_gap_vs_k.png"))

    if ptq:
        fig, ax = figure(1)
        for name, tab in ptq.items():
            p = np.array([tab[str(k)]["acc"] for k in ks])
            ax[0].errorbar(ks, p, yerr=_yerr(p, tab, ks), marker="o", ms=3, capsize=2, label=name)
        ax[0].set(xlabel="summands k", ylabel="exact match (Wilson 95% CI)", ylim=(-0.02, 1.02),
                  title="post-training weight quantisation of fp32")
        ax[0].legend(fontsize=7)
        lines.append(save(fig, fig_dir / "ptq_vs_k.png"))

    fig, ax = figure(2)
    grid = mech["circuit_grid"]
    for j, (task, axis) in enumerate((("iteradd", "k summands"), ("mul", "n digits"))):
        for b in bits:
            ax[j].plot(grid, mech[task][f"fp32_b{b}"], marker=".", label=f"b={b}")
        ax[j].set(xscale="log", xlabel=axis, ylabel="circuit exact match", ylim=(-0.02, 1.02),
                  title=f"{task} column-count circuit (fp32 accumulation)")
        ax[j].legend(fontsize=6)
    lines.append(save(fig, fig_dir / "circuits.png"))
    return lines


def run(p: ReportParams, io) -> dict[str, float]:
    from . import PAPER

    mech, mech_m = io.load_json("mechanism", "mechanism.json"), io.upstream_metrics("mechanism")
    ev = io.load_json("evaluate", "acc.json")
    correct = io.load_npz("evaluate", "correct.npz")
    ptq = io.load_json("quantize", "ptq.json")
    ptq_correct = io.load_npz("quantize", "correct.npz")
    ks, acc = [int(k) for k in ev["ks"]], ev["acc"]
    arms = {a: ev["arms"][a] for a in ARMS if a in ev["arms"]}           # JSON sorts keys; keep the arm order
    ptq["acc"] = {f"int{b}": ptq["acc"][f"int{b}"] for b in ptq["bits"]}

    v_mech = judge_mech_amended(mech, mech_m)
    acc_fp32 = {k: acc["fp32"][str(k)]["acc"] for k in ks}
    train_gate = fp32_gate(acc_fp32)
    v_p3 = judge_p3(acc_fp32)
    c_ref = _stack(correct, "fp32", arms["fp32"], ks)
    gaps = {}
    for arm in arms:
        if arm != "fp32":
            n = min(arms[arm], arms["fp32"])
            gaps[arm] = {**did_stats(c_ref[:n], _stack(correct, arm, n, ks), ks, p.n_boot, io.seed("gap", arm)),
                         "ks": ks}
    for name in ptq["acc"]:
        n = arms["fp32"]
        gaps[name] = {**did_stats(c_ref, _stack(ptq_correct, name, n, ks), ks, p.n_boot, io.seed("gap", name)),
                      "ks": ks}
    if PRIMARY in arms:
        t2 = acc[PRIMARY]["2"]
        f2 = acc["fp32"]["2"]
        v_p1 = judge_p1_amended((sum(f2["correct"]), f2["n"]), (sum(t2["correct"]), t2["n"]), acc_fp32)
        v_p2 = judge_p2(gaps[PRIMARY], train_gate, t2["acc"])
    else:
        v_p1, v_p2 = arm_missing("P1", fp32_gate(acc_fp32, P1_GATE_KS)), arm_missing("P2", train_gate)

    figs = _figures(io, mech, ks, {a: acc[a] for a in arms}, {a: g for a, g in gaps.items() if a in arms},
                    {"fp32": acc["fp32"], **ptq["acc"]})
    sections = _sections(mech, ks, arms, acc, gaps, ptq, figs, io)
    out = report(io, PAPER, [v_mech, v_p3, v_p1, v_p2], sections, io.profile)
    if PRIMARY in gaps:
        out.update({"did_fq4": gaps[PRIMARY]["did"], "rho_fq4": gaps[PRIMARY]["rho"]})
    return out


def _sections(mech, ks, arms, acc, gaps, ptq, figs, io) -> list[str]:
    bits = mech["bits"]
    s = ["## Stage A: exact thresholds of counting by averaging", "",
         "| b | " + " | ".join(map(str, bits)) + " | 24 (fp32) |", "|---|" + "---|" * (len(bits) + 1)]
    for acc_v in ("low", "fp32"):
        s.append(f"| m_max, {acc_v} accumulation | " + " | ".join(str(mech["m_max"][acc_v][str(b)]) for b in bits)
                 + f" | ≥ {mech['m_max'][acc_v]['24']} |")
    s += ["", "Cross-check with real torch casts (m_max): " + ", ".join(f"{k} = {v}" for k, v in mech["native"].items()),
          "", "Hand-built circuits (illustration of the proof mechanism, not learning evidence): carry-lookahead ADD "
          f"minimum accuracy over b in {sorted(int(b) for b in mech['add'])} and n ≤ {mech['add_max_n']}: "
          f"{min(mech['add'].values()):.3f}. Column-count circuits, first k (IterADD) / n (MUL) of the grid with an "
          "error, fp32 accumulation:", "", "| b | m_max | IterADD k_fail | MUL n_fail |", "|---|---|---|---|"]
    grid = mech["circuit_grid"]
    for b in bits:
        kf = next((x for x, a in zip(grid, mech["iteradd"][f"fp32_b{b}"]) if a < 1), "none")
        nf = next((x for x, a in zip(grid, mech["mul"][f"fp32_b{b}"]) if a < 1), "none")
        s.append(f"| {b} | {mech['m_max']['fp32'][str(b)]} | {kf} | {nf} |")
    s += ["", "## Stage B1: exact match per k (pooled over seeds, Wilson 95% CI)", "",
          "| arm (seeds) | " + " | ".join(f"k={k}" for k in ks) + " |", "|---|" + "---|" * len(ks)]
    s += [_acc_rows(f"{a} ({n})", acc[a], ks) for a, n in arms.items()]
    s += ["", "Gap g(k) = acc_fp32 − acc_arm (paired bootstrap 95% CI of g(k_max) − g(2) over test items):", "",
          "| arm | " + " | ".join(f"g({k})" for k in ks) + " | Spearman ρ | g(k_max) − g(2) [CI] | per seed |",
          "|---|" + "---|" * (len(ks) + 3)]
    for a, st in gaps.items():
        s.append(f"| {a} | " + " | ".join(f"{x:+.3f}" for x in st["g"]) + f" | {st['rho']:.2f} | {st['did']:+.3f} "
                 f"[{st['did_ci'][0]:+.3f}, {st['did_ci'][1]:+.3f}] | "
                 + ", ".join(f"{x:+.3f}" for x in st["did_per_seed"]) + " |")
    s += ["", "## Stage C: post-training weight quantisation of the fp32 models (no verdict)", "",
          "| weights | " + " | ".join(f"k={k}" for k in ks) + " |", "|---|" + "---|" * len(ks)]
    s += [_acc_rows(name, tab, ks) for name, tab in ptq["acc"].items()]
    s += ["", f"Output head quantised: {ptq['quantize_head']}. Relative weight error: "
          + ", ".join(f"{k} = {v:.4f}" for k, v in ptq["weight_rel_error"].items()), "",
          "Secondary arms (fq8, bf16_pure) and PTQ carry no pass/fail; a null bf16 result is expected (Stage A: bf16 "
          "counts exactly up to the m_max above). Verdicts are 'consistent / not consistent with' asymptotic theory.",
          "", "## Figures", "", *figs]
    return s
