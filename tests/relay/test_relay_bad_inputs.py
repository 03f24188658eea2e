"""RELAY's own bad inputs: a params value the model cannot take and a corrupt upstream artifact each give one
UserError naming the key or path, and leave no output behind."""
import pytest
import yaml

from tasks.common import layout
from tasks.common.errors import UserError
from tasks.common.runner import run_stage
from tasks.common.testing import make_root


def test_bad_heads_and_corrupt_problem_set(tmp_path):
    root = make_root(tmp_path, ["relay"])
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["relay"]["profile"] = "smoke"
    params["relay"]["train_ar"]["heads"] = 3                              # d = 32 is not a multiple of 3
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(UserError, match="relay.train_ar"):
        run_stage("relay", "train_ar", root=root, track=False)
    params["relay"]["train_ar"]["heads"] = 4
    params["relay"]["prepare"]["mod"] = 13                               # numbers must stay tokens 0..10
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(UserError, match="relay.prepare"):
        run_stage("relay", "prepare", root=root, track=False)
    params["relay"]["prepare"]["mod"] = 7
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    run_stage("relay", "prepare", root=root, track=False)
    path = layout.out_dir(root, "relay", "prepare", None) / "train.jsonl"
    path.write_text("not json\n")
    with pytest.raises(UserError, match="train.jsonl"):
        run_stage("relay", "train_ar", root=root, track=False)
    assert not layout.complete(layout.out_dir(root, "relay", "train_ar", None))
