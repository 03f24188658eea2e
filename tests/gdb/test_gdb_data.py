"""The smoke simulate stage through the real runner: splits are disjoint (no pool minimum or R_0 shared), OOD
compositions are absent from training, relaxed targets are minima; bad inputs (a params value the pipeline cannot
take, a corrupt or incomplete upstream artifact) give one UserError naming the key or path and leave no output."""
import shutil

import numpy as np
import pytest
import yaml

from tasks.common import layout
from tasks.common.errors import UserError
from tasks.common.runner import run_stage
from tasks.common.testing import make_root
from tasks.gdb import lj


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    root = make_root(tmp_path_factory.mktemp("gdb"), ["gdb"])
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["gdb"]["profile"] = "smoke"
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    m = run_stage("gdb", "simulate", root=root, track=False)
    d = dict(np.load(layout.out_dir(root, "gdb", "simulate", None) / "data.npz"))
    return root, m, d


def test_splits_are_disjoint_and_ood_is_unseen(sim):
    _, m, d = sim
    assert set(np.unique(d["train_n_b"])) == {2, 3, 4} and set(np.unique(d["ood_n_b"])) == {1, 5}
    for split in ("val", "test"):
        for nb in (2, 3, 4):
            e_tr, e_ho = d[f"poolE_train_b{nb}"], d[f"poolE_{split}_b{nb}"]
            assert np.abs(e_tr[:, None] - e_ho[None]).min() >= 1e-5          # no pool minimum shared
        r0 = d[f"{split}_R0"].reshape(len(d[f"{split}_R0"]), -1)
        tr = d["train_R0"].reshape(len(d["train_R0"]), -1)
        assert np.abs(r0[:, None] - tr[None]).max(-1).min() > 1e-3           # no R_0 shared
    for split in ("train", "test", "ood"):
        F = lj.energy_forces(d[f"{split}_RT"].astype(np.float64), d[f"{split}_Z"])[1]
        assert lj.fmax(F).max() < 2e-3                                        # minima (float32-rounded)
        assert np.abs(d[f"{split}_R0"].mean(1)).max() < 1e-5                  # CoM-centred
    assert d["train_frames"].shape[1:] == (4, 10, 3)
    assert m["ase_max_abs_energy_diff"] < 1e-8 and m["ase_max_abs_force_diff"] < 1e-8
    assert 0 <= m["hop_rate_test"] <= 1 and m["identity_crmsd_test"] > 0


def test_bad_param_and_corrupt_data(sim, tmp_path):
    root = make_root(tmp_path, ["gdb"])
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["gdb"]["simulate"]["b_min"] = 5                                   # > b_max = 4
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(UserError, match="gdb.simulate"):
        run_stage("gdb", "simulate", root=root, track=False)
    src_root, _, d = sim
    out = layout.out_dir(root, "gdb", "simulate", None)
    params["gdb"]["simulate"]["b_min"] = 2
    params["gdb"]["profile"] = "default"                                     # (smoke overrides train.steps)
    params["gdb"]["train"]["steps"] = 12                                     # not a multiple of 5 segments
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    shutil.copytree(layout.out_dir(src_root, "gdb", "simulate", None), out)
    with pytest.raises(UserError, match="gdb.train.steps"):
        run_stage("gdb", "train", "traj-b05-s0", root=root, track=False)
    assert not layout.complete(layout.out_dir(root, "gdb", "train", "traj-b05-s0"))
    np.savez(out / "data.npz", **{k: v for k, v in d.items() if k != "train_frames"})
    with pytest.raises(UserError, match="train_frames"):
        run_stage("gdb", "train", "traj-b05-s0", root=root, track=False)
    (out / "data.npz").write_bytes(b"not an npz")
    with pytest.raises(UserError, match="data.npz"):
        run_stage("gdb", "train", "direct-b00-s0", root=root, track=False)
    assert not layout.complete(layout.out_dir(root, "gdb", "train", "direct-b00-s0"))
