"""Prefect flows: each task runs one DVC stage (`dvc --wait-for-lock repro -s STAGE`), so DVC stays the one judge
of freshness; after `dvc repro` a flow redoes nothing, and after a flow `dvc status` is clean.

paper_flow(paper): a paper's stages in DAG order, independent stages concurrently (ThreadPoolTaskRunner); one
MLflow parent run created before the fan-out; the report as a markdown artifact and the claims as a table.
suite_flow(): every registered paper, then the suite index. Works on the ephemeral API (no server) and against
`prefect server start` (PREFECT_API_URL). Run: `paperflow run mdm --via prefect`.
"""
from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from tasks.common import layout, tracking
from tasks.common.dvcgen import check_name
from tasks.common.index import unreported
from tasks.common.registry import Paper, all_papers, get_paper


@task(task_run_name="{name}", retries=1, retry_delay_seconds=5)
def dvc_stage(name: str, root: str, pipeline_id: str, force: bool = False) -> str:
    """One DVC stage; DVC skips it when its deps, params and outs are unchanged."""
    cmd = ["dvc", "--wait-for-lock", "repro", "-s", *(["-f"] if force else []), name]
    env = {**os.environ, tracking.PIPELINE_ENV: pipeline_id}
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    logger = get_run_logger()
    logger.info("%s\n%s", " ".join(cmd), proc.stdout[-3000:])
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return "skipped" if "didn't change, skipping" in proc.stdout or "is cached" in proc.stdout else "ran"


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


def _run_paper(root: Path, paper: Paper, pipeline_id: str, force: bool) -> dict[str, str]:
    check = dvc_stage.submit(check_name(paper.slug), str(root), pipeline_id)    # params validated before any stage
    futures: dict[str, list] = {}
    for stage in paper.stages:
        waits = [check, *(f for up in stage.after for f in futures[up])]
        futures[stage.name] = [dvc_stage.submit(n, str(root), pipeline_id, force, wait_for=waits)
                               for n in paper.dvc_names(stage)]
    return {check_name(paper.slug): check.result(),
            **{n: f.result() for s in paper.stages for n, f in zip(paper.dvc_names(s), futures[s.name])}}


@flow(name="paper-pipeline", flow_run_name="{paper}")
def paper_flow(paper: str, force: bool = False, root: str | None = None, index: bool = True) -> dict[str, str]:
    """Run one paper's DVC stages as Prefect tasks, linked under one MLflow parent run, then the suite index."""
    p = get_paper(paper)
    rootp = Path(root) if root else layout.repo_root()
    tracking.ensure_store(rootp, [p.slug])
    tracking.reap_dead_runs(rootp, [p.slug])
    pipeline_id = f"flow-{uuid.uuid4().hex[:12]}"
    parent = tracking.find_or_create_parent(rootp, p.slug, pipeline_id, {"via": "prefect",
                                                                         **tracking.execution_tags(rootp, p.slug)})
    status = "FAILED"
    try:
        result = _run_paper(rootp, p, pipeline_id, force)
        status = "FINISHED"
    finally:
        tracking.finish_parent(rootp, p.slug, parent, ok=status == "FINISHED")
    if index and not [s for s in unreported(rootp) if s != p.slug]:   # the index needs every paper's claims
        dvc_stage(name="suite_index", root=str(rootp), pipeline_id=pipeline_id)
    _publish(rootp, p)
    get_run_logger().info("%s: %s", paper, result)
    return result


@flow(name="suite-pipeline")
def suite_flow(force: bool = False, root: str | None = None) -> dict[str, dict[str, str]]:
    """Every registered paper, then the suite index (reports/index.md)."""
    rootp = Path(root) if root else layout.repo_root()
    tracking.ensure_store(rootp, [p.slug for p in all_papers()])
    results = {p.slug: paper_flow(p.slug, force=force, root=str(rootp), index=False) for p in all_papers()}
    dvc_stage(name="suite_index", root=str(rootp), pipeline_id=f"flow-{uuid.uuid4().hex[:12]}", force=force)
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
