"""`paperflow robustness P|all --seeds 11,23`: re-run a paper on other values of its seed knob (`<P>.seed`, which salts
every stage seed) as DVC experiments, and say per claim whether the verdict holds (issue 14).

The experiments go through DVC's own queue (`dvc exp run --queue`, then `dvc exp run --run-all -j N`, so they use both cores;
no scheduler of ours). Each one is named `<P>-seed<S>`; one that already exists on the current commit is reused, one
from an older commit is re-run. The workspace (seed as in params.yaml, 0 by default) is the headline run: it must be
up to date (`dvc status <P>_report` clean). Writes `reports/<P>/robustness.json` and `robustness.md` (plain files in
git, beside report.md). The suite index (`reports/index.md`, DVC stage suite_index, whose dep robustness.json becomes
once it exists) flags a verdict that differs across seeds as unstable and links the table. The report stage does not
read it: report stages depend only on their paper's outputs, so running robustness never invalidates a paper.
"""
from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

from .claims import fmt
from .compare import claims_at
from .dvcgen import target
from .errors import UserError
from .io import save_json_atomic
from .layout import report_dir

log = logging.getLogger("paperflow")
FILE = "robustness.json"


def exp_name(slug: str, seed: int) -> str:
    return f"{slug}-seed{seed}"


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()


def _dvc(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["dvc", *args], cwd=root, capture_output=True, text=True)
    if check and proc.returncode:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise UserError(f"`dvc {' '.join(args)}` failed: {tail[0]}")
    return proc


def experiments(root: Path) -> dict[str, str]:
    """{experiment name: baseline commit} from git's refs/exps/<2>/<38>/<name>."""
    refs = _git(root, "for-each-ref", "--format=%(refname)", "refs/exps").split()
    out = {}
    for r in refs:
        parts = r.split("/")
        if len(parts) == 5:
            out[parts[4]] = parts[2] + parts[3]
    return out


def run_queue(root: Path, slug: str, seeds: list[int], jobs: int) -> list[str]:
    """Queue `<slug>-seed<S>` for every seed not already run on HEAD, start `jobs` workers, wait for the queue."""
    head, have = _git(root, "rev-parse", "HEAD"), experiments(root)
    names = []
    for s in seeds:
        name = exp_name(slug, s)
        names.append(name)
        if have.get(name) == head:
            log.info("%s: reusing the experiment on this commit", name)
            continue
        if name in have:
            _dvc(root, "exp", "remove", name)
        _dvc(root, "exp", "run", "--queue", "-n", name, "-S", f"{slug}.seed={s}", target(f"{slug}_report"))
        log.info("%s: queued", name)
    if any(experiments(root).get(n) != head for n in names):
        # the queue's own foreground runner (`dvc queue start -j N` in the background, waited for): no polling
        _dvc(root, "exp", "run", "--run-all", "-j", str(jobs), check=False)
    done = experiments(root)
    failed = [n for n in names if done.get(n) != head]
    if failed:
        raise UserError(f"experiment {failed[0]} did not finish; see `dvc queue logs {failed[0]}` (then re-run)")
    return names


def summarise(slug: str, docs: dict[int, dict], names: dict[int, str | None], keys: int = 2) -> dict:
    """robustness.json content from each seed's claims.json (`docs`, headline seed first): per claim, verdict, gates
    and the first `keys` numbers per seed, and whether the verdict is the same on every seed. `names`: each seed's
    experiment name (None: the workspace)."""
    profiles = {d.get("profile") for d in docs.values()}
    if len(profiles) != 1:
        raise UserError(f"{slug}: the runs differ in profile {sorted(map(str, profiles))}; re-run at one profile")
    claims = []
    for c0 in next(iter(docs.values()))["claims"]:
        per = {str(s): next((c for c in d["claims"] if c["id"] == c0["id"]), None) for s, d in docs.items()}
        verdicts = {s: (c["verdict"] if c else "MISSING") for s, c in per.items()}
        claims.append({"id": c0["id"], "verdicts": verdicts,
                       "gates_pass": {s: bool(c) and all(g["passed"] for g in c.get("gates", [])) for s, c in per.items()},
                       "measured": {s: dict(list(c["measured"].items())[:keys]) if c else {} for s, c in per.items()},
                       "stable": len(set(verdicts.values())) == 1})
    return {"paper": slug, "profile": profiles.pop(), "seeds": [int(s) for s in docs],
            "experiments": {str(s): n for s, n in names.items() if n}, "claims": claims,
            "unstable": [c["id"] for c in claims if not c["stable"]]}


def markdown(doc: dict) -> str:
    """reports/<P>/robustness.md from robustness.json."""
    seeds = [str(s) for s in doc["seeds"]]
    exps = " ".join(doc["experiments"].values())
    lines = [f"# {doc['paper']}: seed robustness (profile `{doc['profile']}`)", "",
             f"`{doc['paper']}.seed` salts every stage seed (data, initialisation, sampling); seed {seeds[0]} is the "
             "committed headline run, the others re-run the whole paper"
             + (f" as DVC experiments (`paperflow compare {doc['paper']} {exps}`)." if exps else "."), "",
             "| claim | " + " | ".join(f"seed {s}" for s in seeds) + " | stable |", "|---" * (len(seeds) + 2) + "|"]
    for c in doc["claims"]:
        cells = []
        for s in seeds:
            nums = "; ".join(f"{k} = {fmt(v)}" for k, v in c["measured"][s].items())
            gate = "" if c["gates_pass"][s] else " (gate fails)"
            cells.append(f"**{c['verdicts'][s]}**{gate}<br>{nums}")
        stable = {True: "yes", False: "**no**"}.get(c["stable"], "not tested")
        lines.append(f"| {c['id']} | " + " | ".join(cells) + f" | {stable} |")
    if doc.get("note"):
        lines += ["", doc["note"] + "."]
    return "\n".join(lines) + "\n"


def run(root: Path, slug: str, seeds: list[int], jobs: int) -> Path:
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise UserError(f"--seeds: distinct non-negative integers, e.g. --seeds 11,23 (got {seeds})")
    status = _dvc(root, "status", target(f"{slug}_report")).stdout
    if "up to date" not in status:
        raise UserError(f"{slug}: the workspace run is not up to date; run `paperflow run {slug}` first")
    from . import tracking
    from .params import paper_seed, read_yaml

    base = paper_seed(read_yaml(root / "params.yaml").get(slug) or {}, slug)
    if base in seeds:
        raise UserError(f"--seeds: {base} is the workspace's own {slug}.seed; give other values")
    os.environ["MLFLOW_TRACKING_URI"] = tracking.tracking_uri(root)  # the workspace's store: queue workers inherit it
    tracking.ensure_store(root, [slug])                              # (their DVC_ROOT is a temporary copy)
    from .warm import serving

    with serving(root):                                              # queue workers inherit the warm server
        names = run_queue(root, slug, seeds, jobs)
    runs = {base: None, **dict(zip(seeds, names))}
    doc = summarise(slug, {s: claims_at(root, slug, n) for s, n in runs.items()}, runs)
    out = report_dir(root, slug)
    save_json_atomic(out / FILE, doc)
    (out / "robustness.md").write_text(markdown(doc))
    return out / FILE
