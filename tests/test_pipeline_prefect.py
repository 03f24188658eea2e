"""The MDM pipeline as a Prefect flow (ephemeral test server): DVC stages as tasks, lineage in MLflow,
and afterwards DVC finds nothing to redo; a second flow run skips every stage."""
from __future__ import annotations

import json

import mlflow
import pytest

from conftest import MDM, run

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("prefect")]   # one ephemeral server per worker


def test_paper_flow_runs_stages_and_records_lineage(repo_copy, mlflow_uri, prefect_harness):
    from prefect.client.orchestration import get_client  # noqa: F401  (harness is active)

    from flows.pipeline import paper_flow

    result = paper_flow("mdm", root=str(repo_copy))
    assert set(result) == {"mdm_check", "mdm_prepare", "mdm_sweep", "mdm_train@dense", "mdm_train@sparse",
                           "mdm_evaluate", "mdm_report"}
    assert set(result.values()) == {"ran"}
    from tasks.common import runlog

    log, events = runlog.latest(repo_copy, "prefect")
    assert {e["stage"] for e in events if e.get("event") == "stage"} - {"suite_index"} == set(result)
    end = next(e for e in events if e.get("event") == "end")
    assert end["status"] == "FINISHED" and end["jobs"] >= 1 and end["wall_s"] > 0
    assert "up to date" in run(["dvc", "status", f"{MDM}:mdm_report"], repo_copy).stdout
    assert json.loads((repo_copy / "reports/mdm/claims.json").read_text())["claims"][0]["id"] == "C1"

    client = mlflow.MlflowClient(mlflow_uri)
    exp = client.get_experiment_by_name("mdm")
    parent = client.search_runs([exp.experiment_id], "tags.`paperflow.role` = 'pipeline'")
    assert len(parent) == 1 and parent[0].data.tags["via"] == "prefect" and parent[0].info.status == "FINISHED"
    children = client.search_runs([exp.experiment_id], f"tags.mlflow.parentRunId = '{parent[0].info.run_id}'")
    by = {r.info.run_name: r for r in children}
    assert len(by) == 6
    assert by["mdm.evaluate"].data.tags["upstream.prepare"] == by["mdm.prepare"].info.run_id
    assert by["mdm.report"].data.tags["upstream.evaluate"] == by["mdm.evaluate"].info.run_id

    again = paper_flow("mdm", root=str(repo_copy))
    assert set(again.values()) == {"skipped"}, again

    from prefect.artifacts import Artifact

    assert Artifact.get("mdm-claims") is not None and Artifact.get("mdm-report") is not None


def test_schedule_registers_a_cron_deployment(prefect_harness):
    from prefect.client.orchestration import get_client

    from flows.pipeline import deployment

    dep_id = deployment("mdm", "0 3 * * *").apply()
    with get_client(sync_client=True) as client:
        dep = client.read_deployment(dep_id)
    assert dep.name == "mdm-scheduled" and dep.parameters == {"paper": "mdm"}
    assert [s.schedule.cron for s in dep.schedules] == ["0 3 * * *"]


def test_schedule_without_server_is_a_clear_error(tmp_path, monkeypatch):
    import subprocess
    import sys

    from tasks.common.testing import make_root

    root = make_root(tmp_path, ["mdm"])
    env = {k: v for k, v in __import__("os").environ.items() if k != "PREFECT_API_URL"}
    proc = subprocess.run([sys.executable, "-m", "tasks", "schedule", "mdm", "--cron", "0 3 * * *"], cwd=root,
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and "PREFECT_API_URL" in proc.stderr, proc.stderr


@pytest.mark.xdist_group("prefect")
def test_tasks_waiting_for_upstream_do_not_hold_the_core_slots(prefect_harness, monkeypatch):
    """Issue 10: with one pool thread per core, tasks waiting on a long stage held the threads and an independent
    stage queued behind them; the slots are the machine's now, so the independent stage starts at once, and never
    more than PAPERFLOW_JOBS stages run."""
    import threading
    import time

    from prefect import flow, task

    from flows.pipeline import MACHINE, _runner

    monkeypatch.setenv("PAPERFLOW_JOBS", "2")
    log, lock, inside = {}, threading.Lock(), [0, 0]

    @task
    def stage(name: str, secs: float) -> None:
        with MACHINE.use(False):
            with lock:
                inside[0] += 1
                inside[1] = max(inside[1], inside[0])
            log[name] = time.monotonic()
            time.sleep(secs)
            log[name + ".end"] = time.monotonic()
            with lock:
                inside[0] -= 1

    @flow(task_runner=_runner())
    def fan() -> None:
        slow = stage.submit("slow", 3.0)
        waiting = [stage.submit(f"after{i}", 0.1, wait_for=[slow]) for i in range(3)]
        free = [stage.submit(f"free{i}", 0.5) for i in range(3)]
        for f in [slow, *waiting, *free]:
            f.result()

    fan()
    assert log["free0"] < log["slow.end"] and log["free2"] < log["slow.end"], log
    assert inside[1] == 2
