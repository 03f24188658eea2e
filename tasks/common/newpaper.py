"""`paperflow new SLUG`: scaffold tasks/SLUG/ (card, params, prepare/train/evaluate/report on the shared trainer,
criteria.py with one claim, README card) and tests/SLUG/test_SLUG_criteria.py, add its params.yaml section and write
pipelines/SLUG/dvc.yaml, so that the contract tests and the registry's smoke test pass on the new paper at once.

Everything is checked before anything is written; the files are written into a staging folder and moved into
place, and a failure on the way removes what was written.
"""
from __future__ import annotations

import keyword
import re
import shutil
import string
import tempfile
from pathlib import Path

from .errors import UserError

TEMPLATES = Path(__file__).with_name("templates")
PACKAGE_FILES = ("__init__.py", "params.py", "prepare.py", "model.py", "train.py", "evaluate.py", "criteria.py",
                 "report.py", "README.md")


def check_slug(root: Path, slug: str) -> None:
    if not re.fullmatch(r"[a-z][a-z0-9_]{1,30}", slug or "") or keyword.iskeyword(slug) or slug == "common":
        raise UserError(f"paper slug {slug!r}: use 2-31 lowercase letters, digits or _, starting with a letter "
                        "(not 'common' or a Python keyword)")
    from .dvcgen import dvc_file

    for path in (root / "tasks" / slug, root / "tests" / slug, dvc_file(root, slug).parent):
        if path.exists():
            raise UserError(f"{path.relative_to(root)}: already exists; pick another slug or remove it first")


def _render(name: str, slug: str) -> str:
    title = slug.replace("_", " ").title()
    return string.Template((TEMPLATES / f"{name}.tmpl").read_text()).substitute(slug=slug, Title=title)


def scaffold(root: Path, slug: str) -> list[Path]:
    """Create the paper; returns the paths written (relative to root)."""
    from ruamel.yaml import YAML

    from . import dvcgen, registry
    from .params import defaults, read_yaml

    check_slug(root, slug)
    params = read_yaml(root / "params.yaml")
    if slug in params:
        raise UserError(f"params.yaml: a section {slug!r} already exists; remove it or pick another slug")
    pkg, tests = root / "tasks" / slug, root / "tests" / slug
    written: list[Path] = []
    params_text = (root / "params.yaml").read_text()
    dvc_text = (root / "dvc.yaml").read_text() if (root / "dvc.yaml").exists() else None
    pipeline = dvcgen.dvc_file(root, slug)
    try:
        with tempfile.TemporaryDirectory(dir=root / "tasks", prefix=f".new-{slug}-") as tmp:
            stage = Path(tmp) / slug
            stage.mkdir()
            for name in PACKAGE_FILES:
                (stage / name).write_text(_render(name, slug))
            stage.replace(pkg)
        written.append(pkg)
        tests.mkdir(parents=True)
        (tests / f"test_{slug}_criteria.py").write_text(_render("test_criteria.py", slug))
        written.append(tests)
        registry.slugs.cache_clear()
        section = defaults(registry.get_paper(slug))
        ry = YAML()
        doc = ry.load(params_text)
        doc[slug] = section
        tmp_params = root / "params.yaml.tmp"
        with tmp_params.open("w") as f:
            ry.dump(doc, f)
        tmp_params.replace(root / "params.yaml")
        dvcgen.write(root)
    except BaseException:
        for path in written:
            shutil.rmtree(path, ignore_errors=True)
        (root / "params.yaml").write_text(params_text)
        if dvc_text is not None:
            (root / "dvc.yaml").write_text(dvc_text)
        shutil.rmtree(pipeline.parent, ignore_errors=True)
        registry.slugs.cache_clear()
        raise
    return [p.relative_to(root) for p in (pkg, tests, root / "params.yaml", root / "dvc.yaml", pipeline)]
