"""run_stage: the only caller of stage functions (used by `paperflow stage`, i.e. DVC, the Prefect tasks and tests).

It validates params, checks inputs, opens the MLflow child run with lineage tags, calls the function with a
StageIO whose output folder is temporary, and only when everything succeeded renames the outputs into place and
writes the metrics and timing files atomically. A failed or killed stage leaves nothing that looks
complete.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import sys
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

from . import layout
from .dvcgen import dvc_file
from .errors import UserError
from .io import StageIO, save_json_atomic
from .params import paper_seed, params_hash, read_yaml, stage_params
from .procs import pid_alive
from .registry import Paper, Stage, get_paper
from .warm import CHILD_ENV

log = logging.getLogger("paperflow.runner")


def git_commit(root: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # libyaml: dvc.lock (thousands of lines) in 1/4 the time


@functools.lru_cache(maxsize=8)
def _tracked_md5s(path: str, mtime_ns: int) -> dict[str, str]:
    """{out path: md5} of a dvc.lock or .dvc file, parsed once per process and file version."""
    doc = yaml.load(Path(path).read_text(), Loader=_LOADER) or {}
    entries = [o for st in (doc.get("stages") or {}).values() for o in st.get("outs", [])] + doc.get("outs", [])
    return {o.get("path", "").rstrip("/"): o.get("md5") for o in entries}


def dvc_hash(root: Path, path: Path) -> str | None:
    """The DVC md5 of a tracked path, from its paper's pipelines/<paper>/dvc.lock (stage outs under outputs/<paper>/),
    the root dvc.lock or data.dvc."""
    rel = path.relative_to(root).as_posix().rstrip("/")
    parts = rel.split("/")
    paper = [dvc_file(root, parts[1]).with_name("dvc.lock")] if parts[0] == "outputs" and len(parts) > 2 else []
    for f in (*paper, root / "dvc.lock", root / "data.dvc"):
        if f.exists():
            md5 = _tracked_md5s(str(f), f.stat().st_mtime_ns).get(rel)
            if md5 is not None:
                return md5
    return None


def _check_item(paper: Paper, stage: Stage, item: str | None) -> None:
    if stage.items and item not in stage.items:
        raise UserError(f"{paper.slug}.{stage.name} needs --item, one of: {', '.join(stage.items)}")
    if not stage.items and item is not None:
        raise UserError(f"{paper.slug}.{stage.name} takes no --item (got {item!r})")


def _upstream(root: Path, paper: Paper, stage: Stage) -> list[tuple[str, str | None, Path]]:
    ups = []
    for name in stage.after:
        up = paper.stage(name)
        for it in up.items or (None,):
            path = layout.out_dir(root, paper.slug, name, it)
            if not layout.complete(path):
                raise UserError(f"{path.relative_to(root)}: missing or incomplete upstream output; "
                                f"run `dvc repro pipelines/{paper.slug}/dvc.yaml:{paper.dvc_names(up)[0]}` first")
            ups.append((name, it, path))
    if stage.data and not (root / "data").is_dir():
        raise UserError("data/: missing; run `paperflow data` (or `dvc pull`) to recreate the raw inputs")
    return ups


def _check_metrics(metrics: Any, where: str) -> dict[str, float]:
    if not isinstance(metrics, dict):
        raise TypeError(f"{where} must return dict[str, float], got {type(metrics).__name__}")
    out = {}
    for k, v in metrics.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise TypeError(f"{where} returned non-numeric metric {k}={v!r}")
        out[k] = float(v) if isinstance(v, float) or not float(v).is_integer() else int(v)
    return out


def limit_threads() -> None:
    """One BLAS/torch thread per stage process (PAPERFLOW_THREADS overrides): Prefect runs independent stages side
    by side on the 2 cores, and multi-threaded torch thrashes when its threads outnumber free cores."""
    n = os.environ.get("PAPERFLOW_THREADS", "1")
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(n))


def run_stage(paper_slug: str, stage_name: str, item: str | None = None, root: Path | None = None,
              track: bool = True) -> dict[str, float]:
    limit_threads()
    root = (root or layout.repo_root()).resolve()
    paper = get_paper(paper_slug)
    stage = paper.stage(stage_name)
    _check_item(paper, stage, item)
    all_params = read_yaml(root / "params.yaml")
    p = stage_params(all_params, paper, stage)
    profile = all_params[paper.slug].get("profile", "default")
    pseed = paper_seed(all_params[paper.slug], paper.slug)
    ups = _upstream(root, paper, stage)
    fn = stage.load()
    key = layout.stage_key(stage.name, item)
    where = f"{paper.slug}.{key}"
    _check_writable(root, paper, stage, item)
    if track:
        from . import tracking

        if not tracking.store_ready(root):                # `paperflow run` / the flow did both before the fan-out
            tracking.ensure_store(root, [paper.slug])    # server reachable, store migrated (under a file lock)
            tracking.reap_dead_runs(root, [paper.slug])   # runs left RUNNING by a killed process -> KILLED
    sweep_staging(root, paper.slug)

    staging = root / "outputs" / paper.slug / f".tmp-{key}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    io = StageIO(root=root, paper=paper.slug, stage=stage.name, item=stage.item(item), profile=profile,
                 out=staging / "out", plots=staging / "plots", seed_base=int(getattr(p, "seed", 0)),
                 paper_seed=pseed, after=stage.after,
                 items_of={s.name: s.items for s in paper.stages}, log=logging.getLogger(f"paperflow.{where}"))
    try:
        io.out.mkdir(parents=True)
        if stage.report:
            (io.out / "figures").mkdir()
        tags = {"paper": paper.slug, "stage": stage.name, "item": item or "", "dvc.stage": paper.dvc_names(stage)[0]
                if not item else f"{paper.slug}_{stage.name}@{item}", "git.commit": git_commit(root),
                "params.hash": params_hash(p), "profile": profile, "paper.seed": str(pseed),
                "paperflow.launch": "warm" if os.environ.get(CHILD_ENV) else "cold"}
        if item is not None:
            tags.update({f"item.{k}": str(v) for k, v in stage.item(item).fields.items()})
        if track:   # lineage follows the data: the run that produced each upstream folder, found by its content digest
            up_runs = {layout.stage_key(n, it): tracking.run_with_digest(root, paper.slug, digest(path))
                       for n, it, path in ups}
            tags.update({f"upstream.{k}": v for k, v in up_runs.items() if v})
            tags["upstream_run_ids"] = ",".join(sorted({v for v in up_runs.values() if v}))
        t0 = time.perf_counter()
        log.info("%s: start (params %s)", where, tags["params.hash"])
        if track:   # the outputs move into place inside the run: a failure to write them marks the run FAILED
            with tracking.stage_run(root, paper.slug, where, p.model_dump(), tags) as run:
                metrics = _check_metrics(fn(p, io), where)
                wall = time.perf_counter() - t0
                _log_run(run, io, metrics, wall, ups, root, stage, tags, where)
                _finalise(root, paper, stage, item, io, staging, metrics, wall, run.run_id, tags)
        else:
            metrics = _check_metrics(fn(p, io), where)
            wall = time.perf_counter() - t0
            _finalise(root, paper, stage, item, io, staging, metrics, wall, f"untracked-{uuid.uuid4().hex[:12]}", tags)
        log.info("%s: done in %.1f s", where, wall)
        return metrics
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _writable_dirs(root: Path, paper: Paper, stage: Stage, item: str | None) -> list[Path]:
    dirs = [root / "outputs" / paper.slug, layout.metrics_file(root, paper.slug, stage.name, item).parent,
            layout.timing_file(root, paper.slug, stage.name, item).parent]
    if stage.curves:
        dirs.append(layout.plots_dir(root, paper.slug, stage.name, item).parent)
    if stage.report:
        dirs.append(layout.report_dir(root, paper.slug))
    return dirs


def _check_writable(root: Path, paper: Paper, stage: Stage, item: str | None) -> None:
    """Every folder the stage will write into accepts a new file, before any compute (a probe file, since
    permission bits do not stop root and immutable flags do)."""
    for d in _writable_dirs(root, paper, stage, item):
        try:
            d.mkdir(parents=True, exist_ok=True)
            probe = d / f".write-probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as e:
            raise UserError(f"{d.relative_to(root)}: not writable ({e.strerror}); fix its permissions "
                            "(e.g. `chattr -R -i` / `chmod -R u+w`) and re-run") from None


def sweep_staging(root: Path, slug: str) -> list[Path]:
    """Remove the paper's staging folders (`.tmp-<stage>-<pid>-<hex>`) whose process no longer runs (`kill -9`)."""
    gone = []
    for d in (root / "outputs" / slug).glob(".tmp-*"):
        parts = d.name.rsplit("-", 2)
        if len(parts) == 3 and parts[1].isdigit() and not pid_alive(int(parts[1])):
            shutil.rmtree(d, ignore_errors=True)
            gone.append(d)
    if gone:
        log.info("removed %d stale staging folder(s) of %s: %s", len(gone), slug, ", ".join(d.name for d in gone))
    return gone


def digest(path: Path) -> str:
    """sha256 over the sorted relative paths and contents of a folder (the outputs are content-deterministic)."""
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f.relative_to(path).as_posix().encode() + b"\0")
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _log_run(run, io: StageIO, metrics: dict, wall: float, ups, root: Path, stage: Stage,
             tags: dict[str, str], where: str) -> None:
    if not stage.report:
        run.set_tag(layout.DIGEST_TAG, digest(io.out))
    run.log_metrics({**{k: v for k, v in metrics.items() if v is not None}, "wall_time_s": wall})
    for name, (steps, vals) in io.curves.items():
        run.log_curve(name, steps, vals)
    seed = (getattr(io.item, "fields", None) or {}).get("seed")
    if seed not in (None, 0) and io.models:   # the extra seeds of a seeded grid: the files stay in the DVC output
        run.set_tag("models.logged", f"no: seed {seed} (MLflow keeps seed 0 of each arm)")
    for model, name in io.models if seed in (None, 0) else ():   # a registry version too: mdm.train-dense(.<name>)
        run.log_model(model, name, registered=where if name == "model" else f"{where}.{name}",
                      tags={k: tags[k] for k in ("git.commit", "params.hash", "profile", "paper.seed", "dvc.stage")})
    for name, it, path in ups:
        run.log_input(path, layout.stage_key(name, it), dvc_hash(root, path), context=name)
    if stage.data:
        run.log_input(root / "data", "data", dvc_hash(root, root / "data"), context="raw")
    if stage.report:
        run.log_artifacts(io.out)
        if (io.out / "claims.json").exists():
            run.log_claims(json.loads((io.out / "claims.json").read_text())["claims"])
    run.log_artifacts(io.plots, "plots")


def _swap(src: Path, target: Path) -> Path | None:
    """Move src into target's place; the old target is renamed aside (returned) until the whole commit succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = target.with_name(f".old-{target.name}-{os.getpid()}") if target.exists() else None
    if old is not None:
        target.replace(old)
    try:
        src.replace(target)
    except OSError:
        if old is not None:
            old.replace(target)
        raise
    return old


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _commit(moves: list[tuple[Path, Path]]) -> None:
    """All moves or none: on a failure every target done so far gets its old content back."""
    done: list[tuple[Path, Path, Path | None]] = []
    try:
        for src, target in moves:
            done.append((src, target, _swap(src, target)))
    except BaseException:
        for src, target, old in reversed(done):
            target.replace(src)
            if old is not None:
                old.replace(target)
        raise
    for _, _, old in done:
        if old is not None:
            _remove(old)


def _finalise(root: Path, paper: Paper, stage: Stage, item: str | None, io: StageIO, staging: Path,
              metrics: dict, wall: float, run_id: str, tags: dict) -> None:
    """Everything is written inside the staging folder first; then each piece is swapped into place."""
    info = {"run_id": run_id, "wall_time_s": round(wall, 2), "params_hash": tags["params.hash"],
            "git_commit": tags["git.commit"], "profile": tags["profile"]}
    save_json_atomic(staging / "metrics.json", metrics)
    save_json_atomic(staging / "timing.json", info)
    moves: list[tuple[Path, Path]] = []
    if stage.report:
        dest = layout.report_dir(root, paper.slug)
        moves += [(io.out / name, dest / name) for name in layout.REPORT_FILES if (io.out / name).exists()]
    else:
        moves.append((io.out, layout.out_dir(root, paper.slug, stage.name, item)))
    if stage.curves:
        io.plots.mkdir(parents=True, exist_ok=True)
        moves.append((io.plots, layout.plots_dir(root, paper.slug, stage.name, item)))
    moves += [(staging / "metrics.json", layout.metrics_file(root, paper.slug, stage.name, item)),
              (staging / "timing.json", layout.timing_file(root, paper.slug, stage.name, item))]
    _commit(moves)
