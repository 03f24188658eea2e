"""A record of each pipeline execution, for `paperflow bench`: wall time of the whole run and, under Prefect, of
each `dvc repro -s` call (process start to lock update). Kept in `.paperflow/runs/` (git- and DVC-ignored), never
in a stage's outputs: DVC's hashes must not see when or how fast something ran."""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

_lock = threading.Lock()


def runs_dir(root: Path) -> Path:
    return root / ".paperflow" / "runs"


def jobs() -> int:
    """Stages run side by side: PAPERFLOW_JOBS, else the cores this process may use."""
    n = os.environ.get("PAPERFLOW_JOBS")
    if n is not None:
        if not n.isdigit() or int(n) < 1:
            from .errors import UserError

            raise UserError(f"PAPERFLOW_JOBS={n!r}: must be a positive integer (stages run side by side)")
        return int(n)
    return max(1, len(os.sched_getaffinity(0)))


def record(root: Path, pipeline: str, **fields) -> None:
    """Append one event (a stage call or the run's end) to the execution's log; a failure to log never fails a run."""
    try:
        d = runs_dir(root)
        d.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"t": round(time.time(), 3), **fields}, sort_keys=True)
        with _lock, (d / f"{pipeline}.jsonl").open("a") as fh:
            fh.write(line + "\n")
    except OSError:
        pass


def load(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def latest(root: Path, kind: str | None = None) -> tuple[Path, list[dict]] | None:
    """The newest finished execution log (one with an `end` event), optionally of one kind (`dvc`, `prefect`)."""
    logs = sorted(runs_dir(root).glob("*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True)
    for p in logs:
        ev = load(p)
        end = [e for e in ev if e.get("event") == "end"]
        if end and (kind is None or end[-1].get("via") == kind):
            return p, ev
    return None
