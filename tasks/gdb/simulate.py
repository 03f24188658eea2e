"""Stage `simulate`: the exact in-pipeline data (sheet "Simulator"): binary LJ pools of minima, perturbed initial
states R_0, their FIRE relaxations R_T, K trajectory frames at equal cumulative path length, ID / OOD splits.

Pools: per (split, composition), `pool_starts` random configurations relaxed by FIRE; distinct minima by energy
(|dE| > 1e-5); validation / test pool minima whose energy matches a training minimum of the same composition are
dropped, so held-out targets do not repeat training targets. R_0 = pool minimum + N(0, perturb^2) per coordinate
(resampled while a pair is closer than min_dist); R_T = FIRE(R_0); non-converged runs dropped. A structure "hops"
when R_T is more than 0.05 sigma_LJ (aligned RMSD) from its pool minimum. OOD compositions: b_min - 1 and
b_max + 1 B atoms. Everything CoM-centred. An ASE cross-check (inclusion-exclusion over pair types) of a few
structures' energies and forces is recorded. Run: `paperflow stage gdb simulate`.
"""
from __future__ import annotations

import numpy as np

from . import geometry as G
from . import lj
from .params import SimulateParams

SPLITS = ("train", "val", "test", "ood")
HOP_RMSD = 0.05


def compositions(p: SimulateParams, split: str) -> list[int]:
    return [p.b_min - 1, p.b_max + 1] if split == "ood" else list(range(p.b_min, p.b_max + 1))


def types(n: int, n_b: int, count: int) -> np.ndarray:
    Z = np.zeros((count, n), dtype=np.int64)
    Z[:, n - n_b:] = 1
    return Z


def random_starts(rng, count: int, n: int, radius: float, min_dist: float) -> np.ndarray:
    out = np.zeros((0, n, 3))
    while len(out) < count:
        x = rng.uniform(-radius, radius, (4 * count, n, 3))
        ok = (G.dmat(x) + 9 * np.eye(n)).min((1, 2)) > min_dist
        out = np.concatenate([out, x[ok]])
    return G.center(out[:count])


def perturb(rng, minima: np.ndarray, scale: float, min_dist: float) -> np.ndarray:
    """minima (B, n, 3) -> one valid perturbation of each (resampled where a pair is too close)."""
    R, todo = minima.copy(), np.ones(len(minima), dtype=bool)
    n = minima.shape[1]
    while todo.any():
        idx = np.nonzero(todo)[0]
        x = minima[idx] + rng.normal(0, scale, (len(idx), n, 3))
        ok = (G.dmat(x) + 9 * np.eye(n)).min((1, 2)) >= min_dist
        R[idx[ok]] = x[ok]
        todo[idx[ok]] = False
    return G.center(R)


def distinct(energies: np.ndarray, taken: np.ndarray, tol: float = 1e-5) -> list[int]:
    keep: list[int] = []
    for i in np.argsort(energies, kind="stable"):
        e = energies[i]
        if np.any(np.abs(taken - e) < tol) or any(abs(energies[j] - e) < tol for j in keep):
            continue
        keep.append(int(i))
    return keep


def build_pools(p: SimulateParams, rng) -> dict:
    """{(split, n_b): (minima (m, n, 3), energies (m,))}"""
    pools, train_e = {}, {}
    for split in SPLITS:
        for nb in compositions(p, split):
            Z = types(p.n_atoms, nb, p.pool_starts)
            res = lj.fire(random_starts(rng, p.pool_starts, p.n_atoms, p.start_radius, 0.8), Z, p.fmax, p.max_steps)
            R = res.R[res.converged]
            E = lj.energy(R, Z[: len(R)])
            keep = distinct(E, train_e.get(nb, np.zeros(0)) if split != "train" else np.zeros(0))[: p.pool_size]
            pools[(split, nb)] = (G.center(R[keep]), E[keep])
            if split == "train":
                train_e[nb] = E[keep]
    return pools


def make_split(p: SimulateParams, rng, pools: dict, split: str, count: int) -> dict:
    comps = compositions(p, split)
    nb = rng.choice(comps, size=count)
    parts = []
    for c in comps:
        k = int((nb == c).sum())
        mins, _ = pools[(split, c)]
        pid = rng.integers(0, len(mins), k)
        Z = types(p.n_atoms, c, k)
        R0 = perturb(rng, mins[pid], p.perturb, p.min_dist)
        parts.append((R0, Z, mins[pid], np.full(k, c), pid))
    R0 = np.concatenate([x[0] for x in parts])
    Z = np.concatenate([x[1] for x in parts])
    mins = np.concatenate([x[2] for x in parts])
    fracs = np.arange(1, p.frames + 1) / (p.frames + 1) if split == "train" else None   # only traj training reads frames
    res = lj.fire(R0, Z, p.fmax, p.max_steps, frame_fracs=fracs)
    ok = res.converged
    RT = res.R[ok]
    return {"R0": R0[ok].astype(np.float32), "RT": RT.astype(np.float32),
            "Z": Z[ok], "n_b": np.concatenate([x[3] for x in parts])[ok],
            "pool_id": np.concatenate([x[4] for x in parts])[ok],
            "hop": G.c_rmsd(RT, mins[ok]) > HOP_RMSD, "fire_steps": res.steps[ok],
            "path_len": res.path[np.arange(len(R0)), res.steps][ok], "E_T": lj.energy(RT, Z[ok]),
            "_n": len(R0), "_drop": int((~ok).sum()),
            **({"frames": res.frames[ok].astype(np.float32)} if fracs is not None else {})}


def ase_check(R: np.ndarray, Z: np.ndarray) -> tuple[float, float]:
    """Max |E - E_ase| and max |F - F_ase| over structures, ASE's single-pair LennardJones combined by
    inclusion-exclusion: E = E_AA(A) + E_BB(B) + E_AB(all) - E_AB(A) - E_AB(B)."""
    from ase import Atoms
    from ase.calculators.lj import LennardJones

    def ef(x, s, e):
        if len(x) < 2:
            return 0.0, np.zeros_like(x)
        at = Atoms("Ar" + str(len(x)), positions=x)
        at.calc = LennardJones(sigma=s, epsilon=e, rc=100.0)
        return at.get_potential_energy(), at.get_forces()

    de, df = 0.0, 0.0
    E, F = lj.energy_forces(R, Z)
    for r, z, e0, f0 in zip(R, Z, E, F):
        a, b = z == 0, z == 1
        e_tot, f_tot = 0.0, np.zeros_like(r)
        for mask, (s, e), sign in ((a, (1.0, 1.0), 1), (b, (0.88, 0.5), 1), (a | b, (0.8, 1.5), 1),
                                   (a, (0.8, 1.5), -1), (b, (0.8, 1.5), -1)):
            ee, ff = ef(r[mask], s, e)
            e_tot += sign * ee
            f_tot[mask] += sign * ff
        de, df = max(de, abs(e_tot - e0)), max(df, float(np.abs(f_tot - f0).max()))
    return de, df


def run(p: SimulateParams, io) -> dict[str, float]:
    rng = np.random.default_rng(io.seed("simulate"))
    pools = build_pools(p, rng)
    sizes = {"train": p.n_train, "val": p.n_val, "test": p.n_test, "ood": p.n_ood}
    arrays, metrics = {}, {}
    for split in SPLITS:
        d = make_split(p, rng, pools, split, sizes[split])
        n_all, drop = d.pop("_n"), d.pop("_drop")
        arrays.update({f"{split}_{k}": v for k, v in d.items()})
        rmsd0 = G.c_rmsd(d["R0"].astype(np.float64), d["RT"].astype(np.float64))
        metrics.update({f"n_{split}": len(d["R0"]), f"drop_rate_{split}": drop / n_all,
                        f"hop_rate_{split}": float(d["hop"].mean()), f"fire_steps_mean_{split}": float(d["fire_steps"].mean()),
                        f"identity_crmsd_{split}": float(rmsd0.mean())})
    for (split, nb), (mins, E) in sorted(pools.items()):
        arrays[f"pool_{split}_b{nb}"] = mins.astype(np.float32)
        arrays[f"poolE_{split}_b{nb}"] = E
        metrics[f"pool_{split}_b{nb}"] = len(mins)
    de, df = ase_check(arrays["test_RT"][:5].astype(np.float64), arrays["test_Z"][:5])
    metrics.update({"ase_max_abs_energy_diff": de, "ase_max_abs_force_diff": df})
    io.save_npz("data.npz", **arrays)
    return metrics
