"""Stage `report`: paired test-set bootstrap of every AUC (seed means), verdicts P1a-P5 (criteria.py), one figure per
claim, claims.json and report.md. Run: `paperflow stage busgen report`."""
from __future__ import annotations

import numpy as np

from tasks.common.claims import ci, report

from . import criteria as C
from .metrics import auc, bootstrap_aucs, ci95, cross_entropy, sens_at_spec, sens_spec, youden_threshold
from .params import ReportParams


def _arms(preds: dict, set_: str) -> dict[str, list[str]]:
    """arm -> its seed columns (keys 'arm-sK|set')."""
    out: dict[str, list[str]] = {}
    for k in preds:
        name, s = k.split("|")
        if s == set_ and name != "y":
            out.setdefault(name.rsplit("-s", 1)[0], []).append(k)
    return out


class Boot:
    """Seed-mean AUCs of every arm on one test set, point estimate and paired bootstrap replicates."""

    def __init__(self, preds: dict, set_: str, n_boot: int, seed: int):
        self.y = preds[f"y|{set_}"]
        self.arms = _arms(preds, set_)
        cols = [c for v in self.arms.values() for c in v]
        S = np.stack([preds[c] for c in cols], 1)
        point, reps = auc(self.y, S), bootstrap_aucs(self.y, S, n_boot, seed)
        self.point, self.reps = {}, {}
        for a, cs in self.arms.items():
            j = [cols.index(c) for c in cs]
            self.point[a], self.reps[a] = float(point[j].mean()), reps[:, j].mean(1)

    def auc(self, arm: str) -> dict:
        return ci(self.point[arm], *ci95(self.reps[arm]))

    def diff(self, a: str, b: str) -> dict:
        return ci(self.point[a] - self.point[b], *ci95(self.reps[a] - self.reps[b]))


def _mean_diff(boots: list[Boot], a: str, b: str) -> dict:
    """Difference of AUCs averaged over several test sets (devices), each bootstrapped on its own rows."""
    pt = np.mean([bt.point[a] - bt.point[b] for bt in boots])
    reps = np.mean([bt.reps[a] - bt.reps[b] for bt in boots], 0)
    return ci(pt, *ci95(reps))


def _operating_points(preds: dict, arm_cols: list[str]) -> dict:
    """Seed-mean sensitivity/specificity at the Youden threshold from real val, and sensitivity at spec 0.9."""
    se, sp, s90 = [], [], []
    for c in arm_cols:
        name = c.split("|")[0]
        t = youden_threshold(preds["y|val"], preds[f"{name}|val"])
        a, b = sens_spec(preds["y|A"], preds[f"{name}|A"], t)
        se.append(a), sp.append(b), s90.append(sens_at_spec(preds["y|A"], preds[f"{name}|A"], 0.9))
    return {"sens_youden": float(np.mean(se)), "spec_youden": float(np.mean(sp)), "sens_at_spec90": float(np.mean(s90))}


def run(p: ReportParams, io) -> dict[str, float]:
    from tasks.common.plotting import figure, save

    from . import PAPER

    task = io.load_npz("downstream", "preds.npz", item="task")
    scal = io.load_npz("downstream", "preds.npz", item="scaling")
    cal = io.upstream_metrics("calibrate")
    gates = C.calibration_gates(cal["val_auc_ref_large"], cal["val_auc_ref_few"])
    calib = {"val_auc_20k_real": cal["val_auc_ref_large"], "val_auc_64_real": cal["val_auc_ref_few"]}
    bA = Boot(task, "A", p.n_boot, io.seed("A"))
    bB, bC, bD = (Boot(task, d, p.n_boot, io.seed(d)) for d in ("B", "C", "D"))
    gen_ns = sorted(int(a.split("_")[1]) for a in bA.arms if a.startswith("gen_"))
    gmax = f"gen_{gen_ns[-1]}"
    ops = {a: _operating_points(task, bA.arms[a]) for a in ("real_fewshot", "foundation_ft", gmax)}
    verdicts = []
    m1 = {f"auc_{a}": bA.auc(a) for a in ("real_fewshot", "foundation_ft", *[f"gen_{n}" for n in gen_ns])}
    m1.update({f"{k}_{a}": v for a, o in ops.items() for k, v in o.items()}, **calib)
    verdicts.append(C.p1a(bA.diff(gmax, "real_fewshot"), gates, m1))
    verdicts.append(C.p1b(bA.diff(gmax, "foundation_ft"), gates,
                          {"auc_foundation_ft": bA.auc("foundation_ft"), f"auc_{gmax}": bA.auc(gmax), **calib}))
    verdicts.append(C.p2(bA.diff("adapted_a", "scratch"), gates,
                         {"auc_adapted_a": bA.auc("adapted_a"), "auc_scratch": bA.auc("scratch"),
                          "auc_proxy_no_adaptation": bA.auc("proxy"), **calib}))
    # P3: scaling on the BUSI-like test
    bS = Boot(scal, "busi", p.n_boot, io.seed("busi"))
    ns = sorted({int(a.split("_")[1]) for a in bS.arms})
    g_auc, r_auc = [bS.point[f"gen_{n}"] for n in ns], [bS.point[f"real_{n}"] for n in ns]
    ce = {f"{k}_{n}": float(np.mean([cross_entropy(scal["y|busi"], scal[c]) for c in bS.arms[f"{k}_{n}"]]))
          for k in ("gen", "real") for n in ns}
    m3 = {**{f"auc_gen_{n}": bS.auc(f"gen_{n}") for n in ns}, **{f"auc_real_{n}": bS.auc(f"real_{n}") for n in ns},
          **{f"test_ce_{k}": v for k, v in ce.items()}}
    verdicts.append(C.p3(ns, g_auc, r_auc, gates, m3))
    # P4: cross-device generalisation
    arms4 = ("real_a", "adapted_a", "abc", "real_fewshot", "foundation_ft")
    boots = {"A": bA, "B": bB, "C": bC, "D": bD}
    m4 = {f"auc_{a}_{d}": bt.auc(a) for a in arms4 for d, bt in boots.items()}
    for a in ("abc", "real_fewshot", "real_a"):
        m4[f"drop_A_to_BC_{a}"] = bA.point[a] - (bB.point[a] + bC.point[a]) / 2
    verdicts.append(C.p4(_mean_diff([bB, bC], "abc", "adapted_a"), gates, m4))
    # P5: privacy
    pv = io.upstream_metrics("privacy")
    gen5 = {sp: (pv[f"dcr_ratio_task_a_{sp}"], pv[f"mia_auc_task_a_{sp}"]) for sp in ("pixel", "feature")}
    ctl5 = {sp: (pv[f"dcr_ratio_control_{sp}"], pv[f"mia_auc_control_{sp}"]) for sp in ("pixel", "feature")}
    m5 = {f"{k}_{b}_{sp}": pv[f"{k}_{b}_{sp}"] for k in ("dcr_ratio", "mia_auc")
          for b in ("task_a", "scratch", "control", "respeckled")
          for sp in ("pixel", "feature")}
    verdicts.append(C.p5(gen5, ctl5, m5))
    verdicts = [C.smoke_guard(v, io.profile) for v in verdicts]

    figs = io.out / "figures"
    sections = ["## Figures", ""]
    # P1 / P2 bars
    fig, ax = figure(2, width=11)
    names = ["real_fewshot", "foundation_ft", *[f"gen_{n}" for n in gen_ns]]
    _bars(ax[0], bA, names, "P1: benign vs DCIS, device-A test (seed means, 95% CI)")
    _bars(ax[1], bA, ["real_fewshot", "proxy", "scratch", "adapted_a", "real_a"], "P2: generators at N = 1024 (A)")
    sections.append(save(fig, figs / "p1_p2_auc.png"))
    fig, ax = figure(2, width=11)
    for k, c in (("gen", "C0"), ("real", "C1")):
        a = [bS.auc(f"{k}_{n}") for n in ns]
        ax[0].errorbar(ns, [v["value"] for v in a], yerr=[[v["value"] - v["lo"] for v in a], [v["hi"] - v["value"]
                       for v in a]], marker="o", color=c, label=k, capsize=3)
        ax[1].plot(ns, [ce[f"{k}_{n}"] for n in ns], marker="o", color=c, label=k)
    ax[0].set(xscale="log", xlabel="training samples N", ylabel="AUC (BUSI-like test)", title="P3: scaling")
    ax[1].set(xscale="log", xlabel="training samples N", ylabel="test cross-entropy", title="P3: test loss")
    ax[0].legend(), ax[1].legend()
    sections.append(save(fig, figs / "p3_scaling.png"))
    fig, ax = figure(1, width=7)
    for i, a in enumerate(arms4):
        ax[0].plot(list(boots), [boots[d].point[a] for d in boots], marker="o", label=a)
    ax[0].set(xlabel="test device (few-shot set: A only; D never seen)", ylabel="AUC", title="P4: cross-device")
    ax[0].legend(fontsize=7)
    sections.append(save(fig, figs / "p4_devices.png"))
    fig, ax = figure(2, width=11)
    for j, k in enumerate(("dcr_ratio", "mia_auc")):
        for i, sp in enumerate(("pixel", "feature")):
            ax[j].bar(np.arange(4) + 0.4 * i, [pv[f"{k}_{b}_{sp}"] for b in ("task_a", "scratch", "control",
                      "respeckled")], 0.4, label=sp)
        ax[j].set_xticks(np.arange(4) + 0.2, ["adapted (A)", "scratch", "control\n(near-copies)", "re-speckled"],
                         fontsize=7)
        ax[j].axhline(C.P5_DCR if k == "dcr_ratio" else C.P5_MIA, color="k", ls="--")
        ax[j].set(title=f"P5: {k}"), ax[j].legend()
    sections.append(save(fig, figs / "p5_privacy.png"))
    sections.append(save(_samples(io), figs / "samples.png"))
    dm = {**io.upstream_metrics("downstream", item="task"), **io.upstream_metrics("downstream", item="scaling")}
    sections += ["", "## Judge check (real-data classifiers on generated samples; reported, not gated)", "",
                 "| bank | judge accuracy |", "|---|---|"]
    sections += [f"| {k[6:]} | {v:.3f} |" for k, v in dm.items() if k.startswith("judge_")]
    return report(io, PAPER, verdicts, sections, io.profile)


def _bars(ax, bt: Boot, names: list[str], title: str) -> None:
    v = [bt.auc(n) for n in names]
    ax.bar(range(len(names)), [x["value"] for x in v], yerr=[[x["value"] - x["lo"] for x in v],
           [x["hi"] - x["value"] for x in v]], capsize=3)
    ax.set_xticks(range(len(names)), names, rotation=30, fontsize=7)
    ax.set(ylim=(0.4, 1.0), ylabel="AUC", title=title)


def _samples(io):
    from tasks.common.plotting import figure

    few = io.load_npz("prepare", "fewshot.npz")
    rows = [("real few-shot", few["x"], few["y"])] + [
        (name, (b := io.load_npz("generate", f"{name}.npz"))["x"], b["y"]) for name in ("task", "scratch", "scaling")]
    fig, ax = figure(1, width=10, height=5)
    tiles = []
    for _, x, y in rows:
        pick = np.concatenate([np.flatnonzero(y == 0)[:6], np.flatnonzero(y == 1)[:6]])
        tiles.append(np.concatenate(list(x[pick]), 1))
    ax[0].imshow(np.concatenate(tiles, 0), cmap="gray", vmin=0, vmax=255)
    ax[0].set_yticks([(i + 0.5) * x.shape[-1] for i in range(len(rows))], [r[0] for r in rows])
    ax[0].set_xticks([]), ax[0].set_title("6 label-0 then 6 label-1 images per row (benign / DCIS or malignant)")
    return fig
