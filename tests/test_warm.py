"""The warm stage server (tasks/common/warm.py): stage commands run in forks of one interpreter that imported the
heavy libraries once; a fork writes what a fresh process writes, exit codes and signals pass through, a killed
stage command takes its stage with it, and anything unusual falls back to a fresh process."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import mlflow

from tasks.common import tracking, warm
from tasks.common.procs import pid_alive
from tasks.common.runner import digest
from tasks.common.testing import make_root

SLEEPER = "tasks.common.testing:sleeper"
CLIENT = ("import os, sys; from tasks.common.cli import env_defaults; from tasks.common.warm import delegate; "
          "env_defaults(os.environ); r = delegate(sys.argv[1:]); sys.exit(99 if r is None else r)")   # 99: ran cold


def _client(args, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CLIENT, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kw)


def _wait_for(path, timeout=30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return int(path.read_text())
        time.sleep(0.05)
    raise AssertionError(f"{path} never written")


def _gone(pid, timeout=5.0) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not pid_alive(pid)


def test_the_fork_runs_the_command_and_returns_its_exit_code(tmp_path):
    with warm.serving(tmp_path, entry=SLEEPER, preload=False):
        proc = _client([str(tmp_path / "pid"), "0", "3"])
        assert proc.wait(timeout=30) == 3, proc.stderr.read()
        assert int((tmp_path / "pid").read_text()) != proc.pid          # it ran in the server's fork


def test_a_killed_stage_command_takes_its_stage_with_it(tmp_path):
    with warm.serving(tmp_path, entry=SLEEPER, preload=False):
        proc = _client([str(tmp_path / "pid"), "60", "0"])
        child = _wait_for(tmp_path / "pid")
        proc.kill()                                                   # kill -9: no chance to forward anything
        proc.wait()
        assert _gone(child)


def test_sigterm_to_the_stage_command_reaches_the_stage(tmp_path):
    with warm.serving(tmp_path, entry=SLEEPER, preload=False):
        proc = _client([str(tmp_path / "pid"), "60", "0"])
        child = _wait_for(tmp_path / "pid")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 128 + signal.SIGTERM
        assert _gone(child)


def test_no_server_or_other_thread_settings_fall_back_to_a_fresh_process(tmp_path, monkeypatch):
    monkeypatch.setenv(warm.SOCKET_ENV, str(tmp_path / "nowhere.sock"))
    assert _client([str(tmp_path / "pid"), "0", "0"]).wait(timeout=30) == 99
    monkeypatch.delenv(warm.SOCKET_ENV)
    with warm.serving(tmp_path, entry=SLEEPER, preload=False):
        proc = _client([str(tmp_path / "pid"), "0", "0"], env={**os.environ, "OMP_NUM_THREADS": "7"})
        assert proc.wait(timeout=30) == 99                            # refused: torch/BLAS loaded with other values
        monkeypatch.setenv(warm.SWITCH_ENV, "0")
        assert _client([str(tmp_path / "pid"), "0", "0"]).wait(timeout=30) == 99
    assert not (tmp_path / "pid").exists()


def test_a_stage_in_a_fork_writes_what_a_fresh_process_writes(tmp_path, mlflow_uri):
    root = make_root(tmp_path, ["mdm"])
    tracking.ensure_store(root, ["mdm"])
    seen = []
    for launch in ("cold", "warm"):
        with warm.serving(root) if launch == "warm" else _nothing():
            proc = subprocess.run(["paperflow", "stage", "mdm", "prepare"], cwd=root, capture_output=True, text=True)
            assert proc.returncode == 0, proc.stderr[-2000:]
            bad = subprocess.run(["paperflow", "stage", "mdm", "train", "--item", "nope"], cwd=root,
                                 capture_output=True, text=True)
        assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith("paperflow: error: mdm.train")
        seen.append((digest(root / "outputs/mdm/prepare"), (root / "reports/mdm/metrics/prepare.json").read_text()))
    assert seen[0] == seen[1]
    client = mlflow.MlflowClient(mlflow_uri)
    runs = client.search_runs([client.get_experiment_by_name("mdm").experiment_id],
                              filter_string="tags.stage = 'prepare'", order_by=["attributes.start_time ASC"])
    assert [r.data.tags["paperflow.launch"] for r in runs] == ["cold", "warm"]
    assert json.loads((root / "reports/mdm/timing/prepare.json").read_text())["run_id"] == runs[1].info.run_id


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False
