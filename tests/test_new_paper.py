"""`paperflow new demo` in a temporary copy of the repository: the scaffold passes the contract tests, the
registry's smoke test and its own criteria tests at once, and dvc.yaml / params.yaml gain the new paper."""
from __future__ import annotations

import os
import shutil
import sys

import pytest
import yaml

from conftest import REPO, run

pytestmark = pytest.mark.slow


def test_new_paper_passes_the_contract_and_smoke_tests(tmp_path):
    dst = tmp_path / "repo"
    for rel in ("tasks", "flows", "tests", "params.yaml", "dvc.yaml", "pipelines", "pyproject.toml"):
        src = REPO / rel
        if src.is_dir():
            shutil.copytree(src, dst / rel, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(src, dst / rel)
    env = {"PYTHONPATH": str(dst), "PAPERFLOW_ROOT": str(dst)}
    run([sys.executable, "-m", "tasks", "new", "demo"], dst, env=env)
    assert (dst / "tasks/demo/criteria.py").exists() and (dst / "tests/demo/test_demo_criteria.py").exists()
    params = yaml.safe_load((dst / "params.yaml").read_text())
    assert params["demo"]["profile"] == "default" and params["demo"]["seed"] == 0
    stages = yaml.safe_load((dst / "pipelines/demo/dvc.yaml").read_text())["stages"]
    assert {"demo_prepare", "demo_train", "demo_evaluate", "demo_report"} <= set(stages)
    assert "tasks/common/train.py" in stages["demo_train"]["deps"]
    assert "reports/demo/claims.json" in yaml.safe_load((dst / "dvc.yaml").read_text())["stages"]["suite_index"]["deps"]
    again = run([sys.executable, "-m", "tasks", "new", "demo"], dst, check=False, env=env)
    assert again.returncode == 2 and "tasks/demo: already exists" in again.stderr
    proc = run([sys.executable, "-m", "pytest", "-q", "-n0", "-p", "no:cacheprovider", "tests/test_contract.py",
                "tests/test_smoke.py", "tests/demo", "-k", "demo or not smoke", "-x"], dst,
               env={**env, "PATH": os.environ["PATH"]})
    assert " passed" in proc.stdout and "failed" not in proc.stdout, proc.stdout[-2000:]
