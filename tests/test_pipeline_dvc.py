"""The MDM pipeline at the smoke profile through real `dvc repro` in a temporary copy of the repository."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import yaml

from conftest import MDM, run
from tasks.common import warm

pytestmark = pytest.mark.slow


def _stage_runs(uri):
    client = mlflow.MlflowClient(uri)
    exp = client.get_experiment_by_name("mdm")
    return client.search_runs([exp.experiment_id], filter_string="tags.`paperflow.role` = 'stage'")


def test_dvc_repro_smoke_then_nothing_to_redo_then_exp_run(repo_copy, mlflow_uri):
    proc = run([sys.executable, "-m", "tasks", "run", "mdm", "--via", "dvc"], repo_copy)
    claims = json.loads((repo_copy / "reports/mdm/claims.json").read_text())
    assert [c["id"] for c in claims["claims"]] == ["C1", "C2", "C3", "C4"]
    assert all(c["verdict"] in ("PASS", "FAIL", "INCONCLUSIVE") and c["reason"] for c in claims["claims"])
    assert claims["profile"] == "smoke"
    assert "![oracle_grids](figures/oracle_grids.png)" in (repo_copy / "reports/mdm/report.md").read_text()
    assert (repo_copy / "reports/mdm/figures/nstar_vs_L.png").stat().st_size > 1000

    assert "up to date" in run(["dvc", "status", f"{MDM}:mdm_report"], repo_copy).stdout  # the MDM pipeline
    again = run(["dvc", "repro", MDM], repo_copy).stdout
    assert "Running stage" not in again, again

    metrics = json.loads(run(["dvc", "metrics", "show", "--json"], repo_copy).stdout)
    assert metrics, "dvc metrics show returned nothing"
    plots = run(["dvc", "plots", "show", "--json"], repo_copy).stdout
    assert "train-dense" in plots and "nstar_vs_L.png" in plots

    runs = _stage_runs(mlflow_uri)
    names = sorted(r.info.run_name for r in runs)
    assert names == sorted(["mdm.prepare", "mdm.sweep", "mdm.train-dense", "mdm.train-sparse", "mdm.evaluate",
                            "mdm.report"]), names
    parents = {r.data.tags["mlflow.parentRunId"] for r in runs}
    assert len(parents) == 1, "one parent run per pipeline execution"
    assert {r.data.tags["paperflow.launch"] for r in runs} == {"warm"}, "`paperflow run` stages run in warm forks"
    by = {r.info.run_name: r for r in runs}
    assert by["mdm.evaluate"].data.tags["upstream.train-dense"] == by["mdm.train-dense"].info.run_id
    assert by["mdm.report"].data.tags["upstream.sweep"] == by["mdm.sweep"].info.run_id
    ds = mlflow.MlflowClient(mlflow_uri).get_run(by["mdm.sweep"].info.run_id).inputs.dataset_inputs[0].dataset
    lock = yaml.safe_load((repo_copy / "pipelines/mdm/dvc.lock").read_text())
    prep_md5 = next(o["md5"] for o in lock["stages"]["mdm_prepare"]["outs"] if o["path"] == "outputs/mdm/prepare")
    assert ds.digest == prep_md5, "dataset digest is the DVC hash"
    parent = mlflow.MlflowClient(mlflow_uri).get_run(next(iter(parents)))   # claims line up executions
    assert {f"claim.{c['id']}": c["verdict"] for c in claims["claims"]}.items() <= parent.data.tags.items()
    assert parent.data.metrics["claims.pass"] == sum(c["verdict"] == "PASS" for c in claims["claims"])
    assert proc.returncode == 0

    # A param change re-runs only what depends on it; the cached upstream keeps its original run id (lineage).
    # (`dvc exp run` under a warm stage server, as `paperflow run` runs its stages: tasks/common/warm.py)
    with warm.serving(repo_copy):
        _exp_runs(repo_copy, mlflow_uri, by)

    # Issue 21: a bad value stops `dvc repro` at the params check, before DVC removes any stage's outputs.
    from tasks.common.params import set_values

    set_values(repo_copy / "params.yaml", [(["mdm", "prepare", "vocab"], -1)])
    bad = run(["dvc", "repro", f"{MDM}:mdm_report"], repo_copy, check=False)
    assert bad.returncode != 0 and "mdm.prepare.vocab" in bad.stdout + bad.stderr, bad.stdout + bad.stderr
    assert (repo_copy / "outputs/mdm/prepare/languages.npz").exists()
    assert (repo_copy / "reports/mdm/metrics/prepare.json").exists()
    set_values(repo_copy / "params.yaml", [(["mdm", "prepare", "vocab"], 8)])

    # ... and `paperflow run` waits for a DVC lock another process holds, instead of failing.
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from dvc.lock import make_lock; "
                               "lk = make_lock('.dvc/tmp/lock', tmp_dir='.dvc/tmp'); lk.lock(); "
                               "print('held', flush=True); time.sleep(6); lk.unlock()"],
                              cwd=repo_copy, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    waited = run([sys.executable, "-m", "tasks", "run", "mdm", "--via", "dvc"], repo_copy)
    assert holder.wait() == 0 and "Unable to acquire lock" not in waited.stderr

    # `dvc plots show` renders with no network: the offline template inlines Vega (installed by setup from npm).
    modules = Path(__file__).resolve().parents[1] / ".venv" / "vega" / "node_modules"
    if not modules.is_dir():
        pytest.skip("Vega not installed (npm missing at setup)")
    from tasks.common.plots_offline import write

    template = write(repo_copy, modules)
    run(["dvc", "plots", "show", "--html-template", str(template), "-o", "page"], repo_copy)
    html = (repo_copy / "page" / "index.html").read_text()
    assert "vegaEmbed" in html and not re.search(r"<script[^>]+src=[\"']https?:", html)
    from tasks.common.screenshots import chromium, render_dom

    if chromium():   # and it draws: every plot is a canvas in headless Chromium with all host names unresolvable
        plots = len(re.findall(r"vegaEmbed\(['\"]#", html))
        dom = render_dom((repo_copy / "page" / "index.html").as_uri())
        assert plots > 0 and dom.count("<canvas") == plots, (plots, dom.count("<canvas"))


def _exp_runs(repo_copy, mlflow_uri, by) -> None:
    """`dvc exp run`: lineage of a partial re-run, and the run-cache restoring a stage seen before."""
    out = run(["dvc", "exp", "run", "-n", "rep7", "-S", "mdm.report.seed=7", f"{MDM}:mdm_report"], repo_copy).stdout
    assert f"Running stage '{MDM}:mdm_report'" in out and f"Running stage '{MDM}:mdm_sweep'" not in out, out
    report_runs = [r for r in _stage_runs(mlflow_uri) if r.info.run_name == "mdm.report"]
    newest = max(report_runs, key=lambda r: r.info.start_time)
    assert newest.info.run_id != by["mdm.report"].info.run_id
    assert newest.data.tags["upstream.sweep"] == by["mdm.sweep"].info.run_id
    assert newest.data.params["seed"] == "7" and newest.data.tags["paperflow.launch"] == "warm"

    # The run-cache: parameters seen before restore the stage's outputs instead of running it (issue 22).
    first = run(["dvc", "exp", "run", "-n", "ev5", "-S", "mdm.evaluate.seed=5", f"{MDM}:mdm_evaluate"],
                repo_copy).stdout
    assert f"Running stage '{MDM}:mdm_evaluate'" in first, first
    back = run(["dvc", "exp", "run", "-S", "mdm.evaluate.seed=2", f"{MDM}:mdm_evaluate"], repo_copy).stdout
    assert f"Running stage '{MDM}:mdm_evaluate'" not in back and "is cached" in back, back
    assert (repo_copy / ".dvc/cache/runs").is_dir()
    table = run([sys.executable, "-m", "tasks", "compare", "mdm", "rep7", "ev5"], repo_copy).stdout
    assert table.splitlines()[0] == "| claim | workspace | rep7 | ev5 |" and "| C4 | **" in table, table

