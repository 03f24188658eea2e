"""Metrics on constructed inputs: Kabsch recovers a known rotation (C-RMSD 0, no reflection), D-MAE / D-RMSE
pooling on a hand example, DwT / ADwT on constructed distances, energy distance of identical / shifted sets."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from tasks.gdb import geometry as G


def test_kabsch_recovers_a_known_rotation():
    rng = np.random.default_rng(0)
    P = rng.normal(size=(1, 9, 3))
    Rm = Rotation.from_euler("xyz", [30, -50, 110], degrees=True).as_matrix()
    Q = P @ Rm.T + np.array([1.0, -2.0, 0.5])
    U = G.kabsch(P, Q)[0]
    assert np.allclose(U, Rm.T, atol=1e-10)                      # center(P) @ U = center(Q)
    assert G.c_rmsd(P, Q)[0] < 1e-10 and np.allclose(G.align(P, Q), Q, atol=1e-10)


def test_kabsch_does_not_reflect_and_rmsd_of_a_shift():
    rng = np.random.default_rng(1)
    P = rng.normal(size=(2, 8, 3))
    mirror = P * np.array([-1.0, 1.0, 1.0])
    assert np.all(np.linalg.det(G.kabsch(P, mirror)) > 0)
    assert np.all(G.c_rmsd(P, mirror) > 0.1)                      # a chiral mirror image is not superposable
    Q = P.copy()
    Q[:, 0] += np.array([0.3, 0, 0])                             # one atom moved: rmsd > 0, bounded by the move
    r = G.c_rmsd(P, Q)
    assert np.all((r > 0) & (r <= 0.3 / np.sqrt(8) + 1e-12))


def test_d_mae_rmse_pooling_by_hand():
    P = np.array([[[0.0, 0, 0], [1, 0, 0]], [[0, 0, 0], [2, 0, 0]]])
    Q = np.array([[[0.0, 0, 0], [1.5, 0, 0]], [[0, 0, 0], [2, 0, 0]]])
    # D errors: structure 0 has two off-diagonal entries of 0.5, structure 1 none; 8 entries in all
    mae, rmse = G.d_mae_rmse(P, Q)
    assert mae == pytest.approx(1.0 / 8) and rmse == pytest.approx(np.sqrt(0.5 / 8))


def test_dwt_and_adwt_on_constructed_distances():
    d = np.array([0.005, 0.1, 0.3, 1.0])
    curve = G.dwt(d, np.array([0.01, 0.2, 0.4, 2.0]))
    assert curve.tolist() == [0.25, 0.5, 0.75, 1.0]
    assert G.adwt(np.zeros(5)) == 1.0 and G.adwt(np.full(5, 10.0)) == 0.0
    # a structure at distance 0.25 is under the thresholds 0.251 ... 0.499: 249 of 490
    assert G.adwt(np.array([0.25])) == pytest.approx(np.mean(G.ADWT_THRESHOLDS > 0.25))
    assert np.allclose(G.adwt_per_structure(d).mean(), G.adwt(d))


def test_energy_distance():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(16, 6))
    assert abs(G.energy_distance(X, X)) < 1e-12
    assert G.energy_distance(X, X + 1.0) > 0.5
    assert G.energy_distance(X, rng.normal(size=(16, 6))) < G.energy_distance(X, X + 1.0)
