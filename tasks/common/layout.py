"""Where things live. Paths are written here once; dvc.yaml is generated from them (see dvcgen.py)."""
from __future__ import annotations

import os
from pathlib import Path

from .errors import UserError


def repo_root(start: Path | None = None) -> Path:
    """The project root: PAPERFLOW_ROOT, else the nearest folder above cwd holding dvc.yaml and params.yaml."""
    env = os.environ.get("PAPERFLOW_ROOT")
    if env:
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "params.yaml").exists() and (d / "dvc.yaml").exists():
            return d
    raise UserError(f"no paperflow project (params.yaml + dvc.yaml) at or above {here}; cd into the repository")


def stage_key(stage: str, item: str | None) -> str:
    return f"{stage}-{item}" if item else stage


def out_dir(root: Path, paper: str, stage: str, item: str | None = None) -> Path:
    """Cached stage outputs (models, arrays): outputs/<paper>/<stage>[-<item>]/."""
    return root / "outputs" / paper / stage_key(stage, item)


def report_dir(root: Path, paper: str) -> Path:
    """Small files kept in git: reports/<paper>/ (report.md, claims.json, figures/, metrics/, plots/, timing/)."""
    return root / "reports" / paper


def metrics_file(root: Path, paper: str, stage: str, item: str | None = None) -> Path:
    return report_dir(root, paper) / "metrics" / f"{stage_key(stage, item)}.json"


def timing_file(root: Path, paper: str, stage: str, item: str | None = None) -> Path:
    return report_dir(root, paper) / "timing" / f"{stage_key(stage, item)}.json"


def plots_dir(root: Path, paper: str, stage: str, item: str | None = None) -> Path:
    return report_dir(root, paper) / "plots" / stage_key(stage, item)


REPORT_FILES = ("report.md", "claims.json", "figures")
DIGEST_TAG = "output.digest"     # MLflow tag: content digest of a stage's output folder (lineage without run.json)


def complete(path: Path) -> bool:
    """A stage's output folder is complete when present: the runner renames it into place only on success."""
    return path.is_dir() and any(path.iterdir())
