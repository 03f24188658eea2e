"""Prefect flows: each task runs one DVC stage (`dvc --wait-for-lock repro -s STAGE`), so DVC stays the one judge
of freshness; after `dvc repro` a flow redoes nothing, and after a flow `dvc status` is clean.

paper_flow(paper): a paper's stages in DAG order, independent stages side by side (one per core, `PAPERFLOW_JOBS`
overrides; the slots are `_Machine`'s, the task runner's threads only wait); one MLflow parent run created before
the fan-out; the report as a markdown artifact and the claims as a table. suite_flow(): every registered paper's stages in one fan-out (papers
run beside each other), then the suite index. A stage whose metrics are wall-clock times (`TIMED`) runs with
no other stage beside it. Works on the ephemeral API (no server) and against `prefect server start`
(PREFECT_API_URL). `paperflow run P|all` runs these by default.
"""
from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.task_runners import ThreadPoolTaskRunner

from tasks.common import layout, runlog, tracking, warm
from tasks.common.dvcgen import check_name, target
from tasks.common.index import unreported
from tasks.common.registry import Paper, all_papers, get_paper


class _Machine:
    """At most `runlog.jobs()` stages at once (one per core), and exclusive use by a timed stage (writer-preferring):
    a benchmark that times code must not share the cores with a training run. The slots live here, not in the task
    runner's pool size: a Prefect task submitted with `wait_for` holds a pool thread while it waits for its
    upstream stages, so a pool of one thread per core ran the submission order nearly one stage at a time."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._active = 0
        self._exclusive = False
        self._waiting = 0

    @contextmanager
    def use(self, exclusive: bool):
        with self._cv:
            if exclusive:
                self._waiting += 1
                self._cv.wait_for(lambda: self._active == 0 and not self._exclusive)
                self._waiting -= 1
                self._exclusive = True
            else:
                slots = runlog.jobs()
                self._cv.wait_for(lambda: not self._exclusive and self._waiting == 0 and self._active < slots)
                self._active += 1
        try:
            yield
        finally:
            with self._cv:
                if exclusive:
                    self._exclusive = False
                else:
                    self._active -= 1
                self._cv.notify_all()


MACHINE = _Machine()


# Stages whose metrics are wall-clock times: each runs with no other stage beside it. Listed here, not on the paper
# cards, because the cards (tasks/common/registry.py, tasks/<paper>/__init__.py) are dependencies of every check
# and report stage: a new Stage field would re-run all of them. Move to `Stage(timed=True)` with the next card edit.
TIMED = frozenset({"pie_benchmark"})


POOL_THREADS = 512     # > every stage of every paper: waiting tasks hold threads, the core slots are in _Machine


def _runner() -> ThreadPoolTaskRunner:
    return ThreadPoolTaskRunner(max_workers=POOL_THREADS)


@task(task_run_name="{name}", retries=1, retry_delay_seconds=5)
def dvc_stage(name: str, root: str, pipeline_id: str, force: bool = False, timed: bool = False) -> str:
    """One DVC stage; DVC skips it when its deps, params and outs are unchanged. Its wall time, from `dvc` start to
    lock update, goes to the execution's run log (`paperflow bench` sets it against the stage body)."""
    cmd = ["dvc", "--wait-for-lock", "repro", "-s", *(["-f"] if force else []), target(name)]
    env = {**os.environ, tracking.PIPELINE_ENV: pipeline_id}
    with MACHINE.use(exclusive=timed):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    logger = get_run_logger()
    said = [x for x in proc.stdout.splitlines() if x.startswith(("Running stage", "Stage ")) or "skipping" in x]
    logger.info("%s: %s", " ".join(cmd), " | ".join(said) or proc.stdout[-300:])
    logger.debug("%s", proc.stdout[-3000:])
    state = "skipped" if "didn't change, skipping" in proc.stdout or "is cached" in proc.stdout else "ran"
    runlog.record(Path(root), pipeline_id, event="stage", stage=name, state=state if not proc.returncode
                  else "failed", wall_s=round(wall, 3))
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return state


def _publish(root: Path, paper: Paper) -> None:
    rdir = layout.report_dir(root, paper.slug)
    if (rdir / "report.md").exists():
        create_markdown_artifact((rdir / "report.md").read_text(), key=f"{paper.slug}-report",
                                 description=f"{paper.slug}: report.md")
    if (rdir / "claims.json").exists():
        claims = json.loads((rdir / "claims.json").read_text())["claims"]
        rows = [{"id": c["id"], "verdict": c["verdict"], "reason": c["reason"][:300],
                 "measured": json.dumps(c["measured"])[:500]} for c in claims]
        create_table_artifact(rows, key=f"{paper.slug}-claims", description=f"{paper.slug}: claim verdicts")


def _submit_paper(root: Path, paper: Paper, pipeline_id: str, force: bool) -> dict[str, object]:
    """Submit a paper's stages (futures by DVC name), each waiting for its params check and its upstream stages."""
    check = dvc_stage.submit(check_name(paper.slug), str(root), pipeline_id)    # params validated before any stage
    futures: dict[str, list] = {}
    for stage in paper.stages:
        waits = [check, *(f for up in stage.after for f in futures[up])]
        futures[stage.name] = [dvc_stage.submit(n, str(root), pipeline_id, force, n in TIMED, wait_for=waits)
                               for n in paper.dvc_names(stage)]
    return {check_name(paper.slug): check,
            **{n: f for s in paper.stages for n, f in zip(paper.dvc_names(s), futures[s.name])}}


def _results(futures: dict[str, object]) -> dict[str, str]:
    """Every future's state ('ran'/'skipped'); waits for all before raising the first failure."""
    out, err = {}, None
    for n, f in futures.items():
        try:
            out[n] = f.result()
        except Exception as e:  # noqa: BLE001 - the others still finish and are reported
            err = err or e
    if err is not None:
        raise err
    return out


@flow(name="paper-pipeline", flow_run_name="{paper}", task_runner=_runner())
def paper_flow(paper: str, force: bool = False, root: str | None = None, index: bool = True) -> dict[str, str]:
    """Run one paper's DVC stages as Prefect tasks, linked under one MLflow parent run, then the suite index."""
    p = get_paper(paper)
    rootp = Path(root) if root else layout.repo_root()
    tracking.ensure_store(rootp, [p.slug])
    tracking.reap_dead_runs(rootp, [p.slug])
    tracking.mark_ready(rootp)
    pipeline_id = f"flow-{uuid.uuid4().hex[:12]}"
    parent = tracking.find_or_create_parent(rootp, p.slug, pipeline_id, {"via": "prefect",
                                                                         **tracking.execution_tags(rootp, p.slug)})
    status, t0 = "FAILED", time.perf_counter()
    try:
        with warm.serving(rootp):     # stage commands run in forks of one warm interpreter (no-op if already on)
            result = _results(_submit_paper(rootp, p, pipeline_id, force))
        status = "FINISHED"
    finally:
        tracking.finish_parent(rootp, p.slug, parent, ok=status == "FINISHED")
        runlog.record(rootp, pipeline_id, event="end", via="prefect", target=p.slug, status=status,
                      jobs=runlog.jobs(), wall_s=round(time.perf_counter() - t0, 3))
    if index and not [s for s in unreported(rootp) if s != p.slug]:   # the index needs every paper's claims
        dvc_stage(name="suite_index", root=str(rootp), pipeline_id=pipeline_id)
    _publish(rootp, p)
    get_run_logger().info("%s: %s", paper, result)
    return result


@flow(name="suite-pipeline", task_runner=_runner())
def suite_flow(force: bool = False, root: str | None = None) -> dict[str, dict[str, str]]:
    """Every registered paper in one fan-out (one MLflow parent per paper), then the suite index."""
    rootp = Path(root) if root else layout.repo_root()
    papers = all_papers()
    tracking.ensure_store(rootp, [p.slug for p in papers])
    tracking.reap_dead_runs(rootp, [p.slug for p in papers])
    tracking.mark_ready(rootp)
    pipeline_id, t0 = f"flow-{uuid.uuid4().hex[:12]}", time.perf_counter()
    parents = {p.slug: tracking.find_or_create_parent(rootp, p.slug, pipeline_id, {
        "via": "prefect", **tracking.execution_tags(rootp, p.slug)}) for p in papers}
    results, failed = {}, []
    with warm.serving(rootp):
        futures = {p.slug: _submit_paper(rootp, p, pipeline_id, force) for p in papers}
        for p in papers:
            try:
                results[p.slug] = _results(futures[p.slug])
            except Exception:  # noqa: BLE001 - every paper finishes; the flow fails at the end
                failed.append(p.slug)
            tracking.finish_parent(rootp, p.slug, parents[p.slug], ok=p.slug not in failed)
            _publish(rootp, p)
    runlog.record(rootp, pipeline_id, event="end", via="prefect", target="all", jobs=runlog.jobs(),
                  status="FAILED" if failed else "FINISHED", wall_s=round(time.perf_counter() - t0, 3))
    if failed:
        raise RuntimeError(f"stages failed in: {', '.join(failed)} (see the task runs' logs)")
    dvc_stage(name="suite_index", root=str(rootp), pipeline_id=pipeline_id, force=force)
    return results


def deployment(target: str, cron: str):
    """A deployment of the suite or one paper's flow with a cron schedule (not yet registered)."""
    if target == "all":
        return suite_flow.to_deployment(name="suite-scheduled", cron=cron)
    return paper_flow.to_deployment(name=f"{target}-scheduled", cron=cron, parameters={"paper": target})


def serve(target: str, cron: str) -> None:
    """Register the scheduled deployment and serve it from this process (needs `prefect server start`)."""
    from prefect import serve as _serve

    _serve(deployment(target, cron))
