"""reports/index.md: every registered paper's verdicts and wall time (`paperflow report`, DVC stage suite_index)."""
from __future__ import annotations

import json
from pathlib import Path

from . import layout
from .registry import all_papers


def unreported(root: Path) -> list[str]:
    """Registered papers without a claims.json yet (e.g. just scaffolded): the suite index cannot be rebuilt by DVC
    until they have run (its deps are every paper's claims and timings)."""
    return [p.slug for p in all_papers() if not (layout.report_dir(root, p.slug) / "claims.json").exists()]


def paper_wall_time(root: Path, slug: str) -> float:
    tdir = layout.report_dir(root, slug) / "timing"
    return sum(json.loads(f.read_text())["wall_time_s"] for f in sorted(tdir.glob("*.json"))) if tdir.is_dir() else 0.0


def write_index(root: Path) -> Path:
    lines = ["# paperflow results", "", "Verdicts from the last `dvc repro` of each paper (see each paper's report).", "",
             "A verdict is evidence only when its validity gates pass; the gates column counts those claims.", "",
             "| paper | profile | verdicts | gates pass | wall time (stages, sum) | report |", "|---|---|---|---|---|---|"]
    for paper in all_papers():
        cfile = layout.report_dir(root, paper.slug) / "claims.json"
        if not cfile.exists():
            lines.append(f"| {paper.slug} | - | not run | - | - | - |")
            continue
        doc = json.loads(cfile.read_text())
        verdicts = ", ".join(f"{c['id']} {c['verdict']}" for c in doc["claims"])
        rob = layout.report_dir(root, paper.slug) / "robustness.json"
        if rob.exists():
            r = json.loads(rob.read_text())
            seeds = "/".join(map(str, r["seeds"]))
            verdicts += (f" ([unstable]({paper.slug}/robustness.md) on seeds {seeds}: {', '.join(r['unstable'])})"
                         if r["unstable"] else f" ([stable]({paper.slug}/robustness.md) on seeds {seeds})")
        gated = sum(all(g["passed"] for g in c.get("gates", [])) for c in doc["claims"])
        wall = paper_wall_time(root, paper.slug)
        lines.append(f"| [{paper.slug}](../tasks/{paper.slug}/README.md) | {doc.get('profile', '?')} | {verdicts} | "
                     f"{gated}/{len(doc['claims'])} | {wall / 60:.1f} min | [report]({paper.slug}/report.md) |")
    path = root / "reports" / "index.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)
    return path
