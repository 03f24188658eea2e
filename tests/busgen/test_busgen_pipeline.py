"""Leakage and bad inputs, through the real runner at the smoke profile: the generator stages read only the pool and
the few-shot set (never val, test, held-out or the real task set); the prepared sets are disjoint; a params value
the model cannot take and a corrupt upstream artifact each give one UserError naming the key or path and leave no
output behind."""
import numpy as np
import pytest
import yaml

from tasks.common import layout
from tasks.common.errors import UserError
from tasks.common.io import StageIO
from tasks.common.runner import run_stage
from tasks.common.testing import make_root


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    r = make_root(tmp_path_factory.mktemp("busgen"), ["busgen"])
    run_stage("busgen", "prepare", root=r, track=False)
    return r


def test_generators_never_see_val_or_test(root, monkeypatch):
    seen = []
    orig = StageIO.load_npz

    def spy(self, stage, name, item=None):
        seen.append((self.stage if hasattr(self, "stage") else None, stage, name))
        return orig(self, stage, name, item)

    monkeypatch.setattr(StageIO, "load_npz", spy)
    for st in ("pretrain_gen", "adapt_gen", "scratch_gen"):
        run_stage("busgen", st, root=root, track=False)
    names = {n for _, _, n in seen}
    assert names == {"pool.npz", "fewshot.npz"}, names


def test_sets_disjoint(root):
    out = layout.out_dir(root, "busgen", "prepare", None)
    load = lambda f: np.load(out / f)  # noqa: E731
    few = load("fewshot.npz")["x"]
    others = [load("val.npz")["x"], load("heldout.npz")["x"], load("real_task.npz")["x"], load("test.npz")["x_A"],
              load("pool.npz")["x"]]
    h = {a.tobytes() for a in few}
    assert len(h) == len(few)
    assert all(not (h & {a.tobytes() for a in o}) for o in others)
    cop = load("copies.npz")
    assert set(cop["src"].tolist()) == set(range(len(few))) and not (h & {a.tobytes() for a in cop["x"]})


def test_bad_param_and_corrupt_pool(tmp_path):
    r = make_root(tmp_path, ["busgen"])
    params = yaml.safe_load((r / "params.yaml").read_text())
    params["busgen"]["prepare"]["size"] = 18                       # not a multiple of 4
    (r / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(UserError, match="busgen.prepare"):
        run_stage("busgen", "prepare", root=r, track=False)
    params["busgen"]["prepare"]["size"] = 16
    params["busgen"]["downstream"]["ns_task"] = [64, 16]            # not increasing
    (r / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(UserError, match="busgen.downstream"):
        run_stage("busgen", "downstream", "task", root=r, track=False)
    params["busgen"]["downstream"]["ns_task"] = [16, 64]
    (r / "params.yaml").write_text(yaml.safe_dump(params))
    run_stage("busgen", "prepare", root=r, track=False)
    (layout.out_dir(r, "busgen", "prepare", None) / "pool.npz").write_bytes(b"not an npz")
    with pytest.raises(UserError, match="pool.npz"):
        run_stage("busgen", "pretrain_gen", root=r, track=False)
    assert not layout.complete(layout.out_dir(r, "busgen", "pretrain_gen", None))
