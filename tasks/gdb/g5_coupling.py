"""Stage `g5_coupling` (sheet "G5 experiment"): does GDB preserve a non-degenerate coupling q(R_T | R_0)?

Stochastic targets: after FIRE, overdamped Langevin at k_B T = kT for M steps (x <- x + F dt + sqrt(2 kT dt) xi),
each sample Kabsch-aligned onto its relaxed minimum (rigid-body drift is not part of the coupling). One target per
training R_0; GDB (no trajectory, sigma_b = the GDB arm's validation choice, criteria.choose_sigma) and direct regression trained on them (1 seed, the
shared trainer, the `train` recipe). On `n_inputs` test R_0: `n_samples` true targets and GDB samples, all aligned
onto the relaxed minimum; per-atom variance ratio (predicted / true) and the energy distance between the sets.
Baselines: regression (its one prediction repeated) and regression + isotropic noise matched to the mean true
per-coordinate variance. In-basin check: re-relaxed true samples within basin_rmsd of the minimum.
Run: `paperflow stage gdb g5_coupling`.
"""
from __future__ import annotations

import numpy as np
import torch

from . import geometry as G
from . import lj
from .criteria import choose_sigma
from .evaluate import predict
from .params import G5Params
from .prepare import load_split
from .train import train_model


def langevin(R: np.ndarray, Z: np.ndarray, kT: float, steps: int, dt: float, rng) -> np.ndarray:
    x = R.astype(np.float64).copy()
    amp = np.sqrt(2 * kT * dt)
    for _ in range(steps):
        x = x + dt * lj.energy_forces(x, Z)[1] + amp * rng.normal(size=x.shape)
    return G.align(x, R.astype(np.float64))


def per_atom_var(S: np.ndarray) -> np.ndarray:
    """S (N, k, n, 3) sample sets -> (N, n) per-atom variance (mean over x, y, z of the variance over samples)."""
    return S.var(1, ddof=1).mean(-1)


def set_stats(S: np.ndarray, T: np.ndarray) -> tuple[float, float]:
    """Mean per-atom variance of S, mean energy distance between S and T per input."""
    ed = np.mean([G.energy_distance(s.reshape(len(s), -1), t.reshape(len(t), -1)) for s, t in zip(S, T)])
    return float(per_atom_var(S).mean()), float(ed)


def run(p: G5Params, io) -> dict[str, float]:
    from . import SIGMAS

    sigma_b = SIGMAS[choose_sigma({sb: io.upstream_metrics("sample_eval", f"gdb-{sb}-s0")["val_crmsd"] for sb in SIGMAS})]
    rng = np.random.default_rng(io.seed("langevin"))
    tr, te = load_split(io, "train"), load_split(io, "test")
    trd = {"R0": tr["R0"], "Z": tr["Z"],
           "RT": torch.as_tensor(langevin(tr["RT"].numpy(), tr["Z"].numpy(), p.kT, p.langevin_steps, p.langevin_dt,
                                          rng), dtype=torch.float32)}
    N, k = min(p.n_inputs, len(te["R0"])), p.n_samples
    R0, RT, Z = te["R0"][:N], te["RT"][:N].numpy().astype(np.float64), te["Z"][:N]
    n = R0.shape[1]
    rep = lambda x: np.repeat(np.asarray(x)[:, None], k, 1).reshape((N * k,) + np.asarray(x).shape[1:])  # noqa: E731
    true = langevin(rep(RT), rep(Z.numpy()), p.kT, p.langevin_steps, p.langevin_dt, rng)          # (N k, n, 3)
    back = lj.fire(true, rep(Z.numpy()), 1e-4, 3000)
    in_basin = float((G.c_rmsd(back.R, rep(RT)) < p.basin_rmsd).mean())
    true = true.reshape(N, k, n, 3)
    out, models = {}, {}
    for arm in ("gdb", "direct"):
        model, cfg, hist = train_model(p, io, arm, sigma_b if arm == "gdb" else 0.0, trd, ("g5", arm))
        models[arm] = (model, cfg)
        out[f"final_loss_{arm}"] = hist.tail_mean()
    gen = torch.Generator().manual_seed(io.seed("g5-sample"))
    model, cfg = models["gdb"]
    S = predict(model, cfg, torch.as_tensor(rep(R0.numpy())), torch.as_tensor(rep(Z.numpy())), gen).double().numpy()
    crmsd_gdb = float(G.c_rmsd(S, rep(RT)).mean())
    S = G.align(S, rep(RT)).reshape(N, k, n, 3)
    model, cfg = models["direct"]
    reg = G.align(predict(model, cfg, R0, Z, gen).double().numpy(), RT)                          # (N, n, 3)
    reg_s = np.repeat(reg[:, None], k, 1)
    v_true, _ = set_stats(true, true)
    noisy = G.align((reg_s + rng.normal(0, np.sqrt(v_true), reg_s.shape)).reshape(N * k, n, 3),
                    rep(RT)).reshape(N, k, n, 3)
    v_gdb, ed_gdb = set_stats(S, true)
    _, ed_reg = set_stats(reg_s, true)
    v_noisy, ed_noisy = set_stats(noisy, true)
    identity = float(G.c_rmsd(R0.double().numpy(), RT).mean())
    res = {"variance_ratio_gdb": v_gdb / v_true, "variance_ratio_regression_noise": v_noisy / v_true,
           "energy_distance_gdb": ed_gdb, "energy_distance_regression": ed_reg,
           "energy_distance_regression_noise": ed_noisy, "true_per_atom_std": float(np.sqrt(per_atom_var(true)).mean()),
           "true_per_atom_var": v_true, "in_basin_share": in_basin, "crmsd_gdb": crmsd_gdb,
           "crmsd_regression": float(G.c_rmsd(reg, RT).mean()), "crmsd_identity": identity, "n_inputs": N,
           "n_samples": k, "sigma_b": sigma_b, **out}
    io.save_json("g5.json", res)
    return res
