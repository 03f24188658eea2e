"""GDB's own checks of its smoke run (called by tests/test_smoke.py): behaviour, never that a claim PASSes.
Every trained checkpoint of the smoke run is equivariant (G4 must pass in every profile)."""
from __future__ import annotations

import json
import math

import torch

from tasks.common import layout
from tasks.common.runner import run_stage
from tasks.gdb import TRAIN_ITEMS
from tasks.gdb.criteria import G4_MAX_REL_ERR
from tasks.gdb.model import build
from tasks.gdb.evaluate import equivariance_errors


def _finite(x) -> bool:
    if isinstance(x, dict):
        return all(_finite(v) for k, v in x.items() if k in ("value", "lo", "hi") or not isinstance(v, dict))
    return not isinstance(x, float) or math.isfinite(x)


def check(root, out) -> None:
    assert out["simulate"]["n_train"] > 0 and out["simulate"]["ase_max_abs_energy_diff"] < 1e-8
    for it in TRAIN_ITEMS:
        m = out[f"sample_eval-{it}"]
        assert m["equiv_rel_err_net"] < G4_MAX_REL_ERR and m["equiv_rel_err_sampler"] < G4_MAX_REL_ERR, it
        assert 0.0 < m["test_crmsd"] and 0.0 <= m["test_adwt"] <= 1.0
        d = layout.out_dir(root, "gdb", "train", str(it))
        cfg = json.loads((d / "model.json").read_text())
        model = build(cfg)
        model.load_state_dict(torch.load(d / "model.pt", weights_only=True))
        R0 = torch.randn(3, 10, 3)
        R0 = R0 - R0.mean(1, keepdim=True)
        err = equivariance_errors(model.eval(), cfg, R0, torch.randint(0, 2, (3, 10)), torch.Generator().manual_seed(9))
        assert err["net"] < G4_MAX_REL_ERR and err["sampler"] < G4_MAX_REL_ERR, (it, err)
    claims = json.loads((root / "reports/gdb/claims.json").read_text())
    assert [c["id"] for c in claims["claims"]] == ["G1", "G2", "G3", "G4", "G5"]
    assert all(c["verdict"] == "INCONCLUSIVE" for c in claims["claims"] if c["id"] != "G4")
    assert all(_finite(v) for c in claims["claims"] for v in c["measured"].values() if isinstance(v, (float, dict)))
    assert 0 < out["g5_coupling"]["true_per_atom_std"] and math.isfinite(out["g5_coupling"]["variance_ratio_gdb"])
    # deterministic for a seed: the same stage again gives the same metrics
    assert run_stage("gdb", "train", "direct-b00-s0", root=root, track=False) == out["train-direct-b00-s0"]
