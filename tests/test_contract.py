"""Contract tests over every registered paper: files, params, dvc.yaml, flows and claims agree."""
from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import yaml

from tasks.common import dvcgen
from tasks.common.params import StageParams, check_paper, defaults, read_yaml, validate
from tasks.common.registry import PROFILES, SLUGS, all_papers

REPO = Path(__file__).resolve().parents[1]
PAPERS = all_papers()
FILES = ("__init__.py", "README.md", "params.py", "prepare.py", "train.py", "evaluate.py", "report.py")


@pytest.mark.parametrize("paper", PAPERS, ids=lambda p: p.slug)
def test_paper_files_and_stage_functions(paper):
    pkg = REPO / "tasks" / paper.slug
    for f in FILES:
        assert (pkg / f).exists(), f"tasks/{paper.slug}/{f} missing"
    assert sum(s.report for s in paper.stages) == 1, "exactly one report stage"
    names = [s.name for s in paper.stages]
    assert len(set(names)) == len(names)
    for i, s in enumerate(paper.stages):
        assert (pkg / f"{s.name}.py").exists()
        assert all(a in names[:i] for a in s.after), f"{s.name}: upstream must come earlier (DAG order)"
        assert issubclass(s.params, StageParams)
        fn = s.load()
        assert list(inspect.signature(fn).parameters) == ["p", "io"], f"{s.fn} must be (p, io)"
        for c in s.code:
            assert (REPO / "tasks" / c).exists(), f"{s.name}: code dependency tasks/{c} missing"
        for field, info in s.params.model_fields.items():
            assert info.description, f"{paper.slug}.{s.name}.{field} needs a description"


@pytest.mark.parametrize("paper", PAPERS, ids=lambda p: p.slug)
def test_params_yaml_matches_typed_defaults(paper):
    params = read_yaml(REPO / "params.yaml")
    check_paper(params, paper)
    assert params[paper.slug] == defaults(paper), "params.yaml differs from the typed defaults (`paperflow params`)"


@pytest.mark.parametrize("paper", PAPERS, ids=lambda p: p.slug)
def test_profiles_override_known_keys_with_valid_values(paper):
    assert set(paper.profiles) <= set(PROFILES) - {"default"}
    for prof, stages in paper.profiles.items():
        for stage_name, over in stages.items():
            stage = paper.stage(stage_name)
            assert set(over) <= set(stage.params.model_fields), f"{prof}.{stage_name}: unknown keys"
            validate(stage.params, {**stage.params().model_dump(), **over}, f"{paper.slug}.{stage_name}")


def test_dvc_yaml_is_generated_from_the_registry():
    assert (REPO / "dvc.yaml").read_text() == dvcgen.render(REPO), "run `paperflow dvc-yaml`"


@pytest.mark.parametrize("paper", PAPERS, ids=lambda p: p.slug)
def test_dvc_yaml_and_flow_list_the_same_stages(paper):
    from flows import pipeline

    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    in_dvc = {n for n in stages if n.startswith(paper.slug + "_")}
    in_registry = {f"{paper.slug}_{s.name}" for s in paper.stages}
    assert in_dvc == in_registry
    flow_names = [n for s in paper.stages for n in paper.dvc_names(s)]
    assert len(flow_names) == sum(len(s.items) or 1 for s in paper.stages)
    assert "paper" in inspect.signature(pipeline.paper_flow.fn).parameters


@pytest.mark.parametrize("paper", PAPERS, ids=lambda p: p.slug)
def test_claims_are_declared(paper):
    ids = [c.id for c in paper.claims]
    assert ids and len(set(ids)) == len(ids)
    assert all(c.statement and c.criterion for c in paper.claims)


def test_committed_results_are_complete():
    """A fresh clone shows true results: each paper's claims.json has a verdict per declared claim."""
    import json

    for paper in PAPERS:
        path = REPO / "reports" / paper.slug / "claims.json"
        if not path.exists():
            pytest.skip(f"{path} not generated yet")
        doc = json.loads(path.read_text())
        assert [c["id"] for c in doc["claims"]] == [c.id for c in paper.claims]
        assert all(c["verdict"] in ("PASS", "FAIL", "INCONCLUSIVE") and c["measured"] for c in doc["claims"])
    assert set(SLUGS) == {p.slug for p in PAPERS}
