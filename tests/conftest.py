"""Shared fixtures: telemetry off, a private PREFECT_HOME, a migrated MLflow template store copied per test,
a temporary copy of the repository (real dvc), and one Prefect test harness per session for flow tests."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = str(Path(sys.executable).parent)
os.environ["PATH"] = BIN + os.pathsep + os.environ.get("PATH", "")
for k, v in {"DVC_NO_ANALYTICS": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "MLFLOW_DISABLE_TELEMETRY": "true",
             "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120", "PREFECT_LOGGING_LEVEL": "WARNING"}.items():
    os.environ[k] = v
os.environ.pop("MLFLOW_TRACKING_URI", None)
os.environ.pop("PAPERFLOW_PIPELINE_ID", None)

# Files a fresh clone has (committed results and dvc.lock included; outputs/ and the DVC cache are not).
COPY = ["tasks", "flows", "params.yaml", "dvc.yaml", "data.dvc", "reports", ".dvc/config", ".dvcignore",
        "pyproject.toml", ".gitignore"]
COPY_PAPER = "mdm"
MDM = "pipelines/mdm/dvc.yaml"      # DVC targets in the copy: `f"{MDM}:mdm_report"`, or the file for every stage


@pytest.fixture(scope="session", autouse=True)
def _private_homes(tmp_path_factory):
    home = tmp_path_factory.mktemp("prefect-home")
    os.environ["PREFECT_HOME"] = str(home)
    os.environ["PREFECT_RESULTS_LOCAL_STORAGE_PATH"] = str(home / "storage")
    yield


@pytest.fixture(autouse=True)
def _no_inherited_store_mark(monkeypatch):
    """A flow run in-process marks its store ready for its stage processes; no later test may inherit that."""
    monkeypatch.delenv("PAPERFLOW_STORE_READY", raising=False)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """In-process stages run with one torch thread, as the runner sets for stage processes (tiny ops; OpenMP
    spinning thrashes when the two cores are shared)."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory) -> Path:
    """A migrated, empty sqlite store (migrating takes 1-2 s; copying it 0.06 s)."""
    import mlflow

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    mlflow.set_tracking_uri(f"sqlite:///{path}")
    mlflow.search_experiments()
    return path


@pytest.fixture
def mlflow_uri(tmp_path, mlflow_template, monkeypatch) -> str:
    db = tmp_path / "mlflow.db"
    shutil.copy(mlflow_template, db)
    uri = f"sqlite:///{db}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def run(cmd: list[str], cwd: Path, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if check and proc.returncode:
        raise AssertionError(f"{' '.join(cmd)} -> {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture
def repo_copy(tmp_path, mlflow_uri) -> Path:
    """A git + DVC checkout of this repository with one paper (mdm, at smoke) in a temporary folder, data/
    exported. Only mdm's package, params, reports and pipelines/mdm/dvc.lock are copied and the dvc.yaml files are
    regenerated there, so every dvc call parses one paper's stages, not the ten papers' (the mechanisms under test
    are per paper)."""
    dst = tmp_path / "repo"
    dst.mkdir()
    keep = {"common", COPY_PAPER}
    skip_papers = lambda d, names: [n for n in names if Path(d) == REPO / "tasks" and (Path(d) / n).is_dir()
                                    and n not in keep]
    for rel in COPY:
        src = REPO / rel
        if rel == "reports":
            (dst / rel).mkdir()
            shutil.copytree(src / COPY_PAPER, dst / rel / COPY_PAPER)
        elif src.is_dir():
            shutil.copytree(src, dst / rel, ignore=lambda d, names: [*skip_papers(d, names), *(
                n for n in names if n == "__pycache__" or n.endswith(".egg-info"))])
        elif src.exists():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dst / rel)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    (dst / "params.yaml").write_text(yaml.safe_dump({COPY_PAPER: params[COPY_PAPER]}, sort_keys=False))
    (dst / "pipelines" / COPY_PAPER).mkdir(parents=True)       # the paper's own lock (the root one is the index's)
    shutil.copy(REPO / "pipelines" / COPY_PAPER / "dvc.lock", dst / "pipelines" / COPY_PAPER / "dvc.lock")
    run([sys.executable, "-m", "tasks", "dvc-yaml"], dst)
    run(["git", "init", "-q"], dst)
    run([sys.executable, "-m", "tasks", "data"], dst)
    from tasks.common.params import set_values

    set_values(dst / "params.yaml", [([COPY_PAPER, "profile"], "smoke")])
    run(["git", "add", "-A"], dst)
    run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "copy"], dst)
    return dst


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


LONGEST_FIRST = ("tests/test_robustness.py::test_robustness_runs_seeds_through_the_dvc_queue",
                 "tests/test_pipeline_dvc.py::", "tests/test_pipeline_prefect.py::")


def pytest_collection_modifyitems(config, items):
    """Start the few multi-minute end-to-end tests first, so pytest-xdist does not leave one of them as the tail
    (the same order on every worker: a stable sort)."""
    items.sort(key=lambda it: next((i for i, p in enumerate(LONGEST_FIRST) if it.nodeid.startswith(p)),
                                   len(LONGEST_FIRST)))
