"""One smoke test over the registry: every registered paper end to end at the `smoke` profile through the real
runner (untracked) in a temporary project root. Generic checks here; a paper's own checks of its smoke outputs live
in `tests/<slug>/smoke_checks.py` (`check(root, out)`), called when present. Asserts behaviour, never that a
claim passes."""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from tasks.common import layout
from tasks.common.registry import all_papers
from tasks.common.runner import digest, run_stage
from tasks.common.testing import make_root, run_paper

TESTS = Path(__file__).resolve().parent


def _paper_checks(slug: str):
    path = TESTS / slug / "smoke_checks.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location(f"smoke_checks_{slug}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.check


@pytest.mark.slow
@pytest.mark.parametrize("paper", all_papers(), ids=lambda p: p.slug)
def test_smoke_pipeline_through_the_runner(paper, tmp_path):
    root = make_root(tmp_path, [paper.slug])
    out = run_paper(root, paper.slug)
    keys = {layout.stage_key(s.name, it) for s in paper.stages for it in (s.items or (None,))}
    assert set(out) == keys
    for key, metrics in out.items():
        assert metrics, f"{key} returned no metrics"
        assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in metrics.values()), key
        if not paper.stage(_split(key)[0]).report:
            assert layout.complete(layout.out_dir(root, paper.slug, *_split(key))), key
    for s in paper.stages:   # every declared plots folder gets a curve (an empty one warns in `dvc plots show`)
        if s.curves:
            for it in s.items or (None,):
                d = layout.plots_dir(root, paper.slug, s.name, it)
                assert d.is_dir() and any(d.glob("*.csv")), f"{s.name}@{it}: curves=True but no curve logged"
    rep = layout.report_dir(root, paper.slug)
    doc = json.loads((rep / "claims.json").read_text())
    assert doc["profile"] == "smoke" and [c["id"] for c in doc["claims"]] == [c.id for c in paper.claims]
    for c in doc["claims"]:
        assert c["reason"] and isinstance(c["gates"], list) and "amended_from" in c, c["id"]
    text = (rep / "report.md").read_text()
    assert all(f"| {c.id} |" in text for c in paper.claims)
    figures = re.findall(r"\]\(figures/([^)]+)\)", text)
    assert figures, "the report shows no figure"
    for f in figures:
        assert (rep / "figures" / f).stat().st_size > 1000, f
    _check_deterministic(paper, root, out)
    check = _paper_checks(paper.slug)
    if check is not None:
        check(root, out)


def _check_deterministic(paper, root: Path, out: dict) -> None:
    """The first foreach stage (a paper's training, as a rule) run again gives the same metrics and the same
    output bytes: outputs must hash by content (no wall times or run ids), or DVC's run-cache and hashes break."""
    stage = next((s for s in paper.stages if s.items and not s.report), None)
    if stage is None:
        return
    item = stage.items[0]
    folder = layout.out_dir(root, paper.slug, stage.name, item)
    before = digest(folder)
    again = run_stage(paper.slug, stage.name, item, root=root, track=False)
    assert again == out[layout.stage_key(stage.name, item)], f"{stage.name}@{item}: metrics differ on a re-run"
    assert digest(folder) == before, f"{stage.name}@{item}: output bytes differ on a re-run (a wall time or id?)"


def _split(key: str) -> tuple[str, str | None]:
    stage, _, item = key.partition("-")
    return stage, item or None
