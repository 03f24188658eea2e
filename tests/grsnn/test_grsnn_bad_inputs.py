"""GRSNN's own bad inputs: a params value the model cannot take and a corrupt upstream artifact each give one
UserError naming the key or path, and leave no output behind."""
import pytest
import yaml

from tasks.common import layout
from tasks.common.errors import UserError
from tasks.common.runner import run_stage
from tasks.common.testing import make_root


def test_bad_param_and_corrupt_kg(tmp_path):
    root = make_root(tmp_path, ["grsnn"])
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["grsnn"]["prepare"]["min_children"] = 4                       # > max_children = 3
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(UserError, match="grsnn.prepare"):
        run_stage("grsnn", "prepare", root=root, track=False)
    params["grsnn"]["prepare"]["min_children"] = 2
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    run_stage("grsnn", "prepare", root=root, track=False)
    kg = layout.out_dir(root, "grsnn", "prepare", None) / "kg.npz"
    kg.write_bytes(b"not an npz")
    with pytest.raises(UserError, match="kg.npz"):
        run_stage("grsnn", "train", "grsnn-s0", root=root, track=False)
    assert not layout.complete(layout.out_dir(root, "grsnn", "train", "grsnn-s0"))
