"""`paperflow compare P [EXP ...]`: per claim, the verdict and its key numbers in the workspace and in named DVC
experiments (or any git revision), side by side. Reads each revision's committed `reports/<P>/claims.json` (a DVC
metric in git, so every experiment commit carries it); no stage runs.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .claims import fmt
from .errors import UserError
from .layout import report_dir


def _exp_ref(root: Path, name: str) -> str:
    """A DVC experiment's git ref (refs/exps/.../<name>), else `name` itself as a git revision."""
    refs = subprocess.run(["git", "for-each-ref", "--format=%(refname)", "refs/exps"], cwd=root,
                          capture_output=True, text=True).stdout.split()
    hits = [r for r in refs if r.rsplit("/", 1)[-1] == name]
    return hits[-1] if hits else name


def claims_at(root: Path, slug: str, rev: str | None) -> dict:
    """claims.json of the workspace (rev None) or of a revision / experiment name."""
    path = report_dir(root, slug) / "claims.json"
    if rev is None:
        if not path.exists():
            raise UserError(f"{path.relative_to(root)}: missing; run `paperflow run {slug}` first")
        return json.loads(path.read_text())
    rel = path.relative_to(root).as_posix()
    proc = subprocess.run(["git", "show", f"{_exp_ref(root, rev)}:{rel}"], cwd=root, capture_output=True, text=True)
    if proc.returncode:
        raise UserError(f"{rel} at {rev!r}: not found; `dvc exp show` lists the experiments (or give a git revision)")
    return json.loads(proc.stdout)


def table(root: Path, slug: str, revs: list[str], keys: int = 2) -> str:
    """A markdown table: one row per claim, one column per revision: verdict, gates, the first `keys` numbers."""
    docs = [("workspace", claims_at(root, slug, None))] + [(r, claims_at(root, slug, r)) for r in revs]
    lines = ["| claim | " + " | ".join(name for name, _ in docs) + " |", "|---" * (len(docs) + 1) + "|"]
    ids = [c["id"] for c in docs[0][1]["claims"]]
    for cid in ids:
        cells = []
        for _, doc in docs:
            c = next((c for c in doc["claims"] if c["id"] == cid), None)
            if c is None:
                cells.append("-")
                continue
            gates = c.get("gates", [])
            gate = "" if not gates else f" (gates {sum(g['passed'] for g in gates)}/{len(gates)})"
            nums = "; ".join(f"{k} = {fmt(v)}" for k, v in list(c["measured"].items())[:keys])
            cells.append(f"**{c['verdict']}**{gate}<br>{nums}")
        lines.append(f"| {cid} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
