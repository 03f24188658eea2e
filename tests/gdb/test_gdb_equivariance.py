"""G4 in every profile: rotation + reflection, translation and atom permutation of the inputs transform the outputs
accordingly (relative error < 1e-4, float32), for the network and the full sampler (noise rotated / permuted with
the input), for every arm, on freshly initialised models and on every trained checkpoint present in this checkout
(outputs/gdb/train-*/, the DVC-cached default run); the smoke run checks its own checkpoints (smoke_checks.py)."""
import json
from pathlib import Path

import pytest
import torch

from tasks.gdb import bridge
from tasks.gdb.criteria import G4_MAX_REL_ERR
from tasks.gdb.model import EGNN, build
from tasks.gdb.evaluate import equivariance_errors

ROOT = Path(__file__).resolve().parents[2]
CKPTS = sorted(p for p in (ROOT / "outputs" / "gdb").glob("train-*") if (p / "model.pt").exists())


def _inputs(B=4, n=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    R0 = bridge.com_free(torch.randn(B, n, 3, generator=g))
    Z = torch.randint(0, 2, (B, n), generator=g)
    return R0, Z


def _perturbed(model: torch.nn.Module) -> torch.nn.Module:
    """Random non-trivial weights (fresh init has near-zero coordinate heads)."""
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g))
    return model.eval()


@pytest.mark.parametrize("arm", bridge.ARMS)
def test_fresh_model_and_sampler_are_equivariant(arm):
    model = _perturbed(EGNN(hidden=16, layers=2))
    cfg = {"arm": arm, "steps": 10, "sigma_b": 0.15, "s0": 1.0, "n_seg": 5}
    R0, Z = _inputs()
    err = equivariance_errors(model, cfg, R0, Z, torch.Generator().manual_seed(1))
    assert err["net"] < G4_MAX_REL_ERR and err["sampler"] < G4_MAX_REL_ERR, err


def test_the_check_detects_a_broken_model():
    class Absolute(EGNN):                                          # uses absolute coordinates: not equivariant
        def forward(self, x, c, Z, t):
            return super().forward(x, c, Z, t) + 0.1 * x ** 2

    model = _perturbed(Absolute(hidden=16, layers=2))
    R0, Z = _inputs()
    err = equivariance_errors(model, {"arm": "gdb", "steps": 10, "sigma_b": 0.1, "s0": 1.0, "n_seg": 5}, R0, Z,
                              torch.Generator().manual_seed(2))
    assert err["net"] > 1e-3 and err["sampler"] > 1e-3


@pytest.mark.skipif(not CKPTS, reason="no trained checkpoint in outputs/gdb "
                                       "(run `dvc repro pipelines/gdb/dvc.yaml:gdb_report`; no DVC remote is configured)")
@pytest.mark.parametrize("ckpt", CKPTS, ids=lambda p: p.name)
def test_every_trained_checkpoint_is_equivariant(ckpt):
    cfg = json.loads((ckpt / "model.json").read_text())
    model = build(cfg)
    model.load_state_dict(torch.load(ckpt / "model.pt", weights_only=True))
    R0, Z = _inputs(seed=3)
    err = equivariance_errors(model.eval(), cfg, R0, Z, torch.Generator().manual_seed(4))
    assert err["net"] < G4_MAX_REL_ERR and err["sampler"] < G4_MAX_REL_ERR, err
