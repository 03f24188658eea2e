"""Stage `report`: sigma_b choice on validation (seed 0), verdicts G1-G5 (criteria.py), a figure per claim,
claims.json and report.md. CIs: percentile bootstrap over test structures (seeds averaged per structure, paired
across arms, since every arm scores the same structures). Run: `paperflow stage gdb report`.
"""
from __future__ import annotations

import numpy as np

from tasks.common import plotting
from tasks.common.claims import ci, fmt, report
from tasks.common.stats import bootstrap_ci

from . import SEEDS, SIGMAS, TRAIN_ITEMS
from . import criteria as K
from . import geometry as G
from .params import ReportParams

ARM_NAMES = {"direct": "direct regression", "diffusion": "plain cond. diffusion", "gdb": "GDB", "traj": "GDB + traj"}


def run(p: ReportParams, io) -> dict[str, float]:
    from . import PAPER

    sim = io.upstream_metrics("simulate")
    met = {str(it): io.upstream_metrics("sample_eval", str(it)) for it in TRAIN_ITEMS}
    sc = {str(it): io.load_npz("sample_eval", "scores.npz", str(it)) for it in TRAIN_ITEMS}
    data = io.load_npz("simulate", "data.npz")
    identity = sim["identity_crmsd_test"]
    chosen = {"direct": "b00"}
    for arm in ("diffusion", "gdb", "traj"):
        chosen[arm] = K.choose_sigma({sb: met[f"{arm}-{sb}-s0"]["val_crmsd"] for sb in SIGMAS})
    seeds = {a: [s for s in SEEDS if f"{a}-{chosen[a]}-s{s}" in met] for a in ARM_NAMES}
    items = {a: [f"{a}-{chosen[a]}-s{s}" for s in seeds[a]] for a in ARM_NAMES}

    def per_seed(arm, key, split="test"):
        return [met[i][f"{split}_{key}"] for i in items[arm]]

    def per_struct(arm, key, split="test"):                      # (N, seeds)
        return np.stack([sc[i][f"{split}_{key}"] for i in items[arm]], 1).astype(float)

    def crmsd_ci(arm, split="test"):
        x = per_struct(arm, "crmsd", split).mean(1)
        return ci(x.mean(), *bootstrap_ci(np.mean, x, n_boot=p.n_boot, seed=p.seed))

    def adwt_ci(arm, split="test"):   # ADwT is a mean over structures of each one's share of thresholds
        x = np.stack([G.adwt_per_structure(c) for c in per_struct(arm, "mean_dist", split).T], 1).mean(1)
        return ci(x.mean(), *bootstrap_ci(np.mean, x, n_boot=p.n_boot, seed=p.seed))

    def gap_ci(a, b, key="crmsd"):
        x, y = per_struct(a, key).mean(1), per_struct(b, key).mean(1)
        return ci((x - y).mean(), *bootstrap_ci(lambda u, v: (u - v).mean(), x, y, n_boot=p.n_boot, seed=p.seed))

    gap, se = K.paired_gap(per_struct("direct", "crmsd").mean(1), per_struct("traj", "crmsd").mean(1))
    vs = [
        K.g1_bridge_vs_direct(per_seed("traj", "crmsd"), per_seed("direct", "crmsd"), per_seed("traj", "adwt"),
                              per_seed("direct", "adwt"), gap, se, identity,
                              {"crmsd_gap_ci": gap_ci("direct", "traj"), "crmsd_traj_ci": crmsd_ci("traj"),
                               "crmsd_direct_ci": crmsd_ci("direct"), "adwt_traj_ci": adwt_ci("traj"),
                               "adwt_direct_ci": adwt_ci("direct"), "crmsd_gdb_vs_direct_gap_ci": gap_ci("direct", "gdb"),
                               "dmae_traj": float(np.mean(per_seed("traj", "dmae"))),
                               "dmae_direct": float(np.mean(per_seed("direct", "dmae"))),
                               "dmae_gdb": float(np.mean(per_seed("gdb", "dmae"))),
                               "ood_crmsd_traj_ci": crmsd_ci("traj", "ood"), "ood_crmsd_direct_ci": crmsd_ci("direct", "ood"),
                               "identity_crmsd_test": identity}),
        K.g2_trajectory(float(np.mean(per_seed("traj", "crmsd"))), float(np.mean(per_seed("gdb", "crmsd"))),
                        float(np.mean(per_seed("traj", "adwt"))), float(np.mean(per_seed("gdb", "adwt"))), identity,
                        {"crmsd_gap_gdb_minus_traj_ci": gap_ci("gdb", "traj"), "adwt_traj_ci": adwt_ci("traj"),
                         "adwt_gdb_ci": adwt_ci("gdb"), "sigma_traj": SIGMAS[chosen["traj"]],
                         "sigma_gdb": SIGMAS[chosen["gdb"]]}),
    ]
    g0, d0 = f"gdb-{chosen['gdb']}-s0", f"diffusion-{chosen['diffusion']}-s0"
    gd = sc[d0]["test_crmsd"] - sc[g0]["test_crmsd"]
    vs.append(K.g3_bridge_prior(met[g0]["test_crmsd"], met[d0]["test_crmsd"], identity,
                                {"crmsd_gap_diffusion_minus_gdb_ci": ci(gd.mean(), *bootstrap_ci(np.mean, gd, n_boot=p.n_boot, seed=p.seed)),
                                 "sigma_gdb": SIGMAS[chosen["gdb"]], "sigma_diffusion": SIGMAS[chosen["diffusion"]],
                                 "adwt_gdb": met[g0]["test_adwt"], "adwt_diffusion": met[d0]["test_adwt"]}))
    errs = {f"{i}/{w}": met[i][f"equiv_rel_err_{w}"] for i in met for w in ("net", "sampler")}
    vs.append(K.g4_symmetry(errs))
    g5 = io.load_json("g5_coupling", "g5.json")
    vs.append(K.g5_coupling(g5["variance_ratio_gdb"], g5["energy_distance_gdb"], g5["energy_distance_regression"],
                            g5["energy_distance_regression_noise"], g5["true_per_atom_std"], g5["crmsd_gdb"],
                            g5["crmsd_identity"], {k: g5[k] for k in ("variance_ratio_regression_noise", "in_basin_share",
                                                                        "crmsd_regression", "n_inputs", "n_samples")}))
    vs = [K.at_scale(v, io.profile) for v in vs]
    figs = io.out / "figures"
    hop = data["test_hop"].astype(bool)
    sections = ["## Figures", "", fig_g1(per_struct, identity, figs, data), fig_g2(met, figs), fig_g3(sc, g0, d0, figs),
                fig_g4(errs, figs), fig_g5(g5, figs), "",
                f"sigma_b chosen on validation (seed 0): " + ", ".join(f"{ARM_NAMES[a]} {SIGMAS[chosen[a]]:g}"
                                                                        for a in ("diffusion", "gdb", "traj")) + ".",
                "", "## Test (ID) and OOD metrics per model (one sample per input)", "",
                "| item | test C-RMSD | D-MAE | D-RMSE | ADwT | E gap (median) | basin | OOD C-RMSD | OOD ADwT | OOD basin | val C-RMSD |",
                "|---|---|---|---|---|---|---|---|---|---|---|"]
    for i, m in met.items():
        sections.append(f"| {i} | {m['test_crmsd']:.4f} | {m['test_dmae']:.4f} | {m['test_drmse']:.4f} | "
                        f"{m['test_adwt']:.4f} | {m['test_egap_median']:.3g} | {m['test_basin']:.3f} | "
                        f"{m['ood_crmsd']:.4f} | {m['ood_adwt']:.4f} | {m['ood_basin']:.3f} | {m['val_crmsd']:.4f} |")
    sections += ["", f"Identity R_hat = R_0: test C-RMSD {identity:.4f}, ADwT "
                 f"{G.adwt(G.atom_dist(data['test_R0'], data['test_RT']).mean(-1)):.4f}. Basin-hop rate of the test "
                 f"targets {hop.mean():.3f} (train {sim['hop_rate_train']:.3f}); FIRE drop rate (train) "
                 f"{sim['drop_rate_train']:.4f}; ASE cross-check max |dE| {sim['ase_max_abs_energy_diff']:.2g}, "
                 f"max |dF| {sim['ase_max_abs_force_diff']:.2g}.", "",
                 "Test C-RMSD split by basin hop (seed means at the chosen sigma_b):", "",
                 "| arm | no hop | hop |", "|---|---|---|"]
    for a in ARM_NAMES:
        x = per_struct(a, "crmsd").mean(1)
        sections.append(f"| {ARM_NAMES[a]} | {x[~hop].mean():.4f} | {x[hop].mean():.4f} |")
    return report(io, PAPER, vs, sections, io.profile)


def fig_g1(per_struct, identity, figs, data) -> str:
    fig, ax = plotting.figure(2, width=10)
    ident = G.atom_dist(data["test_R0"], data["test_RT"]).mean(-1)
    ax[1].plot(G.ADWT_THRESHOLDS, G.dwt(ident), "k:", label="identity")
    for j, a in enumerate(ARM_NAMES):
        x = per_struct(a, "crmsd").mean(1)
        ax[0].bar(j, x.mean(), yerr=x.std(ddof=1) / np.sqrt(len(x)) * 1.96, capsize=4, color=f"C{j}")
        ax[1].plot(G.ADWT_THRESHOLDS, G.dwt(per_struct(a, "mean_dist")[:, 0]), color=f"C{j}", label=ARM_NAMES[a])
    ax[0].axhline(identity, ls=":", color="k", label="identity floor")
    ax[0].set(xticks=range(4), xticklabels=[ARM_NAMES[a].replace(" ", "\n", 1) for a in ARM_NAMES],
              ylabel="test C-RMSD (sigma_LJ), seed mean", title="G1-G3: C-RMSD by arm (95% CI)")
    ax[0].legend(fontsize=7)
    ax[1].set(xlabel="threshold delta (sigma_LJ)", ylabel="DwT (share below delta)", title="DwT curves (seed 0)")
    ax[1].legend(fontsize=7)
    return plotting.save(fig, figs / "g1_crmsd_dwt.png")


def fig_g2(met, figs) -> str:
    fig, ax = plotting.figure(1)
    for j, a in enumerate(("diffusion", "gdb", "traj")):
        ax[0].plot(list(SIGMAS.values()), [met[f"{a}-{sb}-s0"]["val_crmsd"] for sb in SIGMAS], "o-", color=f"C{j + 1}",
                   label=ARM_NAMES[a])
    ax[0].set(xlabel="sigma_b (sigma_LJ)", ylabel="validation C-RMSD (seed 0)", title="G2/G3: sigma_b grid")
    ax[0].legend(fontsize=7)
    return plotting.save(fig, figs / "g2_sigma_grid.png")


def fig_g3(sc, g0, d0, figs) -> str:
    fig, ax = plotting.figure(1)
    ax[0].hist([sc[g0]["test_crmsd"], sc[d0]["test_crmsd"]], bins=30, label=["GDB", "plain cond. diffusion"])
    ax[0].set(xlabel="test C-RMSD (sigma_LJ)", ylabel="structures", title="G3: bridge prior vs noise prior (seed 0)")
    ax[0].legend(fontsize=7)
    return plotting.save(fig, figs / "g3_bridge_vs_diffusion.png")


def fig_g4(errs, figs) -> str:
    fig, ax = plotting.figure(1, width=8)
    ks = sorted(errs)
    ax[0].bar(range(len(ks)), [max(errs[k], 1e-12) for k in ks])
    ax[0].axhline(K.G4_MAX_REL_ERR, ls="--", color="C3", label="criterion 1e-4")
    ax[0].set(yscale="log", xticks=range(len(ks)), ylabel="relative error (float32)",
              title="G4: equivariance of every checkpoint (net, sampler)")
    ax[0].set_xticklabels(ks, rotation=90, fontsize=5)
    ax[0].legend(fontsize=7)
    return plotting.save(fig, figs / "g4_equivariance.png")


def fig_g5(g5, figs) -> str:
    fig, ax = plotting.figure(2, width=9)
    ax[0].bar([0, 1], [g5["variance_ratio_gdb"], g5["variance_ratio_regression_noise"]])
    ax[0].axhspan(*K.G5_RATIO_BAND, color="C2", alpha=0.2, label="criterion band")
    ax[0].set(xticks=[0, 1], xticklabels=["GDB", "regr. + noise"], ylabel="predicted / true per-atom variance",
              title=f"G5: spread (true std {fmt(g5['true_per_atom_std'])})")
    ax[0].legend(fontsize=7)
    ax[1].bar(range(3), [g5["energy_distance_gdb"], g5["energy_distance_regression"],
                         g5["energy_distance_regression_noise"]])
    ax[1].set(xticks=range(3), xticklabels=["GDB", "regression", "regr. + noise"], ylabel="energy distance to true set",
              title="G5: energy distance (lower is better)")
    return plotting.save(fig, figs / "g5_coupling.png")
