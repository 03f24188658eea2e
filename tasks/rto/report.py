"""Stage `report`: verdicts for C1-C5 from `evaluate`'s results, the figures, report.md and claims.json.

The criteria are the sheet's pre-registered ones, fixed as code (constants below) before any result was seen;
nothing here reads a result to choose a threshold. "Reward at matched KL": each run's held-out curve (true reward
against exact KL, one point every `eval_every` PPO iterations, starting at pi_ref) is made monotone in KL (running
maximum) and linearly interpolated at k* = the smaller of the two runs' final KLs. DPO's curve is traced by the
geometric mixtures of pi_ref and pi_dpo (evaluate.py). SE: standard error of the paired per-seed differences.

Run: `paperflow stage rto report`.
"""
from __future__ import annotations

import numpy as np

from tasks.common import plotting
from tasks.common.claims import INCONCLUSIVE, Verdict, ci, from_checks, report
from tasks.common.stats import mean_se

from .params import ReportParams
from .rewards import ARMS, parse_item

# --- pre-registered criteria (sheet, Claims and pass criteria) -----------------------------------------------
C1_MIN_SEEDS = 3              # RTO - PPO-sparse at matched KL > 0 in every one of (at least) 3 seeds ...
C1_SE_FACTOR = 2.0            # ... and mean difference > 2 SE
C2_MIN_SEEDS = 3              # same test vs DPO; plus RTO final true reward > pi_ref's in every seed
C3_MAX_FRACTION = 0.5         # RTO reaches PPO-sparse's final true reward within <= 50 % of the rollouts, every seed
C3_STRETCH_FRACTION = 0.125   # the paper's 1/8 (reported, not judged)
C4_MIN_DIFF = 0.0             # B - D at matched KL > 0 in the mean over the paired seeds (secondary)
GATE_MIN_ACC = 0.55           # validity: the RM (C1, C3, C5) / DPO (C2, C4) must beat chance on held-out pairs
                              # against the true order; otherwise the comparison is vacuous -> INCONCLUSIVE


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
    return sorted(parse_item(it)[1] for it in res["curves"] if parse_item(it)[0] == arm)


def paired(res: dict, a: str, b: str) -> tuple[list[int], np.ndarray, list[float]]:
    """Seeds both arms ran, the matched-KL differences a - b per seed, and the k* per seed."""
    ss = [s for s in seeds_of(res, a) if s in seeds_of(res, b)]
    out = [matched(res["curves"][f"{a}-s{s}"], res["curves"][f"{b}-s{s}"]) for s in ss]
    return ss, np.array([o[0] for o in out]), [o[1] for o in out]


def _se_ci(d: np.ndarray) -> dict:
    m, se = mean_se(d)
    return ci(m, m - 2 * se, m + 2 * se) if np.isfinite(se) else ci(m, np.nan, np.nan)


def gate(res: dict, which: str, item: str = "full") -> tuple[bool, str]:
    acc = res["upstream"][f"{which}_{item}"]["heldout_acc_true_order"]
    return acc >= GATE_MIN_ACC, f"{which} ({item} pairs) held-out accuracy vs true order {acc:.3f} < {GATE_MIN_ACC}"


def c1(res: dict) -> Verdict:
    ss, d, ks = paired(res, "rto", "sentence")
    if len(ss) < C1_MIN_SEEDS:
        return Verdict("C1", INCONCLUSIVE, f"only {len(ss)} paired seeds (need {C1_MIN_SEEDS})")
    m, se = mean_se(d)
    meas = {"RTO - PPO-sparse at matched KL (mean, +-2 SE)": _se_ci(d), "per seed": [round(float(v), 4) for v in d],
            "matched KL per seed": [round(float(k), 3) for k in ks]}
    checks = {"> 0 in every seed": bool(np.all(d > 0)), f"mean > {C1_SE_FACTOR:g} SE": bool(m > C1_SE_FACTOR * se)}
    return from_checks("C1", checks, meas, gate(res, "reward_model"))


def c2(res: dict) -> Verdict:
    dc = dpo_curve(res)
    ss = seeds_of(res, "rto")
    if len(ss) < C2_MIN_SEEDS:
        return Verdict("C2", INCONCLUSIVE, f"only {len(ss)} RTO seeds (need {C2_MIN_SEEDS})")
    out = [matched(res["curves"][f"rto-s{s}"], dc) for s in ss]
    d = np.array([o[0] for o in out])
    m, se = mean_se(d)
    ref = res["policies"]["ref"]["true"]
    fin = np.array([res["policies"][f"rto-s{s}"]["true"] for s in ss])
    meas = {"RTO - DPO at matched KL (mean, +-2 SE)": _se_ci(d), "per seed": [round(float(v), 4) for v in d],
            "matched KL per seed": [round(float(o[1]), 3) for o in out],
            "RTO final true reward - pi_ref (per seed)": [round(float(v), 4) for v in fin - ref]}
    checks = {"RTO - DPO > 0 in every seed": bool(np.all(d > 0)), f"mean > {C1_SE_FACTOR:g} SE": bool(m > C1_SE_FACTOR * se),
              "RTO > pi_ref in every seed": bool(np.all(fin > ref))}
    return from_checks("C2", checks, meas, gate(res, "dpo"))


def c3(res: dict) -> Verdict:
    ss = [s for s in seeds_of(res, "rto") if s in seeds_of(res, "sentence")]
    if not ss:
        return Verdict("C3", INCONCLUSIVE, "RTO / PPO-sparse runs missing")
    fr, above = [], []
    for s in ss:
        cs, cr = res["curves"][f"sentence-s{s}"], res["curves"][f"rto-s{s}"]
        fr.append(rollouts_to_reach(cr, cs["true"][-1]) / cs["rollouts"][-1])
        above.append(float(np.mean(np.array(cr["true"][1:]) > np.array(cs["true"][1:]))))
    fr = np.array(fr)
    meas = {"rollout fraction RTO needs to reach PPO-sparse's final reward (per seed)": [round(float(f), 3) for f in fr],
            "share of curve points with RTO above PPO-sparse (per seed)": [round(a, 3) for a in above],
            f"reaches within the paper's 1/8 ({C3_STRETCH_FRACTION}) in every seed": bool(np.all(fr <= C3_STRETCH_FRACTION))}
    if "rto_quarter-s0" in res["policies"] and "sentence-s0" in res["policies"]:
        q, f = res["policies"]["rto_quarter-s0"], res["policies"]["sentence-s0"]
        meas["data scaling (reported): RTO 1/4 pairs - PPO-sparse all pairs, final true reward, s0"] = round(q["true"] - f["true"], 4)
        meas["... their final KLs"] = [round(q["kl"], 3), round(f["kl"], 3)]
    checks = {f"fraction <= {C3_MAX_FRACTION} in every seed": bool(np.all(fr <= C3_MAX_FRACTION))}
    return from_checks("C3", checks, meas, gate(res, "reward_model"))


def c4(res: dict) -> Verdict:
    ss, d, ks = paired(res, "rto", "dpo_end")
    if not ss:
        return Verdict("C4", INCONCLUSIVE, "arm D (dpo_end) or paired RTO seed missing")
    meas = {"B - D at matched KL (mean over paired seeds)": float(d.mean()), "paired seeds": ss,
            "matched KL": [round(float(k), 3) for k in ks]}
    ssc, dc, _ = paired(res, "dpo_token", "dpo_end")
    if ssc:
        meas["C - D at matched KL (density only, reported)"] = float(dc.mean())
    return from_checks("C4", {f"B - D > {C4_MIN_DIFF:g}": bool(d.mean() > C4_MIN_DIFF)}, meas, gate(res, "dpo"))


def c5(res: dict) -> Verdict:
    ss, d, ks = paired(res, "rto_quarter", "sentence_quarter")
    if not ss:
        return Verdict("C5", INCONCLUSIVE, "1/4-pairs runs not run")
    rmq = res["upstream"]["reward_model_quarter"]["heldout_acc_true_order"]
    meas = {"RTO - PPO-sparse, 1/4 pairs, at matched KL": float(d.mean()), "seeds": ss, "matched KL": ks,
            "weak RM held-out accuracy": rmq, "full RM held-out accuracy": res["upstream"]["reward_model_full"]["heldout_acc_true_order"]}
    side = "ahead of" if d.mean() > 0 else "level with" if d.mean() == 0 else "behind"
    return Verdict("C5", INCONCLUSIVE, f"descriptive only (no pre-registered criterion; {len(ss)} seed): RTO is {side} "
                   f"PPO-sparse by {abs(d.mean()):.4f} true reward at matched KL with the weaker RM", meas)


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
    lines += ["", f"Correlation of DPO's token log-ratio with the true token reward (pi_ref samples): "
              f"{res['token_corr_dpo_true']:.3f}."]
    return lines


def run(p: ReportParams, io) -> dict[str, float]:
    from . import PAPER

    res = io.load_json("evaluate", "results.json")
    vs = [c1(res), c2(res), c3(res), c4(res), c5(res)]
    figs = io.out / "figures"
    sections = ["## Figures", "", fig_rollouts(res, figs / "reward_vs_rollouts.png"),
                fig_frontier(res, figs / "reward_vs_kl.png"), fig_heatmap(res, figs / "token_reward_heatmap.png"),
                "", *tables(res)]
    return report(io, PAPER, vs, sections, io.profile)
