"""The flow a Prefect worker runs for `paperflow cluster run` (deployment `paper-cluster/cluster`, prefect.yaml).

One flow run = one paper's DVC stages in the worker's own checkout (the deployment's pull step cds into
$PAPERFLOW_ROOT), in DAG order, independent stages side by side (one per core, as in flows/pipeline.py). Each stage
is `dvc --wait-for-lock repro --pull -s STAGE`: DVC pulls the run-cache from the remote and restores a stage that
any machine already computed (with the same deps and params), or runs it; after it a task pushes the stage's
run-cache entry and objects (`tasks.common.cluster.push_stage`), so a retry elsewhere resumes from there. The stage
runs land under the coordinator's MLflow parent run (found by `pipeline_id` on the shared tracking server).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from prefect import flow, get_run_logger, task

from flows.pipeline import MACHINE, TIMED, _publish, _results, _runner
from tasks.common import layout, runlog, tracking, warm
from tasks.common.cluster import check_worker, closure
from tasks.common.dvcgen import check_name, target
from tasks.common.registry import get_paper


@task(task_run_name="{name}", retries=1, retry_delay_seconds=5)
def cluster_stage(name: str, root: str, pipeline_id: str, force: bool = False, timed: bool = False) -> str:
    """One DVC stage, restored from the remote's run-cache when possible, then its result pushed."""
    cmd = ["dvc", "--wait-for-lock", "repro", "--pull", "-s", *(["-f"] if force else []), target(name)]
    env = {**os.environ, tracking.PIPELINE_ENV: pipeline_id}
    with MACHINE.use(exclusive=timed):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    logger = get_run_logger()
    said = [x for x in proc.stdout.splitlines() if x.startswith(("Running stage", "Stage ")) or "skipping" in x]
    logger.info("%s: %s", " ".join(cmd), " | ".join(said) or proc.stdout[-300:])
    state = ("restored" if "is cached" in proc.stdout else "skipped" if "didn't change, skipping" in proc.stdout
             else "ran")
    runlog.record(Path(root), pipeline_id, event="stage", stage=name, state=state if not proc.returncode
                  else "failed", wall_s=round(wall, 3), worker=os.environ.get("PAPERFLOW_WORKER", ""))
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {(proc.stderr or proc.stdout)[-2000:]}")
    push = subprocess.run([sys.executable, "-m", "tasks.common.cluster", "push", name], cwd=root, env=env,
                          capture_output=True, text=True)
    if push.returncode:
        raise RuntimeError(f"push of {name} to the DVC remote failed: {(push.stderr or push.stdout)[-1500:]}")
    logger.info("%s", push.stdout.strip())
    return state


@flow(name="paper-cluster", task_runner=_runner())   # run names come from the coordinator (paper-wave-unit-attempt)
def cluster_flow(paper: str, pipeline_id: str, want: dict[str, str] | None = None, force: bool = False,
                 targets: list[str] | None = None) -> dict[str, str]:
    """A paper's stages (or `targets` and what they need) on this worker's checkout, under `pipeline_id`."""
    p = get_paper(paper)
    root = layout.repo_root()
    if want:
        check_worker(root, want)      # the coordinator's commit and pipeline definition, or a clear failure
    tracking.ensure_store(root, [p.slug])
    tracking.reap_dead_runs(root, [p.slug])
    tracking.mark_ready(root)
    names = [check_name(p.slug), *(n for s in p.stages for n in p.dvc_names(s))]
    keep = set(names) if not targets else closure(p, targets)
    with warm.serving(root):      # stage commands run in forks of one warm interpreter
        check = cluster_stage.submit(check_name(p.slug), str(root), pipeline_id)
        futures: dict[str, list] = {}
        out = {check_name(p.slug): check}
        for stage in p.stages:
            waits = [check, *(f for up in stage.after for f in futures[up])]
            futures[stage.name] = [cluster_stage.submit(n, str(root), pipeline_id, force, n in TIMED, wait_for=waits)
                                   for n in p.dvc_names(stage) if n in keep]
            out.update({n: f for n, f in zip([n for n in p.dvc_names(stage) if n in keep], futures[stage.name])})
        result = _results(out)
    _publish(root, p)
    get_run_logger().info("%s on %s: %s", paper, os.environ.get("PAPERFLOW_WORKER", root), result)
    return result
