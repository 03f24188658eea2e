"""Pre-registered criteria of GDB's claims G1-G5 (sheet shared/papers/gdb.md, "Claims and pass criteria").

Pure functions from measured numbers to a `Verdict`; report.py computes the numbers and calls these judges. Fixed
as code before any comparison arm ran; nothing here reads a result to choose a threshold.

Training floor (every claim but G4): an arm must beat the identity predictor R_hat = R_0 on mean test C-RMSD;
a claim using an arm below it is INCONCLUSIVE. sigma_b rule (sheet): for each bridge arm, the sigma_b of the grid
with the lowest validation C-RMSD on seed 0; the chosen value is used for every seed of that arm.
`smoke` verdicts are computed and shown, then reported INCONCLUSIVE.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tasks.common.claims import INCONCLUSIVE, Gate, Verdict, at_least, inconclusive, judge

G1_SE_FACTOR = 2.0          # mean paired C-RMSD gap > 2 SE
G4_MAX_REL_ERR = 1e-4       # float32 equivariance
G5_RATIO_BAND = (0.7, 1.3)  # GDB predicted / true per-atom conditional variance
G5_MIN_TRUE_STD = 0.01      # sigma_LJ: below it the true targets are degenerate


def choose_sigma(val_crmsd: dict[str, float]) -> str:
    """{sigma item tag: seed-0 validation C-RMSD} -> the tag with the lowest value (ties: first in sorted order)."""
    return min(sorted(val_crmsd), key=lambda k: val_crmsd[k])


def floor_gate(arm: str, crmsd: float | None, identity: float):
    """The arm's mean test C-RMSD must be below the identity predictor's."""
    ok = crmsd is not None and crmsd == crmsd and crmsd < identity
    return Gate(f"{arm} test C-RMSD (seed mean) below the identity R_hat = R_0", bool(ok), crmsd, f"< {identity:.4g}")


def paired_gap(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """a, b (N,) per-structure values (seed means) -> mean(a - b), its standard error."""
    d = np.asarray(a, float) - np.asarray(b, float)
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))


def g1_bridge_vs_direct(traj_crmsd: Sequence[float], direct_crmsd: Sequence[float], traj_adwt: Sequence[float],
                        direct_adwt: Sequence[float], gap: float, gap_se: float, identity: float,
                        extra: dict | None = None) -> Verdict:
    """Per-seed test C-RMSD / ADwT of GDB+traj and direct (seed-aligned), the paired gap mean(direct - traj) over
    test structures with its SE, the identity C-RMSD."""
    gates = [floor_gate("GDB+traj", float(np.mean(traj_crmsd)) if len(traj_crmsd) else None, identity),
             floor_gate("direct", float(np.mean(direct_crmsd)) if len(direct_crmsd) else None, identity)]
    meas = {"crmsd_gap_direct_minus_traj": gap, "crmsd_gap_se": gap_se, "crmsd_traj": float(np.mean(traj_crmsd)),
            "crmsd_direct": float(np.mean(direct_crmsd)), "adwt_traj": float(np.mean(traj_adwt)),
            "adwt_direct": float(np.mean(direct_adwt)), "n_seeds": len(traj_crmsd), **(extra or {})}
    if len(traj_crmsd) < 3 or len(direct_crmsd) < 3:
        return inconclusive("G1", "fewer than 3 seeds per arm", meas, gates)
    checks = {"GDB+traj C-RMSD < direct in every seed": all(t < d for t, d in zip(traj_crmsd, direct_crmsd)),
              "GDB+traj ADwT > direct in every seed": all(t > d for t, d in zip(traj_adwt, direct_adwt)),
              f"mean C-RMSD gap > {G1_SE_FACTOR:g} SE": bool(gap > G1_SE_FACTOR * gap_se)}
    return judge("G1", checks, meas, gates)


def g2_trajectory(traj_crmsd: float, gdb_crmsd: float, traj_adwt: float, gdb_adwt: float, identity: float,
                  extra: dict | None = None) -> Verdict:
    gates = [floor_gate("GDB+traj", traj_crmsd, identity), floor_gate("GDB", gdb_crmsd, identity)]
    meas = {"crmsd_traj": traj_crmsd, "crmsd_gdb": gdb_crmsd, "adwt_traj": traj_adwt, "adwt_gdb": gdb_adwt,
            **(extra or {})}
    checks = {"GDB+traj C-RMSD <= GDB": traj_crmsd <= gdb_crmsd, "GDB+traj ADwT >= GDB": traj_adwt >= gdb_adwt}
    return judge("G2", checks, meas, gates)


def g3_bridge_prior(gdb_crmsd: float, diffusion_crmsd: float, identity: float, extra: dict | None = None) -> Verdict:
    gates = [floor_gate("GDB", gdb_crmsd, identity), floor_gate("diffusion", diffusion_crmsd, identity)]
    meas = {"crmsd_gdb": gdb_crmsd, "crmsd_diffusion": diffusion_crmsd, **(extra or {})}
    return judge("G3", {"GDB C-RMSD <= plain diffusion": gdb_crmsd <= diffusion_crmsd}, meas, gates)


def g4_symmetry(rel_errors: dict[str, float]) -> Verdict:
    """{checkpoint/what: relative error} over every trained model (network and sampler)."""
    if not rel_errors:
        return inconclusive("G4", "no trained model was checked", {})
    worst = max(rel_errors, key=rel_errors.get)
    meas = {"max_rel_err": rel_errors[worst], "worst": worst, "n_checks": len(rel_errors)}
    return judge("G4", {f"every relative error < {G4_MAX_REL_ERR:g}": all(v < G4_MAX_REL_ERR for v in
                                                                       rel_errors.values())}, meas)


def g5_coupling(var_ratio: float, ed_gdb: float, ed_reg: float, ed_reg_noise: float, true_std: float,
                gdb_crmsd: float, identity: float, extra: dict | None = None) -> Verdict:
    gates = [at_least("true mean per-atom conditional std (sigma_LJ)", true_std, G5_MIN_TRUE_STD),
             floor_gate("GDB (G5)", gdb_crmsd, identity)]
    meas = {"variance_ratio_gdb": var_ratio, "energy_distance_gdb": ed_gdb, "energy_distance_regression": ed_reg,
            "energy_distance_regression_noise": ed_reg_noise, "true_per_atom_std": true_std, **(extra or {})}
    lo, hi = G5_RATIO_BAND
    checks = {f"GDB variance ratio in [{lo}, {hi}]": lo <= var_ratio <= hi,
              "GDB energy distance < regression": ed_gdb < ed_reg,
              "GDB energy distance < regression + matched noise": ed_gdb < ed_reg_noise}
    return judge("G5", checks, meas, gates)


def at_scale(v: Verdict, profile: str) -> Verdict:
    """smoke: the computed verdict is kept in the reason and reported INCONCLUSIVE (G4 is judged in every profile)."""
    if profile != "smoke" or v.verdict == INCONCLUSIVE or v.id == "G4":
        return v
    return Verdict(v.id, INCONCLUSIVE, f"smoke profile (computed {v.verdict}: {v.reason})", v.measured, v.checks,
                   v.gates)
