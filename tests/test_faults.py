"""Faults (issue 21): a killed stage leaves nothing behind that lasts, a fresh store survives concurrent first use,
and the UIs take their process group down with them."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
import yaml

from tasks.common.testing import make_root

pytestmark = pytest.mark.slow


def _wait(cond, timeout: float, what: str):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        got = cond()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _paperflow(args, root, env=None, **kw):
    return subprocess.Popen([sys.executable, "-m", "tasks", *args], cwd=root, env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_kill_9_leaves_no_lasting_staging_or_running_runs(tmp_path, mlflow_uri):
    root = make_root(tmp_path, ["mdm"])
    doc = yaml.safe_load((root / "params.yaml").read_text())
    doc["mdm"]["profile"] = "default"                              # a stage that runs long enough to be killed
    (root / "params.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    assert _paperflow(["stage", "mdm", "prepare"], root).wait() == 0
    proc = _paperflow(["stage", "mdm", "train", "--item", "dense"], root)
    client = mlflow.MlflowClient(mlflow_uri)
    exp = client.get_experiment_by_name("mdm").experiment_id
    running = lambda: client.search_runs([exp], "attributes.status = 'RUNNING'")  # noqa: E731
    _wait(lambda: list((root / "outputs/mdm").glob(".tmp-train-dense-*"))
          and "mdm.train-dense" in {r.info.run_name for r in running()}, 90, "the stage to start")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list((root / "outputs/mdm").glob(".tmp-train-dense-*")) and running()   # what kill -9 leaves
    doc["mdm"]["profile"] = "smoke"
    (root / "params.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    nxt = _paperflow(["stage", "mdm", "prepare"], root)                # the next pipeline execution
    assert nxt.wait() == 0, nxt.stderr.read()
    assert not list((root / "outputs/mdm").glob(".tmp-*"))
    assert not running()
    killed = client.search_runs([exp], "attributes.status = 'KILLED'")
    assert {r.info.run_name for r in killed} == {"mdm.train-dense", "mdm-pipeline"}


def test_fresh_store_survives_concurrent_first_use(tmp_path, monkeypatch):
    db = tmp_path / "fresh.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    code = ("import sys; from pathlib import Path; from tasks.common import tracking; "
            "tracking.ensure_store(Path(sys.argv[1]), ['mdm', 'opzo'])")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    errs = [(p.wait(), p.stderr.read()) for p in procs]
    assert all(rc == 0 for rc, _ in errs), errs
    client = mlflow.MlflowClient(f"sqlite:///{db}")
    assert {e.name for e in client.search_experiments()} >= {"mdm", "opzo"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _group_alive(pgid: int) -> bool:
    out = subprocess.run(["ps", "-eo", "pgid=,stat="], capture_output=True, text=True).stdout.split("\n")
    return any(line.split()[0] == str(pgid) and not line.split()[1].startswith("Z") for line in out if line.strip())


def test_sigterm_to_the_mlflow_ui_takes_its_server_down(tmp_path, mlflow_uri):
    root = make_root(tmp_path, ["mdm"])
    port = _free_port()
    proc = _paperflow(["ui", "mlflow", "--port", str(port)], root, start_new_session=True)

    def up():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    _wait(up, 90, "the MLflow UI to listen")
    children = [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
    assert children, "the UI runs its server as a child"
    server_group = os.getpgid(children[0])
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) != 0
    _wait(lambda: not up(), 20, "the port to close")
    _wait(lambda: not _group_alive(server_group), 20, "the server's process group to exit")
