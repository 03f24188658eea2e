"""Stage `report`: verdicts C1-C4 from the oracle and trained grids, figures, claims.json and report.md.

Computes the numbers (grid blocks, bootstrap CIs; tasks/mdm/analysis.py) and calls the judges of the sheet's
pre-registered PC1-PC4 (tasks/mdm/criteria.py). Run: `paperflow stage mdm report`.
"""
from __future__ import annotations

import numpy as np

from tasks.common.claims import report
from tasks.common.plotting import figure, save

from . import analysis as A
from . import criteria as C
from .params import ReportParams


def _plot_delta(ax, c: A.Curves, title: str, eps: float) -> None:
    mean, se = c.mean_delta()
    for i, L in enumerate(c.Ls):
        ok = np.isfinite(mean[i])
        ax.errorbar(np.asarray(c.Ns)[ok], mean[i][ok], yerr=2 * se[i][ok], marker="o", ms=3, label=f"L={L}")
    ax.axhline(eps, color="k", ls=":", lw=1, label=f"ε={eps}")
    ax.set_xscale("log", base=2)
    ax.set(yscale="log", xlabel="reverse steps N", ylabel="Δ_TER (nats/token)", title=title)
    ax.legend(fontsize=7)


def _plot_ser(ax, c: A.Curves, title: str) -> None:
    p, lo, hi = c.ser()
    if not np.isfinite(p).any():   # e.g. a floor-relative SER whose floor is 1 (an untrained smoke model)
        ax.text(0.5, 0.5, "no finite values", ha="center", va="center", transform=ax.transAxes)
        ax.set(title=title)
        return
    for i, L in enumerate(c.Ls):
        ok = np.isfinite(p[i])
        x = np.asarray(c.Ns)[ok] / L
        ax.fill_between(x, lo[i][ok], hi[i][ok], alpha=0.2)
        ax.plot(x, p[i][ok], marker="o", ms=3, label=f"L={L}")
    ax.axhline(C.DELTA_SER, color="k", ls=":", lw=1)
    ax.set_xscale("log", base=2)
    ax.set(xlabel="N / L", ylabel="SER (Wilson 95% CI)", ylim=(-0.02, 1.02), title=title)
    ax.legend(fontsize=7)


def _figures(io, oracle: dict, trained: dict) -> list[str]:
    fig_dir = io.out / "figures"
    lines = []
    fig, ax = figure(3)
    _plot_delta(ax[0], oracle["ter"], "oracle, dense, Bernoulli", C.EPS_TER)
    _plot_ser(ax[1], oracle["ser"], "oracle, sparse, Bernoulli")
    _plot_ser(ax[2], oracle["ser_fixed"], "oracle, sparse, fixed-count")
    lines.append(save(fig, fig_dir / "oracle_grids.png"))
    fig, ax = figure(1)
    Ls = np.asarray(oracle["ter"].Ls)
    for name, stars in (("N*_TER(0.05)", A.n_stars(oracle["ter"], "ter", C.EPS_TER)),
                        ("N*_SER(0.5)", A.n_stars(oracle["ser"], "ser", C.DELTA_SER))):
        ax[0].plot(Ls, stars, marker="o", label=name)
    ax[0].plot(Ls, Ls, color="k", ls=":", lw=1, label="N = L (AR)")
    ax[0].set_xscale("log", base=2)
    ax[0].set_yscale("log", base=2)
    ax[0].set(xlabel="L", ylabel="N*", title="steps needed vs length (oracle)")
    ax[0].legend(fontsize=7)
    lines.append(save(fig, fig_dir / "nstar_vs_L.png"))
    fig, ax = figure(3)
    _plot_delta(ax[0], trained["ter"], "trained MDM, dense, Bernoulli", C.EPS_TER_TRAINED)
    _plot_ser(ax[1], trained["ser"], "trained MDM, sparse, Bernoulli")
    _plot_ser(ax[2], trained["ser_fixed"], "trained MDM, sparse, fixed-count")
    lines.append(save(fig, fig_dir / "trained_grids.png"))
    fig, ax = figure(2)   # the amended C4's SER half: the same cells above the model's any-order floor
    _plot_ser(ax[0], A.floor_relative_ser(trained["ser"], trained["ser_fixed"]),
              "trained, sparse, Bernoulli: SER above floor")
    _plot_ser(ax[1], A.floor_relative_ser(trained["ser_fixed"], trained["ser_fixed"]),
              "trained, sparse, fixed-count: SER above floor")
    for a in ax:
        a.set_ylabel("1 - (1 - SER) / (1 - SER_fixed(N=L))")
    lines.append(save(fig, fig_dir / "trained_ser_above_floor.png"))
    return lines


def _blocks(rows: list[dict], den: str) -> dict[str, A.Curves]:
    return {"ter": A.curves(rows, "dense", "bernoulli", den), "ter_fixed": A.curves(rows, "dense", "fixed", den)
            if any(r["language"] == "dense" and r["schedule"] == "fixed" and r["denoiser"] == den for r in rows) else None,
            "ser": A.curves(rows, "sparse", "bernoulli", den), "ser_fixed": A.curves(rows, "sparse", "fixed", den)}


def _num(v) -> str:
    return "∞" if v is None else f"{v:.4f}"  # null in JSON = not finite (Δ is +∞ once a sample has q(x) = 0)


def _tables(rows: list[dict]) -> list[str]:
    out = ["## Calibration and noisy oracle", "", "| denoiser | η | language | schedule | L | N | Δ_TER ± SE | SER |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["denoiser"] in ("direct", "noisy") and r["lang_seed"] == 0:
            out.append(f"| {r['denoiser']} | {r['eta']} | {r['language']} | {r['schedule']} | {r['L']} | {r['N']} | "
                       f"{_num(r['delta_ter'])} ± {_num(r['delta_se'])} | {r['ser']:.3f} |")
    return out


def run(p: ReportParams, io) -> dict[str, float]:
    grid = io.load_json("sweep", "grid.json")
    tgrid = io.load_json("evaluate", "grid.json")
    oracle, trained = _blocks(grid, "oracle"), _blocks(tgrid, "trained")
    nb, ter, ser = p.n_boot, oracle["ter"], oracle["ser"]
    c1 = C.judge_c1(ter, A.boot_slope_ci(ter, "ter", C.EPS_TER, nb, io.seed("c1")))
    c2 = C.judge_c2(ser, oracle["ser_fixed"], A.boot_slope_ci(ser, "ser", C.DELTA_SER, nb, io.seed("c2")))
    c3 = C.judge_c3(ter, ser, A.boot_ratio_growth_ci(ter, ser, C.EPS_TER, C.DELTA_SER, nb, io.seed("c3")))
    tt, ts = trained["ter"], trained["ser"]
    gates = C.c4_gates(trained["ter_fixed"], trained["ser_fixed"])
    ser_ci = A.boot_slope_ci(ts, "ser", C.DELTA_SER, nb, io.seed("c4b"))
    c4_orig = C.judge_c4(tt, ts, trained["ser_fixed"], A.boot_slope_ci(tt, "ter", C.EPS_TER_TRAINED, nb, io.seed("c4a")),
                         ser_ci, gates)
    ex = C.excess_over_floor(tt, trained["ter_fixed"])
    rel = A.floor_relative_ser(ts, trained["ser_fixed"])
    c4 = C.judge_c4_amended(tt, ts, trained["ser_fixed"], trained["ter_fixed"],
                            A.boot_slope_ci(ex, "ter", C.EPS_TER_TRAINED, nb, io.seed("c4a")),
                            A.boot_slope_ci(rel, "ser", C.DELTA_SER, nb, io.seed("c4b")), gates, c4_orig)
    sections = ["## Figures", "", *_figures(io, oracle, trained), "", *_tables(grid), "",
                "N* is interpolated on the log2 N grid; slope CIs are a parametric bootstrap over samples and language "
                "seeds (see tasks/mdm/analysis.py). The SER bound is worst-case in the paper; on this sparse chain the "
                "linear scaling appears because about L/N adjacent pairs are co-revealed per sequence."]
    from . import PAPER

    return report(io, PAPER, [c1, c2, c3, c4], sections, io.profile)

