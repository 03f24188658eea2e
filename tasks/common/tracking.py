"""MLflow tracking: the only module that imports mlflow.

Experiment = paper. One parent run per pipeline execution, one child run per stage, linked with
`parent_run_id=` (never the thread-local active run). Lineage tags: paper, stage, git commit, params hash and the
run ids of the upstream stages whose outputs were consumed (read from their output folders, so they stay right
when DVC restores a cached stage). The store is `sqlite:///<repo>/mlflow.db` unless MLFLOW_TRACKING_URI is set.
"""
from __future__ import annotations

import fcntl
import logging
import os
import re
import socket
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .errors import UserError
from .procs import pid_alive

log = logging.getLogger("paperflow.tracking")
PIPELINE_ENV = "PAPERFLOW_PIPELINE_ID"
READY_ENV = "PAPERFLOW_STORE_READY"     # set by an entry point that created the store and reaped dead runs
PIP_REQS = ["torch==2.13.0"]


def tracking_uri(root: Path) -> str:
    """MLFLOW_TRACKING_URI, else an absolute sqlite URI in the repo root (DVC_ROOT for queued experiments)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    base = Path(os.environ.get("DVC_ROOT") or root).resolve()
    return f"sqlite:///{base / 'mlflow.db'}"


def _mlflow(root: Path):
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    mlflow.set_tracking_uri(tracking_uri(root))
    return mlflow


@contextmanager
def _store_lock(uri: str) -> Iterator[None]:
    """An exclusive file lock beside a sqlite store (no-op for servers): whoever comes first creates and migrates
    it, the others wait and find it ready (concurrent first use corrupts a sqlite store for good)."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    db = Path(uri[len("sqlite:///"):])
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}   # the UI opens on "Training runs"


def ensure_store(root: Path, papers: list[str]) -> str:
    """Create and migrate the store and the experiments once, under a file lock, before anything runs; every entry
    point (a stage, `paperflow run`, a flow) calls it. An unreachable server is one UserError within seconds."""
    uri = tracking_uri(root)
    if uri.startswith("http"):
        _check_server(uri)
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    with _store_lock(uri):
        mlflow = _mlflow(root)
        try:
            for p in papers:
                if mlflow.get_experiment_by_name(p) is None:
                    mlflow.create_experiment(p, tags=EXPERIMENT_KIND)
        except Exception as e:  # noqa: BLE001 - any store failure is a user-facing setup problem
            raise UserError(f"MLflow store {uri}: {type(e).__name__}: {str(e).splitlines()[0][:200]}; "
                            "check MLFLOW_TRACKING_URI (unset it to use the embedded sqlite store)") from None
    return uri


def mark_ready(root: Path) -> None:
    """Stage processes started from here (through dvc) may skip ensure_store/reap_dead_runs: done once, up front."""
    os.environ[READY_ENV] = tracking_uri(root)


def store_ready(root: Path) -> bool:
    return os.environ.get(READY_ENV) == tracking_uri(root)


def _owner_tags() -> dict[str, str]:
    return {"paperflow.host": socket.gethostname(), "paperflow.pid": str(os.getpid())}


def _worker_tags(root: Path) -> dict[str, str]:
    """Where a stage ran, for a run on a Prefect worker: the checkout, the worker and the flow run (so the
    coordinator can mark a crashed flow run's stage runs KILLED on any machine)."""
    tags = {"paperflow.checkout": str(Path(root).resolve())}
    for key, var in (("prefect.flow_run_id", "PREFECT__FLOW_RUN_ID"), ("paperflow.worker", "PAPERFLOW_WORKER")):
        if os.environ.get(var):
            tags[key] = os.environ[var]
    return tags


def reap_dead_runs(root: Path, papers: list[str]) -> list[str]:
    """Runs still RUNNING whose owning process (on this host) is gone, e.g. after `kill -9`, become KILLED."""
    mlflow = _mlflow(root)
    client, host, reaped = mlflow.MlflowClient(), socket.gethostname(), []
    exps = [e.experiment_id for e in (mlflow.get_experiment_by_name(p) for p in papers) if e is not None]
    if not exps:
        return reaped
    for run in client.search_runs(exps, filter_string=f"attributes.status = 'RUNNING' and "
                                                      f"tags.`paperflow.host` = '{host}'", max_results=500):
        pid = run.data.tags.get("paperflow.pid", "")
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            client.set_terminated(run.info.run_id, "KILLED")
            reaped.append(run.info.run_id)
    if reaped:
        log.info("marked %d run(s) KILLED: their process is gone", len(reaped))
    return reaped


def _check_server(uri: str) -> None:
    import urllib.request

    try:
        urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=3).read()
    except Exception:  # noqa: BLE001
        raise UserError(f"MLflow tracking server {uri} is unreachable; start it (`paperflow ui mlflow`) "
                        "or unset MLFLOW_TRACKING_URI to use the embedded sqlite store") from None


def _experiment_id(mlflow, paper: str) -> str:
    exp = mlflow.get_experiment_by_name(paper)
    return exp.experiment_id if exp else mlflow.create_experiment(paper, tags=EXPERIMENT_KIND)


def pipeline_id() -> str:
    """The id of this pipeline execution: set by `paperflow run`/the Prefect flow, else the calling `dvc` process."""
    pid = os.environ.get(PIPELINE_ENV)
    if pid:
        return pid
    proc = os.getppid()
    for _ in range(6):  # walk up: sh -> dvc (-> paperflow ...)
        try:
            stat = Path(f"/proc/{proc}/stat").read_text()
            cmdline = Path(f"/proc/{proc}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            break
        fields = stat.rsplit(")", 1)[1].split()
        if any(Path(a).name == "dvc" for a in cmdline.split(" ")[:2]):
            return f"dvc-{proc}-{fields[19]}"  # pid + start time: unique per `dvc repro` process
        proc = int(fields[1])
    return f"stage-{uuid.uuid4().hex[:12]}"


def execution_tags(root: Path, slug: str) -> dict[str, str]:
    """Profile and seed of a paper's pipeline execution (for the parent run's name and tags)."""
    from .params import read_yaml

    section = read_yaml(root / "params.yaml").get(slug) or {}
    return {"profile": str(section.get("profile", "default")), "seed": str(section.get("seed", 0))}


def parent_name(paper: str, tags: dict[str, str]) -> str:
    """What tells pipeline executions apart in the runs list: paper, profile, seed and trigger."""
    bits = [f"{paper}-pipeline"] + [f"{k}={tags[k]}" for k in ("profile", "seed", "via") if tags.get(k)]
    return " ".join(bits)


def find_or_create_parent(root: Path, paper: str, pid: str, tags: dict[str, str]) -> str:
    mlflow = _mlflow(root)
    exp_id = _experiment_id(mlflow, paper)
    client = mlflow.MlflowClient()
    found = client.search_runs([exp_id], filter_string=f"tags.`paperflow.pipeline_id` = '{pid}' and tags.`paperflow.role` = 'pipeline'",
                               max_results=1)
    if found:
        return found[0].info.run_id
    run = client.create_run(exp_id, run_name=parent_name(paper, tags), tags={
        "paperflow.pipeline_id": pid, "paperflow.role": "pipeline", "paper": paper, **_owner_tags(), **tags})
    return run.info.run_id


def end_parent(root: Path, run_id: str, status: str = "FINISHED") -> None:
    _mlflow(root).MlflowClient().set_terminated(run_id, status)


def finish_parent(root: Path, paper: str, run_id: str, ok: bool, tolerate: set[str] | frozenset = frozenset()) -> str:
    """Close a pipeline execution's parent run: deleted when no stage ran (a no-op execution), FAILED when the
    execution or any child failed, else FINISHED with the paper's verdict counts logged on it (so the compare view
    lines executions up). Returns the status ("DELETED" for a no-op). `tolerate`: ids of child runs KILLED with a
    crashed worker whose stage a retry finished (the cluster coordinator); they do not fail the parent."""
    import json

    from mlflow.entities import Metric

    from .layout import metrics_file

    mlflow = _mlflow(root)
    client = mlflow.MlflowClient()
    exp = client.get_run(run_id).info.experiment_id
    children = client.search_runs([exp], filter_string=f"tags.`mlflow.parentRunId` = '{run_id}'")
    if ok and not children:
        client.delete_run(run_id)
        return "DELETED"
    done = {c.data.tags.get("dvc.stage") for c in children if c.info.status == "FINISHED"}
    status = "FINISHED" if ok and all(c.info.status == "FINISHED" or (c.info.run_id in tolerate and
                                                                      c.data.tags.get("dvc.stage") in done)
                                      for c in children) else "FAILED"
    report = metrics_file(root, paper, "report")
    if report.exists():
        counts = {k: float(v) for k, v in json.loads(report.read_text()).items() if isinstance(v, (int, float))}
        now = int(time.time() * 1000)
        client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in counts.items()])
    client.set_terminated(run_id, status)
    return status


def run_with_digest(root: Path, paper: str, digest: str) -> str | None:
    """The newest FINISHED stage run whose output folder had this content digest (None if untracked or unknown)."""
    mlflow = _mlflow(root)
    exp = mlflow.get_experiment_by_name(paper)
    if exp is None:
        return None
    runs = mlflow.MlflowClient().search_runs([exp.experiment_id], filter_string=(
        f"tags.`output.digest` = '{digest}' and attributes.status = 'FINISHED'"),
        order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0].info.run_id if runs else None


def _metric_key(name: str) -> str:
    """MLflow accepts letters, digits and `_-./ ` in metric and tag names; anything else becomes `_`."""
    return re.sub(r"[^A-Za-z0-9_\-./ ]", "_", name)[:250]


class StageRun:
    """What a running stage logs through (wrapped by StageIO so stage code never sees mlflow)."""

    def __init__(self, mlflow, run_id: str, parent_id: str | None = None):
        self.mlflow, self.run_id, self.parent_id = mlflow, run_id, parent_id

    def log_claims(self, claims: list[dict]) -> None:
        """On the pipeline's parent run, so MLflow's compare view lines up executions by their results: tag
        `claim.<id>` = verdict, metrics `claims.pass|fail|inconclusive` and each claim's scalar key numbers
        (`claim.<id>.<key>`, a `{value, lo, hi}` CI as its value)."""
        if not self.parent_id:
            return
        from mlflow.entities import Metric, RunTag

        now = int(time.time() * 1000)
        counts = {v: sum(c["verdict"] == v for c in claims) for v in ("PASS", "FAIL", "INCONCLUSIVE")}
        metrics = {f"claims.{v.lower()}": float(n) for v, n in counts.items()}
        for c in claims:
            for key, val in c.get("measured", {}).items():
                val = val.get("value") if isinstance(val, dict) else val
                if isinstance(val, (int, float)) and not isinstance(val, bool) and val == val:
                    metrics[_metric_key(f"claim.{c['id']}.{key}")] = float(val)
        tags = [RunTag(_metric_key(f"claim.{c['id']}"), c["verdict"]) for c in claims]
        client = self.mlflow.MlflowClient()
        ms = [Metric(k, v, now, 0) for k, v in metrics.items()]
        for i in range(0, max(len(ms), 1), 1000):
            client.log_batch(self.parent_id, metrics=ms[i:i + 1000], tags=tags if i == 0 else [])

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        clean = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and v == v}
        if clean:
            self.mlflow.log_metrics(clean, step=step)

    def log_curve(self, name: str, steps: list[int], values: list[float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        ms = [Metric(name, float(v), now, int(s)) for s, v in zip(steps, values) if v == v]
        client = self.mlflow.MlflowClient()
        for i in range(0, len(ms), 1000):
            client.log_batch(self.run_id, metrics=ms[i:i + 1000])

    def set_tag(self, key: str, value: str) -> None:
        self.mlflow.MlflowClient().set_tag(self.run_id, key, value)

    def log_model(self, model, name: str, registered: str | None = None, tags: dict[str, str] | None = None) -> None:
        """Log the model to this run; `registered`: also a new version of that registered model, its version
        tagged with `tags` (commit, params hash), so `models:/<registered>/latest` loads the newest one."""
        import logging
        import warnings

        from mlflow.exceptions import MlflowException

        pickle_note = logging.getLogger("mlflow.pytorch")   # warns on every pickle-format save; the format is
        level = pickle_note.level                           # chosen (STACK 4.3)
        pickle_note.setLevel(logging.ERROR)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                info = self.mlflow.pytorch.log_model(model, name=name, serialization_format="pickle",
                                                     pip_requirements=PIP_REQS)
        finally:
            pickle_note.setLevel(level)
        if registered:   # the client API: no "Successfully registered" lines on stderr from every stage
            client = self.mlflow.MlflowClient()
            try:
                client.create_registered_model(registered)
            except MlflowException as e:
                if e.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
            client.create_model_version(registered, info.model_uri, run_id=self.run_id, tags=tags,
                                        model_id=info.model_id)

    def log_artifacts(self, path: Path, artifact_path: str | None = None) -> None:
        if path.is_dir():
            self.mlflow.log_artifacts(str(path), artifact_path)
        elif path.exists():
            self.mlflow.log_artifact(str(path), artifact_path)

    def log_input(self, path: Path, name: str, digest: str | None, context: str) -> None:
        from mlflow.data.dataset_source_registry import resolve_dataset_source
        from mlflow.data.meta_dataset import MetaDataset

        import warnings

        with warnings.catch_warnings():   # "can be interpreted in multiple ways": two local sources, same class
            warnings.simplefilter("ignore", UserWarning)
            source = resolve_dataset_source(str(path.resolve()))
        ds = MetaDataset(source=source, name=name, digest=digest or "unknown")
        self.mlflow.log_input(ds, context=context, tags={"dvc.md5": digest or "unknown"})


@contextmanager
def stage_run(root: Path, paper: str, stage: str, params: dict[str, Any], tags: dict[str, str]) -> Iterator[StageRun]:
    """A child run of this pipeline execution's parent run; FAILED if the stage raises."""
    mlflow = _mlflow(root)
    pid = pipeline_id()
    parent = find_or_create_parent(root, paper, pid, {k: v for k, v in tags.items() if k.startswith("git.")})
    with mlflow.start_run(experiment_id=_experiment_id(mlflow, paper), run_name=stage, parent_run_id=parent,
                          tags={**tags, **_owner_tags(), **_worker_tags(root), "paperflow.pipeline_id": pid,
                                "paperflow.role": "stage"}) as run:
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        try:
            yield StageRun(mlflow, run.info.run_id, parent)
        finally:
            if not pid.startswith(("flow-", "cli-")):  # dvc-driven parents have no owner to close them
                end_parent(root, parent)
