"""Stage `report`: verdicts for C1-C5 from `evaluate`'s results, the figures, report.md and claims.json.

This stage computes the numbers; the pre-registered judges and their constants live in `criteria.py`. "Reward at
matched KL": each run's held-out curve (true reward against exact KL, one point every `eval_every` PPO iterations,
starting at pi_ref) is made monotone in KL (running maximum) and linearly interpolated at k* = the smaller of the
two runs' final KLs. DPO's curve is traced by the geometric mixtures of pi_ref and pi_dpo (evaluate.py). SE:
standard error of the paired per-seed differences.

Run: `paperflow stage rto report`.
"""
from __future__ import annotations

import numpy as np

from tasks.common import plotting
from tasks.common.claims import Verdict, report

from . import criteria
from .params import ReportParams
from . import PPO_ITEMS
from .rewards import ARMS


def monotone_interp(kl, r, k: float) -> float:
    """Reward of a curve at KL k: KL made non-decreasing by running max, then linear interpolation; nan if k is
    beyond the curve's largest KL."""
    kl, r = np.maximum.accumulate(np.asarray(kl, float)), np.asarray(r, float)
    if k > kl[-1] + 1e-12:
        return float("nan")
    kl_u, idx = np.unique(kl, return_index=True)             # first point at each KL
    return float(np.interp(k, kl_u, r[idx]))


def matched(ca: dict, cb: dict) -> tuple[float, float, float]:
    """(R_a(k*) - R_b(k*), k*, R_b(k*)) with k* the smaller final KL of curves a and b ({'kl': [...], 'true': [...]})."""
    k = min(ca["kl"][-1], cb["kl"][-1])
    ra, rb = monotone_interp(ca["kl"], ca["true"], k), monotone_interp(cb["kl"], cb["true"], k)
    return ra - rb, k, rb


def rollouts_to_reach(curve: dict, target: float) -> float:
    """Rollouts at which a curve first reaches `target` (linear between curve points); inf if never."""
    x, y = np.asarray(curve["rollouts"], float), np.asarray(curve["true"], float)
    hit = np.nonzero(y >= target)[0]
    if not hit.size:
        return float("inf")
    j = int(hit[0])
    if j == 0:
        return float(x[0])
    return float(x[j - 1] + (target - y[j - 1]) / (y[j] - y[j - 1]) * (x[j] - x[j - 1]))


def dpo_curve(res: dict) -> dict:
    pts = sorted(res["dpo_curve"], key=lambda d: d["alpha"])
    ref = res["policies"]["ref"]
    return {"kl": [0.0] + [d["kl"] for d in pts], "true": [ref["true"]] + [d["true"] for d in pts]}


def seeds_of(res: dict, arm: str) -> list[int]:
    return sorted(it.seed for it in PPO_ITEMS if it.arm == arm and it in res["curves"])


def paired(res: dict, a: str, b: str) -> tuple[list[int], np.ndarray, list[float]]:
    """Seeds both arms ran, the matched-KL differences a - b per seed, and the k* per seed."""
    ss = [s for s in seeds_of(res, a) if s in seeds_of(res, b)]
    out = [matched(res["curves"][f"{a}-s{s}"], res["curves"][f"{b}-s{s}"]) for s in ss]
    return ss, np.array([o[0] for o in out]), [o[1] for o in out]


def _acc(res: dict, which: str, item: str = "full") -> float:
    """Held-out pairwise accuracy vs the true order of the `which` model trained on `item` pairs (the gates)."""
    return res["upstream"][f"{which}_{item}"]["heldout_acc_true_order"]


def final_diffs(res: dict, a: str, b: str, seeds) -> np.ndarray:
    """Final-policy true reward a - b per seed (evaluate's held-out measurement of the final actors)."""
    pol = res["policies"]
    return np.array([pol[f"{a}-s{s}"]["true"] - pol[f"{b}-s{s}"]["true"] for s in seeds])


def final_kls(res: dict, arms, seeds=None) -> list[float]:
    pol = res["policies"]
    return [pol[f"{a}-s{s}"]["kl"] for a in arms for s in (seeds_of(res, a) if seeds is None else seeds)
            if f"{a}-s{s}" in pol]


def fraction_to_reach(res: dict, fast: str, slow: str, s: int) -> float:
    """Fraction of `slow`'s rollouts `fast` needs to reach `slow`'s final curve reward (inf if never)."""
    cs, cf = res["curves"][f"{slow}-s{s}"], res["curves"][f"{fast}-s{s}"]
    return rollouts_to_reach(cf, cs["true"][-1]) / cs["rollouts"][-1]


def f_axis(res: dict, axis: str) -> list[float]:
    """Arm F (true reward) dense vs sparse per F seed on `axis` (criteria.density_gate)."""
    ss = [s for s in seeds_of(res, "true_dense") if s in seeds_of(res, "true_sparse")]
    if axis == "matched KL":
        return list(paired(res, "true_dense", "true_sparse")[1])
    if axis == "final":
        return list(final_diffs(res, "true_dense", "true_sparse", ss))
    return [fraction_to_reach(res, "true_dense", "true_sparse", s) for s in ss]


def common_gates(res: dict, arms, learner: str, axis: str | None):
    gates = [criteria.acc_gate(learner, _acc(res, learner)),
             criteria.cal_gate(res["upstream"]["calibrate"]["ratio_full"]),
             criteria.kl_gate(final_kls(res, arms))]
    if axis is not None:
        gates.append(criteria.density_gate(axis, f_axis(res, axis)))
    return gates


def c1(res: dict) -> Verdict:
    ss, d, ks = paired(res, "rto", "sentence")
    arms = ("rto", "sentence")
    orig = criteria.c1_rto_vs_sparse(d, ks, common_gates(res, arms, "reward_model", "matched KL"))
    kls = [[round(res["policies"][f"{a}-s{s}"]["kl"], 2) for a in arms] for s in ss]
    return criteria.c1_amended(final_diffs(res, "rto", "sentence", ss), d, orig,
                               common_gates(res, arms, "reward_model", "final"), kls)


def c2(res: dict) -> Verdict:
    dc, ss = dpo_curve(res), seeds_of(res, "rto")
    out = [matched(res["curves"][f"rto-s{s}"], dc) for s in ss]
    fin = [res["policies"][f"rto-s{s}"]["true"] for s in ss]
    ref = res["policies"]["ref"]["true"]
    gates = common_gates(res, ("rto",), "dpo", None)
    md = [o[0] for o in out]
    orig = criteria.c2_rto_vs_dpo(md, [o[1] for o in out], fin, ref, gates)
    fd = [f - res["policies"]["dpo_full"]["true"] for f in fin]
    return criteria.c2_amended(fd, md, fin, ref, orig, gates)


def c3(res: dict) -> Verdict:
    ss = [s for s in seeds_of(res, "rto") if s in seeds_of(res, "sentence")]
    fr, above, kl_at = [], [], []
    for s in ss:
        cs, cr = res["curves"][f"sentence-s{s}"], res["curves"][f"rto-s{s}"]
        fr.append(fraction_to_reach(res, "rto", "sentence", s))
        above.append(float(np.mean(np.array(cr["true"][1:]) > np.array(cs["true"][1:]))))
        at = fr[-1] * cs["rollouts"][-1]
        kl_at.append(round(float(np.interp(at, cr["rollouts"], cr["kl"])), 3) if np.isfinite(at) else None)
    reported = {"RTO's KL when it reaches PPO-sparse's final reward (per seed)": kl_at,
                "PPO-sparse's final KL (per seed)": [round(res["curves"][f"sentence-s{s}"]["kl"][-1], 3) for s in ss]}
    if "rto_quarter-s0" in res["policies"] and "sentence-s0" in res["policies"]:
        q, f = res["policies"]["rto_quarter-s0"], res["policies"]["sentence-s0"]
        reported.update({"data scaling (reported): RTO 1/4 pairs - PPO-sparse all pairs, final true reward, s0":
                         round(q["true"] - f["true"], 4), "... their final KLs": [round(q["kl"], 3), round(f["kl"], 3)]})
    return criteria.c3_sample_efficiency(fr, above, common_gates(res, ("rto", "sentence"), "reward_model", "rollouts"),
                                         reported)


def c4(res: dict) -> Verdict:
    ss, d, ks = paired(res, "rto", "dpo_end")
    orig = criteria.c4_density(d, ss, ks, common_gates(res, ("rto", "dpo_end"), "dpo", "matched KL"))
    sc, dc, _ = paired(res, "dpo_token", "dpo_end")
    return criteria.c4_amended(final_diffs(res, "dpo_token", "dpo_end", sc), dc, sc, orig,
                               common_gates(res, ("dpo_token", "dpo_end"), "dpo", "final"))


def c5(res: dict) -> Verdict:
    ss, d, ks = paired(res, "rto_quarter", "sentence_quarter")
    return criteria.c5_weak_rm(d, ss, ks, _acc(res, "reward_model", "quarter"), _acc(res, "reward_model"),
                               final_diffs(res, "rto_quarter", "sentence_quarter", ss))


# --- figures and tables ----------------------------------------------------------------------------------------
def _arm_curves(res: dict, arm: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    cs = [res["curves"][f"{arm}-s{s}"] for s in seeds_of(res, arm)]
    return np.asarray(cs[0]["rollouts"]), np.array([c[key] for c in cs])


def fig_rollouts(res: dict, path) -> str:
    fig, (ax,) = plotting.figure(1, width=6.0)
    for i, arm in enumerate(ARMS):
        if not seeds_of(res, arm):
            continue
        x, y = _arm_curves(res, arm, "true")
        ax.plot(x, y.mean(0), color=f"C{i}", label=f"{ARMS[arm].label} ({len(y)} seed{'s' * (len(y) > 1)})")
        if len(y) > 1:
            ax.fill_between(x, y.min(0), y.max(0), color=f"C{i}", alpha=0.15)
    ax.axhline(res["policies"]["ref"]["true"], color="k", ls=":", label="pi_ref (SFT)")
    ax.axhline(res["policies"]["dpo_full"]["true"], color="gray", ls="--", label="DPO")
    ax.set_xlabel("PPO rollouts")
    ax.set_ylabel("true reward r* (held-out prompts)")
    ax.set_title("true reward vs rollouts (mean, min-max over seeds)", fontsize=9)
    ax.legend(fontsize=7)
    return plotting.save(fig, path)


def fig_frontier(res: dict, path) -> str:
    fig, (ax,) = plotting.figure(1, width=6.0)
    for i, arm in enumerate(ARMS):
        for j, s in enumerate(seeds_of(res, arm)):
            c = res["curves"][f"{arm}-s{s}"]
            ax.plot(c["kl"], c["true"], color=f"C{i}", marker=".", ms=3, lw=1, label=ARMS[arm].label if j == 0 else None)
    dc = dpo_curve(res)
    ax.plot(dc["kl"], dc["true"], "k--", marker="s", ms=4, label="DPO (mixtures with pi_ref)")
    ax.set_xlabel("KL(pi || pi_ref), exact per step, summed over the response")
    ax.set_ylabel("true reward r*")
    ax.set_title("reward-KL frontier (every run, every curve point)", fontsize=9)
    ax.legend(fontsize=7)
    return plotting.save(fig, path)


def fig_heatmap(res: dict, path) -> str:
    hm = res["heatmap"]
    t, d = np.array(hm["true"]) * res["H"], np.array(hm["dpo_logratio"])
    fig, axes = plotting.figure(2, width=5.5, height=0.5 * len(t) + 1.6)
    for ax, m, title in ((axes[0], t, "true token reward W[c, y_(h-1), y_h]"),
                         (axes[1], d, "DPO token reward log pi_dpo / pi_ref")):
        lim = float(np.abs(m).max()) or 1.0
        im = ax.imshow(m, cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
        ax.set_xlabel("response position h")
        ax.set_ylabel("pi_ref response")
        ax.set_title(title, fontsize=9)
        fig.colorbar(im, ax=ax)
    return plotting.save(fig, path)


def tables(res: dict) -> list[str]:
    pol = res["policies"]
    lines = [f"## Final policies ({res['n_samples']} held-out samples each; +- SE over samples)", "",
             "| policy | true reward r* | KL(pi, pi_ref) | normalised RM score |", "|---|---|---|---|"]
    for name, s in pol.items():
        lines.append(f"| {name} | {s['true']:.4f} +- {s['true_se']:.4f} | {s['kl']:.3f} +- {s['kl_se']:.3f} | "
                     f"{s['rm']:.2f} +- {s['rm_se']:.2f} |")
    lines += ["", "## DPO KL-reward curve (geometric mixtures pi_ref^(1-a) pi_dpo^a)", "", "| a | true reward | KL |",
              "|---|---|---|"]
    lines += [f"| {d['alpha']} | {d['true']:.4f} | {d['kl']:.3f} |" for d in res["dpo_curve"]]
    up = res["upstream"]
    lines += ["", "## Upstream models (held-out pairwise accuracy against the true order)", "",
              "| model | full pairs | 1/4 pairs |", "|---|---|---|"]
    for st in ("reward_model", "dpo"):
        lines.append(f"| {st} | {up[f'{st}_full']['heldout_acc_true_order']:.3f} | {up[f'{st}_quarter']['heldout_acc_true_order']:.3f} |")
    lines.append(f"| bigram-table Bradley-Terry reference (same pairs) | {up['reward_model_full']['bt_table_acc_true_order']:.3f} | "
                 f"{up['reward_model_quarter']['bt_table_acc_true_order']:.3f} |")
    cal = up["calibrate"]
    lines += ["", "## Calibration of RTO's DPO token reward (calibrate.py, on pi_ref samples, before any PPO run)", "",
              "| pairs | beta1 | clip c | std(sum DPO term) / std(RM), clipped | unclipped | tokens clipped |",
              "|---|---|---|---|---|---|"]
    for it in ("full", "quarter"):
        c = cal[f"clip_{it}"]
        lines.append(f"| {it} | {cal[f'beta1_{it}']:.4f} | {'inf' if c < 0 else c} | {cal[f'ratio_{it}']:.3f} | "
                     f"{cal[f'ratio_unclipped_{it}']:.3f} | {cal[f'clip_fraction_{it}']:.3f} |")
    lines += ["", "## Arm F (PPO on the true reward): dense vs sparse, per F seed", "",
              "| axis | dense - sparse per F seed |", "|---|---|"]
    for ax in criteria.AXES:
        lines.append(f"| {ax}{' (fraction of rollouts)' if ax == 'rollouts' else ''} | "
                     f"{', '.join(f'{v:.4f}' for v in f_axis(res, ax))} |")
    lines += ["", f"Correlation of DPO's token log-ratio with the true token reward (pi_ref samples): "
              f"{res['token_corr_dpo_true']:.3f}."]
    return lines


def grid_table(grid: dict) -> list[str]:
    pts = grid.get("points", [])
    if not pts:
        return ["", "## Tuning grid", "", "Not run in this profile (the `grid` stage runs in `full`)."]
    lines = ["", "## Tuning grid (seed 0, every point)", "", "| arm | beta1 | clip c | KL coef | actor lr | final true | final KL |",
             "|---|---|---|---|---|---|---|"]
    for q in pts:
        lines.append(f"| {q['arm']} | {q['beta1']:g} | {'-' if q['arm'] == 'sentence' else (q['clip'] or 'inf')} | {q['kl_coef']:g} | {q['lr_actor']:g} | "
                     f"{q['final_true']:.4f} | {q['final_kl']:.3f} |")
    return lines


def run(p: ReportParams, io) -> dict[str, float]:
    from . import PAPER

    res = io.load_json("evaluate", "results.json")
    vs = [c1(res), c2(res), c3(res), c4(res), c5(res)]
    figs = io.out / "figures"
    sections = ["## Figures", "", fig_rollouts(res, figs / "reward_vs_rollouts.png"),
                fig_frontier(res, figs / "reward_vs_kl.png"), fig_heatmap(res, figs / "token_reward_heatmap.png"),
                "", *tables(res), *grid_table(io.load_json("grid", "grid.json"))]
    return report(io, PAPER, vs, sections, io.profile)
