"""The runner with a real MLflow store: child runs under one parent, lineage tags, params, metrics, inputs."""
from __future__ import annotations

import json

import mlflow

from tasks.common import tracking
from tasks.common.runner import digest, run_stage
from tasks.common.testing import make_root


def _runs(uri, paper="mdm"):
    client = mlflow.MlflowClient(uri)
    exp = client.get_experiment_by_name(paper)
    return client, client.search_runs([exp.experiment_id])


def test_stage_runs_are_children_with_lineage(tmp_path, mlflow_uri, monkeypatch):
    root = make_root(tmp_path, ["mdm"])
    tracking.ensure_store(root, ["mdm"])
    monkeypatch.setenv(tracking.PIPELINE_ENV, "cli-test")
    run_stage("mdm", "prepare", root=root)
    run_stage("mdm", "sweep", root=root)
    client, runs = _runs(mlflow_uri)
    by_name = {r.info.run_name: r for r in runs}
    parent = by_name["mdm-pipeline"]
    prep, sweep = by_name["mdm.prepare"], by_name["mdm.sweep"]
    for child in (prep, sweep):
        t = child.data.tags
        assert t["mlflow.parentRunId"] == parent.info.run_id
        assert t["paper"] == "mdm" and t["git.commit"] and len(t["params.hash"]) == 12
    assert sweep.data.tags["upstream.prepare"] == prep.info.run_id
    assert prep.data.tags["output.digest"] == digest(root / "outputs/mdm/prepare")   # lineage by content
    assert json.loads((root / "reports/mdm/timing/prepare.json").read_text())["run_id"] == prep.info.run_id
    assert sweep.data.params["samples"] == "200"          # effective (smoke) params, logged flat
    assert "cells" in sweep.data.metrics and "wall_time_s" in sweep.data.metrics
    inputs = client.get_run(sweep.info.run_id).inputs.dataset_inputs
    assert [i.dataset.name for i in inputs] == ["prepare"]
    exp = client.get_experiment(parent.info.experiment_id)   # the UI opens it on "Training runs", not GenAI
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"


def test_tracking_uri_defaults_to_absolute_sqlite_in_root(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    assert tracking.tracking_uri(tmp_path) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    monkeypatch.setenv("DVC_ROOT", "/somewhere/repo")
    assert tracking.tracking_uri(tmp_path) == "sqlite:////somewhere/repo/mlflow.db"


def test_identical_reruns_leave_output_hashes_unchanged(tmp_path):
    """Outputs are content-deterministic (no run ids or times inside), so DVC's hashes and the run-cache hold."""
    root = make_root(tmp_path, ["mdm"])
    seen = []
    for _ in range(2):
        run_stage("mdm", "prepare", root=root, track=False)
        run_stage("mdm", "train", "dense", root=root, track=False)
        seen.append([digest(root / "outputs/mdm" / d) for d in ("prepare", "train-dense")])
    assert seen[0] == seen[1]
    assert not (root / "outputs/mdm/prepare/run.json").exists()


def test_parent_runs_read_well(tmp_path, mlflow_uri):
    """No empty parents for no-op executions; a failed child fails its parent; the name tells executions apart."""
    root = make_root(tmp_path, ["mdm"])
    tracking.ensure_store(root, ["mdm"])
    tags = {"via": "dvc", **tracking.execution_tags(root, "mdm")}
    client = mlflow.MlflowClient(mlflow_uri)
    noop = tracking.find_or_create_parent(root, "mdm", "cli-noop", tags)
    assert client.get_run(noop).info.run_name == "mdm-pipeline profile=smoke seed=0 via=dvc"
    assert tracking.finish_parent(root, "mdm", noop, ok=True) == "DELETED"
    assert client.get_run(noop).info.lifecycle_stage == "deleted"
    parent = tracking.find_or_create_parent(root, "mdm", "cli-fail", tags)
    exp = client.get_run(parent).info.experiment_id
    child = client.create_run(exp, tags={"mlflow.parentRunId": parent})
    client.set_terminated(child.info.run_id, "FAILED")
    assert tracking.finish_parent(root, "mdm", parent, ok=True) == "FAILED"
    assert client.get_run(parent).info.status == "FAILED"


def test_logged_models_are_registered_versions_with_lineage(tmp_path, mlflow_uri, monkeypatch):
    """A stage's logged model is a version of `<paper>.<stage>-<item>` (the run's name) in the registry, tagged with the commit and
    params hash, and `models:/.../latest` loads the same weights the stage wrote for DVC."""
    import mlflow.pytorch
    import torch

    root = make_root(tmp_path, ["mdm"])
    tracking.ensure_store(root, ["mdm"])
    monkeypatch.setenv(tracking.PIPELINE_ENV, "cli-test")
    run_stage("mdm", "prepare", root=root)
    run_stage("mdm", "train", "dense", root=root)
    client, runs = _runs(mlflow_uri)
    train = next(r for r in runs if r.info.run_name == "mdm.train-dense")
    [version] = client.search_model_versions("name = 'mdm.train-dense'")
    assert version.run_id == train.info.run_id
    assert version.tags["git.commit"] == train.data.tags["git.commit"]
    assert version.tags["params.hash"] == train.data.tags["params.hash"]
    assert version.tags["dvc.stage"] == "mdm_train@dense"
    loaded = mlflow.pytorch.load_model("models:/mdm.train-dense/latest")
    saved = torch.load(root / "outputs/mdm/train-dense/model.pt", weights_only=True)
    assert saved.keys() == loaded.state_dict().keys()
    assert all(torch.equal(saved[k], v) for k, v in loaded.state_dict().items())
    run_stage("mdm", "train", "dense", root=root)             # a re-run is the next version of the same model
    assert sorted(int(v.version) for v in client.search_model_versions("name = 'mdm.train-dense'")) == [1, 2]


def test_only_seed_0_of_a_seeded_grid_logs_its_models(tmp_path, mlflow_uri, monkeypatch):
    """Issue 10: models go to MLflow where a user will load them; a grid's extra seeds keep their files (DVC) only."""
    root = make_root(tmp_path, ["grsnn"])
    tracking.ensure_store(root, ["grsnn"])
    monkeypatch.setenv(tracking.PIPELINE_ENV, "cli-seeds")
    run_stage("grsnn", "prepare", root=root)
    run_stage("grsnn", "train", "grsnn-s1", root=root)
    run_stage("grsnn", "train", "grsnn-s0", root=root)
    client, runs = _runs(mlflow_uri, "grsnn")
    s1 = next(r for r in runs if r.info.run_name == "grsnn.train-grsnn-s1")
    assert s1.data.tags["models.logged"].startswith("no: seed 1")
    assert (root / "outputs/grsnn/train-grsnn-s1/model.pt").exists()
    assert [v.run_id for v in client.search_model_versions("name = 'grsnn.train-grsnn-s0'")] == [
        next(r for r in runs if r.info.run_name == "grsnn.train-grsnn-s0").info.run_id]
    assert not client.search_model_versions("name = 'grsnn.train-grsnn-s1'")


def test_claims_are_logged_on_the_parent_run(tmp_path, mlflow_uri):
    """Verdicts as tags, counts and scalar key numbers (a CI by its value) as metrics; odd characters cleaned."""
    root = make_root(tmp_path, ["mdm"])
    tracking.ensure_store(root, ["mdm"])
    parent = tracking.find_or_create_parent(root, "mdm", "cli-claims", {})
    run = tracking.StageRun(tracking._mlflow(root), "unused", parent)
    run.log_claims([{"id": "C1", "verdict": "PASS", "measured": {"gap": {"value": 0.5, "lo": 0.1, "hi": 0.9},
                                                                   "d1: a - b": 2, "flag": True, "grid": [1, 2]}},
                    {"id": "C2", "verdict": "FAIL", "measured": {"nan": float("nan")}}])
    got = mlflow.MlflowClient(mlflow_uri).get_run(parent).data
    assert got.tags["claim.C1"] == "PASS" and got.tags["claim.C2"] == "FAIL"
    assert got.metrics == {"claims.pass": 1.0, "claims.fail": 1.0, "claims.inconclusive": 0.0,
                           "claim.C1.gap": 0.5, "claim.C1.d1_ a - b": 2.0}
