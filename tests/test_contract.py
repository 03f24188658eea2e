"""Contract tests over every registered paper: files, params, dvc.yaml, derived dependencies, flows and claims."""
from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tasks.common import dvcgen
from tasks.common.deps import code_deps
from tasks.common.errors import UserError
from tasks.common.params import check_paper, defaults, read_yaml, validate
from tasks.common.registry import PROFILES, all_papers, get_paper, grid, slugs
from tasks.common.schema import StageParams

REPO = Path(__file__).resolve().parents[1]
PAPERS = all_papers()
def _stages() -> dict:
    """Every DVC stage of the committed pipelines: the root dvc.yaml and pipelines/<paper>/dvc.yaml."""
    files = [REPO / "dvc.yaml", *sorted((REPO / dvcgen.PIPELINES).glob("*/dvc.yaml"))]
    return {n: e for f in files for n, e in (yaml.safe_load(f.read_text())["stages"] or {}).items()}


FILES = ("__init__.py", "README.md", "params.py", "prepare.py", "train.py", "evaluate.py", "report.py", "criteria.py")


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
        for field, info in s.params.model_fields.items():
            assert info.description, f"{paper.slug}.{s.name}.{field} needs a description"


def test_papers_are_discovered_in_card_order():
    found = sorted(d.name for d in (REPO / "tasks").iterdir() if (d / "__init__.py").exists()
                   and "PAPER = Paper(" in (d / "__init__.py").read_text())
    assert sorted(slugs()) == found
    assert [p.slug for p in PAPERS] == sorted(found, key=lambda s: (get_paper(s).order, s))
    with pytest.raises(UserError, match="unknown paper 'nope'; registered papers: .*mdm"):
        get_paper("nope")
    with pytest.raises(UserError, match="unknown paper 'common'"):
        get_paper("common")


def test_item_grid_names_and_axes():
    items = grid(arm=("bp", "zo"), seed=(0, 1)) + grid(arm=("x",), seed=(2,))
    assert items == ("bp-s0", "bp-s1", "zo-s0", "zo-s1", "x-s2")
    assert (items[1].arm, items[1].seed) == ("bp", 1) and isinstance(items[1], str)
    with pytest.raises(AttributeError, match="no axis 'lr'"):
        items[0].lr


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
    assert dvcgen.stale(REPO) == [], "run `paperflow dvc-yaml`"


def test_each_paper_has_its_own_pipeline_and_lock():
    """One dvc.yaml (and dvc.lock) per paper, stages run from the repo root; the root dvc.yaml holds only the suite
    index, which depends on every paper's claims, so a plain `dvc repro` at the root reaches every stage."""
    root = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert list(root) == [dvcgen.INDEX]
    for p in PAPERS:
        doc = yaml.safe_load(dvcgen.dvc_file(REPO, p.slug).read_text())["stages"]
        assert all((e.get("do") or e)["wdir"] == "../.." for e in doc.values()), p.slug
        assert f"reports/{p.slug}/claims.json" in root[dvcgen.INDEX]["deps"]
        assert dvcgen.target(f"{p.slug}_check") == f"pipelines/{p.slug}/dvc.yaml:{p.slug}_check"
    assert dvcgen.target(dvcgen.INDEX) == dvcgen.INDEX
    with pytest.raises(ValueError, match="nosuch_x"):
        dvcgen.target("nosuch_x")


def test_every_stage_depends_on_every_item_of_its_upstream_stages():
    """Also a foreach stage after a foreach stage (gdb's sample_eval@* after train@*): templating the `do:` body must
    not turn the upstream's first item into ${item}."""
    from tasks.common import layout

    stages = _stages()
    for p in PAPERS:
        for s in p.stages:
            deps = (stages[f"{p.slug}_{s.name}"].get("do") or stages[f"{p.slug}_{s.name}"])["deps"]
            for name in s.after:
                for it in p.stage(name).items or (None,):
                    out = layout.out_dir(REPO, p.slug, name, it).relative_to(REPO).as_posix()
                    assert out in deps, f"{p.slug}_{s.name} misses its dep {out}"


def test_dvc_deps_are_the_import_closure_of_every_stage():
    """Each stage's code deps in dvc.yaml equal its AST import closure, and cover every tasks/ module that
    importing the stage module really loads (checked against Python's own import system in a fresh process)."""
    stages = _stages()
    modules = {s.module: (p, s) for p in PAPERS for s in p.stages}
    for p in PAPERS:   # every stage waits for the paper's params check
        assert all(f"outputs/{p.slug}/check" in (stages[f"{p.slug}_{s.name}"].get("do") or stages[f"{p.slug}_{s.name}"])
                   ["deps"] for s in p.stages)
    probe = ("import importlib, json, sys\nout = {}\nfor m in sys.argv[1:]:\n"
             "    for k in [k for k in sys.modules if k == 'tasks' or k.startswith('tasks.')]:\n        del sys.modules[k]\n"
             "    importlib.import_module(m)\n    out[m] = sorted(getattr(sys.modules[k], '__file__', '') or '' "
             "for k in set(sys.modules) if k.startswith('tasks.'))\nprint(json.dumps(out))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", probe, *modules], cwd=REPO, capture_output=True,
                                       text=True, check=True).stdout)
    for module, (paper, stage) in modules.items():
        entry = stages[f"{paper.slug}_{stage.name}"]
        deps = {d for d in (entry.get("do", entry))["deps"] if d.startswith("tasks/")}
        assert deps == set(code_deps(REPO, module, f"tasks.{paper.slug}.params")), module
        real = {Path(f).resolve().relative_to(REPO).as_posix() for f in loaded[module] if f}
        real = {f for f in real if not f.endswith("__init__.py")}      # package inits run on any submodule import
        package = set(code_deps(REPO, f"tasks.{paper.slug}", f"tasks.{paper.slug}.params"))  # and what they import
        assert real <= deps | package, f"{module}: imports {sorted(real - deps - package)}"
    assert "tasks/mdm/languages.py" in stages["mdm_train"]["do"]["deps"]


@pytest.mark.parametrize("paper", PAPERS, ids=lambda p: p.slug)
def test_dvc_yaml_and_flow_list_the_same_stages(paper):
    from flows import pipeline

    stages = _stages()
    in_dvc = {n for n in stages if n.startswith(paper.slug + "_")}
    in_registry = {f"{paper.slug}_{s.name}" for s in paper.stages}
    assert in_dvc == in_registry | {f"{paper.slug}_check"}
    assert stages[f"{paper.slug}_check"]["params"] == [paper.slug]
    for s in paper.stages:
        entry = stages[f"{paper.slug}_{s.name}"]
        assert f"{paper.slug}.seed" in (entry.get("do", entry))["params"], "every stage tracks the paper seed"
    flow_names = [n for s in paper.stages for n in paper.dvc_names(s)]
    assert len(flow_names) == sum(len(s.items) or 1 for s in paper.stages)
    assert "paper" in inspect.signature(pipeline.paper_flow.fn).parameters


@pytest.mark.parametrize("paper", PAPERS, ids=lambda p: p.slug)
def test_claims_are_declared(paper):
    ids = [c.id for c in paper.claims]
    assert ids and len(set(ids)) == len(ids)
    assert all(c.statement and c.criterion for c in paper.claims)


@pytest.mark.parametrize("paper", PAPERS, ids=lambda p: p.slug)
def test_committed_results_are_complete(paper):
    """A fresh clone shows true results: claims.json has a verdict, measured values and a gates list per claim."""
    path = REPO / "reports" / paper.slug / "claims.json"
    if not path.exists():
        pytest.skip(f"{path} not generated yet")
    doc = json.loads(path.read_text())
    assert [c["id"] for c in doc["claims"]] == [c.id for c in paper.claims]
    for c in doc["claims"]:
        assert c["measured"] and isinstance(c["gates"], list) and "amended_from" in c, c["id"]
        assert all({"name", "passed", "measured", "threshold"} <= g.keys() for g in c["gates"])


def test_committed_result_files_match_dvc_lock():
    """Every git-tracked file that a dvc.lock records (the cache: false metrics, plots, claims, timing) has the md5
    the lock says, so `dvc status` on a fresh clone is clean (a result re-run and committed without its lock entry,
    or the reverse, fails here)."""
    import hashlib

    if not (REPO / ".git").exists() or not (REPO / "dvc.lock").exists():
        pytest.skip(f"{REPO} is not a git checkout with a dvc.lock (a scaffold copy, as in test_new_paper)")
    tracked = set(subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True)
                  .stdout.splitlines())
    lock = {n: e for f in dvcgen.lock_files(REPO) if f.exists()
            for n, e in (yaml.safe_load(f.read_text()).get("stages") or {}).items()}
    bad, seen = [], 0
    for stage, entry in lock.items():
        for rec in entry.get("outs", []):
            if rec["path"] in tracked and not rec.get("md5", "").endswith(".dir"):
                seen += 1
                got = hashlib.md5((REPO / rec["path"]).read_bytes()).hexdigest()
                if got != rec["md5"]:
                    bad.append(f"{stage}: {rec['path']}")
    assert seen > 100 and not bad, bad[:10]
