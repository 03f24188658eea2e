"""Stage `report`: verdicts C1-C6 (criteria.py) from `evaluate`, figures, claims.json and report.md.

ID / OOD accuracy = mean over lengths of the per-length final-answer accuracy (pp). CIs: percentile bootstrap over
test problems (n_boot resamples, seeded), paired across arms (every arm answers the same problems); per-length
accuracies carry Wilson 95 % CIs. Run: `paperflow stage relay report`.
"""
from __future__ import annotations

import numpy as np

from tasks.common import plotting
from tasks.common.claims import ci, report
from tasks.common.stats import bootstrap_ci

from . import criteria as C
from .params import ReportParams

NAMES = {"ar": "AR-CoT", "aligned": "looped (aligned)", "vanilla": "looped (vanilla)", "relay": "RELAY-FT",
         "selfchain": "self-chain (GT filter)"}


def mean_over_lengths(correct: np.ndarray, ks: np.ndarray, lengths: list[int]) -> float:
    """100 x mean over `lengths` of the per-length mean (nan if a length has no row in this resample)."""
    vals = [correct[ks == k].mean() if (ks == k).any() else np.nan for k in lengths]
    return 100.0 * float(np.mean(vals))


def boot(fn, *arrays, p: ReportParams) -> dict:
    lo, hi = bootstrap_ci(fn, *arrays, n_boot=p.n_boot, seed=p.seed)
    return ci(fn(*arrays), lo, hi)


def run(p: ReportParams, io) -> dict[str, float]:
    from . import PAPER

    res = io.load_json("evaluate", "results.json")
    arr = io.load_npz("evaluate", "problems.npz")
    quality = io.load_json("generate_chains", "quality.json")
    phases = io.load_json("finetune", "phases.json", item="selfchain")
    N, K = res["N"], res["K"]
    ks = arr["k"]
    id_l, ood_l = list(range(1, N + 1)), list(range(N + 1, N + K + 1))
    ood = ks > N
    acc = {a: {s: mean_over_lengths(arr[f"{a}__correct"], ks, L) for s, L in (("id", id_l), ("ood", ood_l))}
           for a in NAMES}
    o = {a: arr[f"{a}__correct"][ood].astype(float) for a in NAMES}
    ko = ks[ood]

    def diff(a: str, b: str):
        return boot(lambda x, y, k: mean_over_lengths(x, k, ood_l) - mean_over_lengths(y, k, ood_l), o[a], o[b], ko,
                    p=p)

    gap = boot(lambda x, k: mean_over_lengths(x, k, id_l) - mean_over_lengths(x, k, ood_l),
               arr["ar__correct"].astype(float), ks, p=p)
    c1 = C.c1_premise(acc["ar"]["id"], acc["ar"]["ood"], gap,
                      {"ar_correct_but_wrong_step_ood": res["ar_correct_but_wrong_step"]["ood"]})
    c2 = C.c2_looped_vs_ar(acc["aligned"]["id"], acc["aligned"]["ood"], acc["ar"]["ood"], diff("aligned", "ar"), c1)
    c3 = C.c3_aligned_vs_vanilla(acc["aligned"]["id"], acc["aligned"]["ood"], acc["vanilla"]["id"],
                                 acc["vanilla"]["ood"], diff("aligned", "vanilla"))
    tok = {int(k): 100 * v["value"] for k, v in res["arms"]["aligned"]["tok"].items()}
    judged = {k: tok[k] for k in range(N + 1, N + K // 2 + 1) if k in tok}
    c4 = C.c4_chain_accuracy(acc["aligned"]["id"], judged,
                             {f"token_acc_len{k}": v for k, v in tok.items() if k > N + K // 2})
    c5 = C.c5_relay(acc["relay"]["id"], acc["relay"]["ood"], acc["ar"]["ood"], acc["aligned"]["id"],
                    acc["aligned"]["ood"], diff("relay", "ar"), diff("relay", "aligned"), c1)
    relay_gain, self_gain = acc["relay"]["ood"] - acc["ar"]["ood"], acc["selfchain"]["ood"] - acc["ar"]["ood"]
    c6_ci = boot(lambda r, s, a, k: 0.5 * (mean_over_lengths(r, k, ood_l) - mean_over_lengths(a, k, ood_l))
                 - (mean_over_lengths(s, k, ood_l) - mean_over_lengths(a, k, ood_l)),
                 o["relay"], o["selfchain"], o["ar"], ko, p=p)
    c6 = C.c6_selfchain(self_gain, relay_gain, c6_ci, c1, {"selfchain_ood": acc["selfchain"]["ood"],
                                                           "relay_ood": acc["relay"]["ood"], "ar_ood": acc["ar"]["ood"]})
    vs = [C.at_scale(v, io.profile) for v in (c1, c2, c3, c4, c5, c6)]
    figs = io.out / "figures"
    sections = ["## Figures", "", fig_accuracy(res, N, figs), fig_tokens(res, N, figs), fig_hits(res, figs), "",
                *tables(res, acc, quality, phases, N)]
    out = report(io, PAPER, vs, sections, io.profile)
    return {**out, **{f"{a}_{s}": v for a, d in acc.items() for s, v in d.items()}}


def tables(res, acc, quality, phases, N) -> list[str]:
    arms = res["arms"]
    lengths = sorted(int(k) for k in arms["ar"]["correct"])
    lines = ["## Final-answer accuracy per length (%, Wilson 95 % CI)", "",
             "| arm | ID | OOD | " + " | ".join(str(k) for k in lengths) + " |", "|---" * (len(lengths) + 3) + "|"]
    for a, name in NAMES.items():
        cells = [f"{100 * arms[a]['correct'][str(k)]['value']:.1f} [{100 * arms[a]['correct'][str(k)]['lo']:.0f}, "
                 f"{100 * arms[a]['correct'][str(k)]['hi']:.0f}]" for k in lengths]
        lines.append(f"| {name} | {acc[a]['id']:.1f} | {acc[a]['ood']:.1f} | " + " | ".join(cells) + " |")
    lines += ["", "## Chain token accuracy per length (%)", "",
              "| arm | " + " | ".join(str(k) for k in lengths) + " |", "|---" * (len(lengths) + 1) + "|"]
    for a in ("ar", "aligned", "relay", "selfchain"):
        lines.append(f"| {NAMES[a]} | " + " | ".join(f"{100 * arms[a]['tok'][str(k)]['value']:.1f}" for k in lengths)
                     + " |")
    lines += ["", "## Stage II chains (looped-aligned on the Stage-II problems, vs ground truth; not filtered)", "",
              "| length | answer acc | token acc | exact chain | n |", "|---|---|---|---|---|"]
    lines += [f"| {k} | {q['answer_acc']:.3f} | {q['token_acc']:.3f} | {q['exact']:.3f} | {q['n']} |"
              for k, q in sorted(quality.items(), key=lambda kv: int(kv[0]))]
    lines += ["", "## Self-chain phases (GT-answer filter)", "",
              "| phase length | problems | kept (correct answer) | of kept: >= 1 wrong step | original mixed in | steps |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {ph['k']} | {ph['n_problems']} | {ph['n_kept']} | {ph['correct_but_wrong_step']:.3f} | "
              f"{ph['n_original']} | {ph['steps']} |" for ph in phases]
    ws = res["ar_correct_but_wrong_step"]
    lines += ["", f"AR-CoT test chains with a correct answer but >= 1 wrong step (reported, not gated): "
              f"ID {ws['id']:.3f}, OOD {ws['ood']:.3f} (share of the correct ones)."]
    return lines


def fig_accuracy(res, N, figs) -> str:
    fig, ax = plotting.figure(1, width=6.5)
    for i, (a, name) in enumerate(NAMES.items()):
        d = res["arms"][a]["correct"]
        ks = sorted(int(k) for k in d)
        v = np.array([100 * d[str(k)]["value"] for k in ks])
        lo, hi = (np.array([100 * d[str(k)][b] for k in ks]) for b in ("lo", "hi"))
        ax[0].errorbar(ks, v, yerr=[v - lo, hi - v], marker="o", ms=3, capsize=2, label=name, color=f"C{i}")
    ax[0].axvline(N + 0.5, ls=":", color="k")
    ax[0].set(xlabel="operators (dotted: end of training range)", ylabel="final-answer accuracy (%)", ylim=(-3, 103),
              title="C1-C3, C5, C6: accuracy by length (Wilson 95% CI)")
    ax[0].legend(fontsize=7)
    return plotting.save(fig, figs / "accuracy_by_length.png")


def fig_tokens(res, N, figs) -> str:
    fig, ax = plotting.figure(1, width=6.5)
    for i, a in enumerate(("ar", "aligned", "relay", "selfchain")):
        d = res["arms"][a]["tok"]
        ks = sorted(int(k) for k in d)
        ax[0].plot(ks, [100 * d[str(k)]["value"] for k in ks], marker="o", ms=3, label=NAMES[a],
                   color=f"C{list(NAMES).index(a)}")
    ax[0].axhline(C.C4_TOKEN, ls="--", color="C3", lw=0.8, label="C4 threshold")
    ax[0].axvline(N + 0.5, ls=":", color="k")
    ax[0].set(xlabel="operators", ylabel="chain token accuracy (%)", ylim=(-3, 103), title="C4: chain token accuracy")
    ax[0].legend(fontsize=7)
    return plotting.save(fig, figs / "chain_token_accuracy.png")


def fig_hits(res, figs) -> str:
    hits = res["hits"]
    keys = [k for k in ("looped", "ar_selfchain") if k in hits]
    fig, ax = plotting.figure(len(keys), width=4.5)
    for a, key in zip(ax, keys):
        H = np.asarray(hits[key])
        im = a.imshow(H, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        a.set(xlabel="position from the right", ylabel="round (last = answer)",
              title=f"{'looped chains' if key == 'looped' else 'AR self-chains'}, length {res['hit_k']}")
    fig.colorbar(im, ax=ax[-1])
    return plotting.save(fig, figs / "hit_matrices.png")
