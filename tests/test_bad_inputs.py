"""Bad inputs: one clear line naming the key or path and the fix, exit code 2, nothing half-written."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tasks.common.errors import UserError
from tasks.common.params import read_yaml, stage_params
from tasks.common.registry import get_paper
from tasks.common.runner import run_stage
from tasks.common.testing import make_root

PAPER = get_paper("mdm")
REPO = Path(__file__).resolve().parents[1]


def _params(**train):
    p = {"mdm": {"profile": "default", "train": train}}
    return p


@pytest.mark.parametrize("values, key", [
    ({"stepz": 10}, "mdm.train.stepz"),
    ({"steps": "many"}, "mdm.train.steps"),
    ({"steps": -1}, "mdm.train.steps"),
    ({"lr": 5.0}, "mdm.train.lr"),
])
def test_bad_param_names_the_key(values, key):
    with pytest.raises(UserError, match=key.replace(".", r"\.")):
        stage_params(_params(**values), PAPER, PAPER.stage("train"))


def test_bad_profile_and_unknown_stage_section():
    with pytest.raises(UserError, match="mdm.profile"):
        stage_params({"mdm": {"profile": "huge"}}, PAPER, PAPER.stage("train"))
    with pytest.raises(UserError, match="mdm.trian"):
        stage_params({"mdm": {"trian": {}}}, PAPER, PAPER.stage("train"))


def test_corrupt_params_yaml(tmp_path):
    (tmp_path / "params.yaml").write_text("mdm: [unclosed\n")
    with pytest.raises(UserError, match="not valid YAML"):
        read_yaml(tmp_path / "params.yaml")


def _cli(args, cwd, env=None):
    import os

    return subprocess.run([sys.executable, "-m", "tasks", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def test_cli_errors_are_one_line_exit_2(tmp_path):
    root = make_root(tmp_path, ["mdm"])
    for args, needle in [(["run", "nosuch"], "unknown paper 'nosuch'"),
                         (["stage", "mdm", "nosuch"], "has no stage 'nosuch'"),
                         (["stage", "mdm", "train"], "needs --item"),
                         (["stage", "mdm", "sweep"], "outputs/mdm/prepare: missing")]:
        proc = _cli(args, root)
        assert proc.returncode == 2, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert not (root / "outputs" / "mdm" / "sweep").exists()
    assert not (root / "reports" / "mdm" / "metrics" / "sweep.json").exists()


def test_bad_value_in_params_yaml_exits_2_before_anything_runs(tmp_path):
    root = make_root(tmp_path, ["mdm"])
    doc = yaml.safe_load((root / "params.yaml").read_text())
    doc["mdm"]["prepare"]["vocab"] = 1
    (root / "params.yaml").write_text(yaml.safe_dump(doc))
    proc = _cli(["stage", "mdm", "prepare"], root)
    assert proc.returncode == 2 and "mdm.prepare.vocab" in proc.stderr
    assert not (root / "outputs").exists()


def test_unreachable_tracking_server(tmp_path):
    root = make_root(tmp_path, ["mdm"])
    proc = _cli(["run", "mdm"], root, env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"})
    assert proc.returncode == 2
    assert "unreachable" in proc.stderr and "MLFLOW_TRACKING_URI" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_missing_and_corrupt_artifacts(tmp_path):
    root = make_root(tmp_path, ["mdm"])
    run_stage("mdm", "prepare", root=root, track=False)
    langs = root / "outputs" / "mdm" / "prepare" / "languages.npz"
    langs.write_bytes(b"not an npz")
    with pytest.raises(UserError, match="languages.npz: corrupt"):
        run_stage("mdm", "sweep", root=root, track=False)
    assert not (root / "outputs" / "mdm" / "sweep").exists()
    assert not list((root / "outputs" / "mdm").glob(".tmp-*")), "staging folder left behind"
    shutil.rmtree(root / "outputs" / "mdm" / "prepare")
    with pytest.raises(UserError, match="outputs/mdm/prepare: missing"):
        run_stage("mdm", "sweep", root=root, track=False)


def test_failing_stage_leaves_previous_outputs_and_no_staging(tmp_path, monkeypatch):
    root = make_root(tmp_path, ["mdm"])
    run_stage("mdm", "prepare", root=root, track=False)
    before = (root / "reports/mdm/metrics/prepare.json").read_text()

    def boom(p, io):
        (io.out / "partial.bin").write_bytes(b"x")
        raise RuntimeError("killed")

    import tasks.mdm.prepare as prep

    monkeypatch.setattr(prep, "run", boom)
    with pytest.raises(RuntimeError):
        run_stage("mdm", "prepare", root=root, track=False)
    assert not (root / "outputs/mdm/prepare/partial.bin").exists()
    assert (root / "reports/mdm/metrics/prepare.json").read_text() == before
    assert not list((root / "outputs" / "mdm").glob(".tmp-*"))


@pytest.mark.parametrize("seed", ["abc", -1, True, 1.5])
def test_bad_paper_seed_names_the_key(seed):
    with pytest.raises(UserError, match=r"mdm\.seed: must be an integer >= 0"):
        stage_params({"mdm": {"profile": "default", "seed": seed}}, PAPER, PAPER.stage("train"))


@pytest.mark.parametrize("slug, needle", [("mdm", "tasks/mdm: already exists"), ("9lives", "paper slug '9lives'"),
                                          ("class", "paper slug 'class'"), ("common", "paper slug 'common'")])
def test_new_paper_bad_slug_is_one_line_and_writes_nothing(tmp_path, slug, needle):
    root = tmp_path / "repo"
    shutil.copytree(REPO / "tasks", root / "tasks", ignore=shutil.ignore_patterns("__pycache__"))
    for f in ("params.yaml", "dvc.yaml"):
        shutil.copy(REPO / f, root / f)
    shutil.copytree(REPO / "pipelines", root / "pipelines")
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    proc = _cli(["new", slug], root, env={"PAPERFLOW_ROOT": str(root)})
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and needle in proc.stderr, proc.stderr
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


# --- issue 21: bad input is rejected before anything is touched ------------------------------------------------
def _set(root, **paths):
    doc = yaml.safe_load((root / "params.yaml").read_text())
    for dotted, value in paths.items():
        node = doc
        *keys, last = dotted.split("__")
        for k in keys:
            node = node[k]
        node[last] = value
    (root / "params.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def _one_line_exit_2(proc, needle):
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and needle in lines[0], proc.stderr


@pytest.mark.parametrize("path, value, needle", [
    ("mdm__train__steps", "abc", "mdm.train.steps: input should be a valid integer"),    # hidden by the smoke overlay
    ("mdm__train__layers", True, "mdm.train.layers: input should be a valid integer"),    # no bool for an int
    ("mdm__train__heads", 3, "mdm.train: d_model=64 is not divisible by heads=3"),        # cross-field
    ("mdm__train__lr", "1e-3", "write 1.0e-3"),                                            # YAML's float trap
])
def test_every_value_validated_strictly_before_any_run(tmp_path, mlflow_uri, path, value, needle):
    root = make_root(tmp_path, ["mdm"])                                                   # mdm.profile: smoke
    _set(root, **{path: value})
    for args in (["run", "mdm"], ["stage", "mdm", "train", "--item", "dense"]):
        _one_line_exit_2(_cli(args, root), needle)
    assert not (root / "outputs").exists() and not (root / "reports").exists()
    import mlflow

    exp = mlflow.MlflowClient(mlflow_uri).get_experiment_by_name("mdm")
    assert exp is None or not mlflow.MlflowClient(mlflow_uri).search_runs([exp.experiment_id]), "a run was opened"


@pytest.mark.parametrize("text, needle", [("mdm:\n\tprofile: smoke\n", "not valid YAML"),
                                          ("mdm: [unclosed\n", "not valid YAML")])
def test_run_with_profile_on_broken_yaml_is_one_line(tmp_path, text, needle):
    root = make_root(tmp_path, ["mdm"])
    (root / "params.yaml").write_text(text)
    _one_line_exit_2(_cli(["run", "mdm", "--profile", "smoke"], root), needle)
    assert (root / "params.yaml").read_text() == text


def test_run_with_profile_writes_params_only_after_the_input_is_accepted(tmp_path):
    root = make_root(tmp_path, ["mdm"])
    _set(root, mdm__train__stepz=5)
    before = (root / "params.yaml").read_text()
    _one_line_exit_2(_cli(["run", "mdm", "--profile", "default"], root), "unknown key mdm.train.stepz")
    assert (root / "params.yaml").read_text() == before
    _set(root, mdm__train={k: v for k, v in yaml.safe_load(before)["mdm"]["train"].items() if k != "stepz"})
    before = (root / "params.yaml").read_text()
    proc = _cli(["run", "mdm", "--profile", "default"], root, env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"})
    _one_line_exit_2(proc, "unreachable")
    assert (root / "params.yaml").read_text() == before


def test_unreachable_server_at_the_stage_entry_point_is_fast_and_leaves_nothing(tmp_path):
    import time

    root = make_root(tmp_path, ["mdm"])
    t0 = time.perf_counter()
    proc = _cli(["stage", "mdm", "prepare"], root, env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"})
    assert time.perf_counter() - t0 < 30
    _one_line_exit_2(proc, "MLflow tracking server http://127.0.0.1:9 is unreachable")
    assert not (root / "outputs").exists() or not list((root / "outputs").rglob(".tmp-*"))


def test_unwritable_reports_fail_before_compute_and_keep_outputs(tmp_path, mlflow_uri):
    root = make_root(tmp_path, ["mdm"])
    run_stage("mdm", "prepare", root=root)
    out = root / "outputs/mdm/prepare"
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    metrics = root / "reports/mdm/metrics"
    if subprocess.run(["chattr", "+i", str(metrics)], capture_output=True).returncode:
        pytest.skip("chattr +i not supported on this file system")
    try:
        _one_line_exit_2(_cli(["stage", "mdm", "prepare"], root), "reports/mdm/metrics: not writable")
    finally:
        subprocess.run(["chattr", "-i", str(metrics)])
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not list((root / "outputs/mdm").glob(".tmp-*"))


def test_a_failure_while_moving_outputs_keeps_the_old_ones_and_fails_the_run(tmp_path, mlflow_uri, monkeypatch):
    import mlflow

    from tasks.common import runner

    root = make_root(tmp_path, ["mdm"])
    run_stage("mdm", "prepare", root=root)
    out = root / "outputs/mdm/prepare"
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    metrics_before = (root / "reports/mdm/metrics/prepare.json").read_text()
    real = runner._swap

    def swap(src, target):
        if target.name == "prepare.json" and "timing" not in str(target):
            raise PermissionError(13, "Permission denied")
        return real(src, target)

    monkeypatch.setattr(runner, "_swap", swap)
    with pytest.raises(PermissionError):
        run_stage("mdm", "prepare", root=root)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before   # the first run's outputs, untouched
    client = mlflow.MlflowClient(mlflow_uri)
    runs = client.search_runs([client.get_experiment_by_name("mdm").experiment_id],
                              "tags.`paperflow.role` = 'stage'", order_by=["attributes.start_time DESC"])
    assert runs[0].info.status == "FAILED"
    assert (root / "reports/mdm/metrics/prepare.json").read_text() == metrics_before
    assert not list((root / "outputs/mdm").glob(".tmp-*")) and not list((root / "outputs/mdm").glob(".old-*"))


def test_index_is_skipped_while_a_registered_paper_has_not_run(tmp_path):
    """A just-scaffolded paper has no claims.json; `paperflow run P` must not fail on the suite index then."""
    from tasks.common.index import unreported

    root = make_root(tmp_path, ["mdm"])
    assert "mdm" in unreported(root)
    (root / "reports/mdm").mkdir(parents=True)
    (root / "reports/mdm/claims.json").write_text("{}")
    assert "mdm" not in unreported(root)


def test_dvc_yaml_check_names_a_stale_or_orphan_pipeline_and_regenerating_fixes_both(tmp_path):
    root = tmp_path / "repo"
    shutil.copytree(REPO / "tasks", root / "tasks", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "pipelines", root / "pipelines", ignore=shutil.ignore_patterns("dvc.lock"))
    for f in ("params.yaml", "dvc.yaml", *(p.relative_to(REPO) for p in REPO.glob("reports/*/robustness.json"))):
        (root / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / f, root / f)                     # robustness.json: a dep of the suite index when present
    env = {"PAPERFLOW_ROOT": str(root)}
    assert _cli(["dvc-yaml", "--check"], root, env=env).returncode == 0
    (root / "pipelines/mdm/dvc.yaml").write_text("stages: {}\n")
    (root / "pipelines/ghost").mkdir()
    (root / "pipelines/ghost/dvc.yaml").write_text("stages: {}\n")
    bad = _cli(["dvc-yaml", "--check"], root, env=env)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert "pipelines/mdm/dvc.yaml" in bad.stderr and "pipelines/ghost/dvc.yaml" in bad.stderr, bad.stderr
    assert _cli(["dvc-yaml"], root, env=env).returncode == 0
    assert _cli(["dvc-yaml", "--check"], root, env=env).returncode == 0
    assert not (root / "pipelines/ghost/dvc.yaml").exists()
    assert (root / "pipelines/mdm/dvc.yaml").read_text() == (REPO / "pipelines/mdm/dvc.yaml").read_text()
