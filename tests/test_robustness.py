"""`paperflow robustness`: the per-claim stability summary (pure), and one real run through DVC's experiment queue."""
from __future__ import annotations

import json
import sys

import mlflow
import pytest

from conftest import MDM, run
from tasks.common.errors import UserError
from tasks.common.robustness import markdown, summarise


def _doc(verdicts: dict[str, str], profile: str = "default", gate_ok: bool = True) -> dict:
    return {"paper": "x", "profile": profile, "claims": [
        {"id": cid, "verdict": v, "measured": {"a": 1.0, "b": 2.0, "c": 3.0},
         "gates": [{"name": "g", "passed": gate_ok}]} for cid, v in verdicts.items()]}


def test_summary_flags_a_verdict_that_flips():
    docs = {0: _doc({"C1": "PASS", "C2": "FAIL"}), 11: _doc({"C1": "PASS", "C2": "PASS"}, gate_ok=False)}
    doc = summarise("x", docs, {0: None, 11: "x-seed11"})
    assert doc["seeds"] == [0, 11] and doc["unstable"] == ["C2"] and doc["experiments"] == {"11": "x-seed11"}
    c1, c2 = doc["claims"]
    assert c1["stable"] and not c2["stable"] and c2["verdicts"] == {"0": "FAIL", "11": "PASS"}
    assert c1["gates_pass"] == {"0": True, "11": False} and list(c1["measured"]["0"]) == ["a", "b"]
    text = markdown(doc)
    assert "| C2 | **FAIL**" in text and text.rstrip().endswith("| **no** |") and "(gate fails)" in text


def test_summary_marks_a_missing_claim_and_refuses_mixed_profiles():
    doc = summarise("x", {0: _doc({"C1": "PASS"}), 5: {"profile": "default", "claims": []}}, {0: None, 5: "e"})
    assert doc["claims"][0]["verdicts"]["5"] == "MISSING" and doc["unstable"] == ["C1"]
    with pytest.raises(UserError, match="profile"):
        summarise("x", {0: _doc({"C1": "PASS"}), 5: _doc({"C1": "PASS"}, profile="smoke")}, {0: None, 5: "e"})


@pytest.mark.slow
def test_robustness_runs_seeds_through_the_dvc_queue(repo_copy, mlflow_uri):
    bad = run([sys.executable, "-m", "tasks", "robustness", "mdm", "--seeds", "1"], repo_copy, check=False)
    assert bad.returncode == 2 and "not up to date" in bad.stderr          # the headline run comes first
    run([sys.executable, "-m", "tasks", "run", "mdm", "--via", "dvc"], repo_copy)
    run(["git", "add", "-A"], repo_copy)
    run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "smoke run"], repo_copy)
    run([sys.executable, "-m", "tasks", "robustness", "mdm", "--seeds", "3", "--jobs", "1"], repo_copy)
    doc = json.loads((repo_copy / "reports/mdm/robustness.json").read_text())
    assert doc["seeds"] == [0, 3] and doc["profile"] == "smoke" and doc["experiments"] == {"3": "mdm-seed3"}
    assert [c["id"] for c in doc["claims"]] == ["C1", "C2", "C3", "C4"]
    assert all(set(c["verdicts"]) == {"0", "3"} for c in doc["claims"])
    assert "mdm-seed3" in run(["dvc", "exp", "list", "--name-only"], repo_copy).stdout
    client = mlflow.MlflowClient(mlflow_uri)                             # the queue's stages ran in warm forks
    queued = [r for r in client.search_runs([client.get_experiment_by_name("mdm").experiment_id])
              if r.data.tags.get("paperflow.role") == "stage"
              and r.data.tags.get("paperflow.checkout") != str(repo_copy.resolve())]
    assert queued and {r.data.tags["paperflow.launch"] for r in queued} == {"warm"}, \
        [(r.info.run_name, r.data.tags["paperflow.launch"], r.data.tags["paperflow.checkout"]) for r in queued]
    # the suite index shows it at the next repro (robustness.json is its dep now); the paper's stages stay up to date
    assert "up to date" in run(["dvc", "status", f"{MDM}:mdm_report"], repo_copy).stdout
    run(["dvc", "repro", "-s", "suite_index"], repo_copy)
    assert "mdm/robustness.md) on seeds 0/3" in (repo_copy / "reports/index.md").read_text()
    again = run([sys.executable, "-m", "tasks", "robustness", "mdm", "--seeds", "3"], repo_copy)
    assert "mdm-seed3: reusing" in again.stderr                         # same commit: no second run
