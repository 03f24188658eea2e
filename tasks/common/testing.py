"""Helpers for tests: a throw-away project root and an in-process run of a paper's stages through the real runner."""
from __future__ import annotations

from pathlib import Path

import yaml

from .params import defaults
from .registry import get_paper
from .runner import run_stage


def make_root(tmp: Path, slugs: list[str], profile: str = "smoke") -> Path:
    """A minimal project root (params.yaml with each paper's defaults at `profile`, empty dvc.yaml, data/)."""
    params = {}
    for s in slugs:
        params[s] = defaults(get_paper(s))
        params[s]["profile"] = profile
    (tmp / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (tmp / "dvc.yaml").write_text("stages: {}\n")
    if any(st.data for s in slugs for st in get_paper(s).stages):
        from .data import export

        export(tmp)
    return tmp


def run_paper(root: Path, slug: str, track: bool = False) -> dict[str, dict]:
    """Every stage of a paper in declared (DAG) order; returns metrics per stage key."""
    out = {}
    paper = get_paper(slug)
    for stage in paper.stages:
        for item in stage.items or (None,):
            out[f"{stage.name}-{item}" if item else stage.name] = run_stage(slug, stage.name, item, root=root, track=track)
    return out


def sleeper(argv: list[str]) -> int:
    """A warm-server entry point for tests (`warm.serving(root, entry="tasks.common.testing:sleeper")`): write this
    process's pid to argv[0], sleep argv[1] seconds, exit with argv[2]."""
    import os
    import time

    Path(argv[0]).write_text(str(os.getpid()))
    time.sleep(float(argv[1]))
    return int(argv[2])
