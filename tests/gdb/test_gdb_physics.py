"""The simulator against independent references: LJ energies and forces vs `ase.calculators.lj.LennardJones` per
pair type (and a mixed cluster by inclusion-exclusion), forces vs finite differences, batched FIRE vs
`ase.optimize.FIRE` step for step, FIRE on the LJ13 icosahedron (known minimum, CoM and orientation kept).
ase is a hard test requirement (pyproject test extras)."""
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.lj import LennardJones
from ase.cluster import Icosahedron
from ase.optimize import FIRE

from tasks.gdb import geometry as G
from tasks.gdb import lj
from tasks.gdb.simulate import ase_check

PAIRS = {"AA": (0, 0), "BB": (1, 1), "AB": (0, 1)}


def ase_ef(R, sigma, eps):
    at = Atoms(f"Ar{len(R)}", positions=R)
    at.calc = LennardJones(sigma=sigma, epsilon=eps, rc=100.0)   # large rc: ASE's cut-off shift ~ 1e-12
    return at.get_potential_energy(), at.get_forces()


@pytest.mark.parametrize("pair", PAIRS)
def test_energy_forces_match_ase_per_pair_type(pair):
    rng = np.random.default_rng(1)
    ti, tj = PAIRS[pair]
    s, e = lj.SIGMA[ti, tj], lj.EPS[ti, tj]
    for r in (0.85 * s, 2 ** (1 / 6) * s, 1.7 * s):              # dimer: repulsive, minimum, attractive
        R = np.array([[[0.0, 0, 0], [r, 0, 0]]])
        E, F = lj.energy_forces(R, np.array([[ti, tj]]))
        Ea, Fa = ase_ef(R[0], s, e)
        assert E[0] == pytest.approx(Ea, abs=1e-9) and np.allclose(F[0], Fa, atol=1e-9)
    if ti == tj:                                                  # single-type cluster with this pair's parameters
        R = rng.uniform(-1.2 * s, 1.2 * s, (6, 3))
        while (G.dmat(R[None])[0] + 9 * np.eye(6)).min() < 0.8 * s:
            R = rng.uniform(-1.2 * s, 1.2 * s, (6, 3))
        E, F = lj.energy_forces(R[None], np.full((1, 6), ti))
        Ea, Fa = ase_ef(R, s, e)
        assert E[0] == pytest.approx(Ea, rel=1e-10) and np.allclose(F[0], Fa, atol=1e-8)


def test_mixed_cluster_matches_ase_by_inclusion_exclusion():
    rng = np.random.default_rng(2)
    R = G.center(rng.uniform(-1.1, 1.1, (3, 10, 3)))
    R = R[(G.dmat(R) + 9 * np.eye(10)).min((1, 2)) > 0.5]
    Z = np.zeros((len(R), 10), dtype=int)
    Z[:, 6:] = 1
    de, df = ase_check(R, Z)
    assert de < 1e-8 and df < 1e-8


def test_forces_are_minus_the_energy_gradient():
    rng = np.random.default_rng(3)
    R = rng.uniform(-1.0, 1.0, (1, 7, 3))
    R[0] *= 1.2
    Z = np.array([[0, 1, 0, 1, 1, 0, 0]])
    _, F = lj.energy_forces(R, Z)
    h, num = 1e-6, np.zeros_like(R)
    for i in range(7):
        for k in range(3):
            Rp, Rm = R.copy(), R.copy()
            Rp[0, i, k] += h
            Rm[0, i, k] -= h
            num[0, i, k] = -(lj.energy(Rp, Z)[0] - lj.energy(Rm, Z)[0]) / (2 * h)
    assert np.allclose(F, num, rtol=1e-5, atol=1e-5 * np.abs(F).max())


def test_batched_fire_matches_ase_fire_step_for_step():
    rng = np.random.default_rng(4)
    R = G.center(rng.uniform(-1.1, 1.1, (2, 8, 3)))
    res = lj.fire(R, np.zeros((2, 8), dtype=int), fmax_tol=1e-4, max_steps=5000)
    for b in range(2):
        at = Atoms("Ar8", positions=R[b])
        at.calc = LennardJones(sigma=1.0, epsilon=1.0, rc=100.0)
        opt = FIRE(at, logfile=None)
        opt.run(fmax=1e-4, steps=5000)
        assert res.steps[b] == opt.nsteps and res.converged[b]
        assert np.allclose(res.R[b], at.positions, atol=1e-10)


def test_fire_relaxes_lj13_icosahedron_and_keeps_com_and_orientation():
    ico = Icosahedron("Ar", 2).positions
    ico = G.center(ico / np.sqrt(((ico[0] - ico[1:]) ** 2).sum(-1)).min() * 2 ** (1 / 6))   # neighbour distance
    rng = np.random.default_rng(5)
    R0 = ico[None] + rng.normal(0, 0.03, (1, 13, 3))
    res = lj.fire(R0, np.zeros((1, 13), dtype=int), fmax_tol=1e-4, max_steps=5000)
    assert res.converged[0]
    assert lj.energy(res.R, np.zeros((1, 13), dtype=int))[0] == pytest.approx(-44.326801, abs=1e-5)  # LJ13 minimum
    assert np.allclose(res.R[0].mean(0), R0[0].mean(0), atol=1e-12)                                   # CoM fixed
    U = G.kabsch(res.R, R0)[0]
    assert np.abs(U - np.eye(3)).max() < 1e-2 and G.c_rmsd(res.R, ico[None] + R0[0].mean(0))[0] < 0.05


def test_fire_frames_lie_at_equal_path_length():
    rng = np.random.default_rng(6)
    R = G.center(rng.uniform(-1.1, 1.1, (3, 8, 3)))
    res = lj.fire(R, np.zeros((3, 8), dtype=int), 1e-4, 5000, frame_fracs=np.array([0.25, 0.5, 0.75]))
    total = res.path[np.arange(3), res.steps]
    for b in range(3):
        pts = np.concatenate([R[b:b + 1], res.frames[b], res.R[b:b + 1]])
        seg = np.sqrt(((pts[1:] - pts[:-1]) ** 2).sum((1, 2)))
        assert seg.sum() <= total[b] + 1e-9                      # chords never exceed the path
        assert np.all(np.diff(res.path[b][: res.steps[b] + 1]) >= 0)
    assert res.frames.shape == (3, 3, 8, 3) and np.all(np.isfinite(res.frames))
