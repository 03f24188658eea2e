"""LarvSeg's own bad inputs: a params value the generator cannot take and a corrupt upstream artifact each give one
UserError naming the key or path, and leave no output behind."""
import pytest
import yaml

from tasks.common import layout
from tasks.common.errors import UserError
from tasks.common.runner import run_stage
from tasks.common.testing import make_root


def test_bad_param_and_corrupt_data(tmp_path):
    root = make_root(tmp_path, ["larvseg"])
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["larvseg"]["prepare"]["obj_min"] = 0.5                          # > obj_max = 0.4
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(UserError, match="larvseg.prepare"):
        run_stage("larvseg", "prepare", root=root, track=False)
    assert not layout.complete(layout.out_dir(root, "larvseg", "prepare", None))
    params["larvseg"]["prepare"]["obj_min"] = 0.15
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    run_stage("larvseg", "prepare", root=root, track=False)
    npz = layout.out_dir(root, "larvseg", "prepare", None) / "data.npz"
    npz.write_bytes(b"not an npz")
    with pytest.raises(UserError, match="data.npz"):
        run_stage("larvseg", "train", "larvseg-s0", root=root, track=False)
    assert not layout.complete(layout.out_dir(root, "larvseg", "train", "larvseg-s0"))
