"""The suite on several machines: PostgreSQL, a Prefect server and an MLflow server (both on PostgreSQL, MLflow with
proxied artifacts), a Prefect process work pool with one worker per checkout, and a DVC remote for outputs and the
run-cache. No scheduler of our own: Prefect places flow runs on workers, DVC decides what is up to date (a stage
computed on one worker is restored from the run-cache on another), MLflow holds the lineage.

    paperflow cluster up        # services on 127.0.0.1 (state under .paperflow/cluster/, PIDs in pids.json)
    paperflow cluster deploy    # work pool + the `paper-cluster/cluster` deployment (prefect.yaml) + zombie automation
    paperflow cluster worker    # a worker for this checkout (one per machine)
    paperflow cluster run mdm grsnn      # one flow run per paper on the pool (also `paperflow run all --pool NAME`)
    paperflow cluster pull mdm grsnn     # this checkout: every stage restored from the remote, `dvc status` clean
    paperflow cluster down      # stop the services by PID

See docs/cluster.md. Everything binds to 127.0.0.1 unless PAPERFLOW_CLUSTER_HOST says otherwise.
"""
from __future__ import annotations

import fcntl
import glob
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from .errors import UserError

log = logging.getLogger("paperflow.cluster")
POOL = "paperflow"
DEPLOYMENT = "paper-cluster/cluster"          # flow name / deployment name in prefect.yaml
ZOMBIE_AUTOMATION = "paperflow: crash zombie flow runs"
PORTS = {"postgres": 5433, "prefect": 4200, "mlflow": 5000}


# ---------------------------------------------------------------------------------------------------- services
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin(name: str) -> str:
    """A PostgreSQL server binary: on PATH, else Debian's /usr/lib/postgresql/<v>/bin."""
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if not found:
        raise UserError(f"PostgreSQL's `{name}` not found: install it (`apt-get install postgresql`, "
                        "or your OS's package) and re-run")
    return found


def _as_pg_user(cmd: list[str]) -> list[str]:
    """initdb/postgres refuse to run as root: run them as the `postgres` system user then."""
    if os.geteuid() != 0:
        return cmd
    runuser = shutil.which("runuser")
    if not runuser:
        raise UserError("running as root and `runuser` is missing: start PostgreSQL as a normal user")
    return [runuser, "-u", "postgres", "--", *cmd]


def _wait(check, what: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc is not None and proc.poll() is not None:
            raise UserError(f"{what} exited with code {proc.returncode} while starting (see its log)")
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.5)
    raise UserError(f"{what} did not come up within {timeout:.0f} s (see its log)")


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=3) as r:
        return r.status == 200


def _spawn(cmd: list[str], logfile: Path, env: dict | None = None, cwd: Path | None = None) -> subprocess.Popen:
    """A service in its own process group (so one killpg stops it and its children), output to a log file."""
    logfile.parent.mkdir(parents=True, exist_ok=True)
    fh = open(logfile, "ab")
    try:
        return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env or dict(os.environ), cwd=cwd,
                                start_new_session=True)
    finally:
        fh.close()


def start_postgres(state: Path, port: int, host: str = "127.0.0.1") -> tuple[subprocess.Popen, str]:
    """A private PostgreSQL cluster in state/pg (trust auth on loopback only, for tests and a single trusted host;
    use a managed PostgreSQL with passwords for a team). Creates databases `prefect` and `mlflow`. Returns the
    server process and the base URL `postgresql://paperflow@host:port`."""
    data = state / "pg"
    state.mkdir(parents=True, exist_ok=True)
    if not (data / "PG_VERSION").exists():
        data.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(data, "postgres", "postgres")
            os.chmod(data, 0o700)
        subprocess.run(_as_pg_user([_pg_bin("initdb"), "-D", str(data), "-U", "paperflow", "--auth=trust",
                                    "-E", "UTF8", "--no-instructions"]), check=True, capture_output=True)
    proc = _spawn(_as_pg_user([_pg_bin("postgres"), "-D", str(data), "-p", str(port), "-k", str(data),
                               "-c", f"listen_addresses={host}", "-c", "max_connections=200"]),
                  state / "logs" / "postgres.log")
    url = f"postgresql://paperflow@{host}:{port}"
    _wait(lambda: _pg_query(url + "/postgres", "select 1") is not None, "PostgreSQL", 60, proc)
    for db in ("prefect", "mlflow"):
        if not _pg_query(url + "/postgres", f"select 1 from pg_database where datname = '{db}'"):
            _pg_query(url + "/postgres", f"create database {db}", autocommit=True)
    return proc, url


def _pg_query(url: str, sql: str, autocommit: bool = False):
    import psycopg2

    conn = psycopg2.connect(url, connect_timeout=3)
    try:
        conn.autocommit = autocommit
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def start_prefect_server(state: Path, port: int, pg_url: str, host: str = "127.0.0.1") -> subprocess.Popen:
    """`prefect server start` on PostgreSQL (asyncpg driver); its services (scheduler, triggers for the zombie
    automation) run inside it."""
    env = {**os.environ, "PREFECT_HOME": str(state / "prefect-server-home"),
           "PREFECT_SERVER_DATABASE_CONNECTION_URL": pg_url.replace("postgresql://", "postgresql+asyncpg://", 1)
           + "/prefect", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "true"}
    env.pop("PREFECT_API_URL", None)
    proc = _spawn(["prefect", "server", "start", "--host", host, "--port", str(port)], state / "logs" / "prefect.log",
                  env)
    _wait(lambda: _http_ok(f"http://{host}:{port}/api/health"), "Prefect server", 180, proc)
    return proc


def start_mlflow_server(state: Path, port: int, pg_url: str, host: str = "127.0.0.1") -> subprocess.Popen:
    """`mlflow server` with a PostgreSQL backend store and proxied artifacts (clients upload through the server
    and need no storage credentials); one uvicorn worker, no job execution."""
    art = state / "mlflow-artifacts"
    art.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    store = pg_url.replace("postgresql://", "postgresql+psycopg2://", 1) + "/mlflow"   # plain postgresql:// = psycopg 3
    proc = _spawn(["mlflow", "server", "--backend-store-uri", store, "--artifacts-destination",
                   art.resolve().as_uri(), "--serve-artifacts", "--host", host, "--port", str(port), "--workers", "1"],
                  state / "logs" / "mlflow.log", env)
    _wait(lambda: _http_ok(f"http://{host}:{port}/health"), "MLflow server", 180, proc)
    return proc


def stop(pid: int, timeout: float = 20) -> None:
    """SIGTERM to a service's process group, SIGKILL after the timeout; no-op when it is gone."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            break
        try:                                 # reap our own child, if it is one
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.2)
    else:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        end = time.time() + 10                   # the kernel needs a moment to take a killed group down
        while time.time() < end:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                break
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.2)


def env_for(host: str, ports: dict[str, int]) -> dict[str, str]:
    """What every client (coordinator, worker) exports to use the services."""
    return {"PREFECT_API_URL": f"http://{host}:{ports['prefect']}/api",
            "MLFLOW_TRACKING_URI": f"http://{host}:{ports['mlflow']}"}


def up(state: Path, host: str = "127.0.0.1", ports: dict[str, int] | None = None) -> dict[str, Any]:
    """Start PostgreSQL, the Prefect server and the MLflow server; PIDs and URLs go to state/pids.json."""
    ports = {**PORTS, **(ports or {})}
    info: dict[str, Any] = {"host": host, "ports": ports, "pids": {}}
    started: list[int] = []
    try:
        pg, url = start_postgres(state, ports["postgres"], host)
        started.append(pg.pid)
        info["pids"]["postgres"], info["postgres_url"] = pg.pid, url
        pf = start_prefect_server(state, ports["prefect"], url, host)
        started.append(pf.pid)
        info["pids"]["prefect"] = pf.pid
        ml = start_mlflow_server(state, ports["mlflow"], url, host)
        started.append(ml.pid)
        info["pids"]["mlflow"] = ml.pid
    except BaseException:
        for pid in reversed(started):
            stop(pid)
        raise
    info["env"] = env_for(host, ports)
    (state / "pids.json").write_text(json.dumps(info, indent=1))
    return info


def down(state: Path) -> list[str]:
    """Stop what `up` and `worker --detach` started (by the PIDs in state/pids.json), workers first."""
    f = state / "pids.json"
    if not f.exists():
        return []
    info = json.loads(f.read_text())
    order = sorted(info["pids"], key=lambda k: (k in ("postgres", "mlflow", "prefect"), k == "postgres"))
    for name in order:
        stop(int(info["pids"][name]))
    f.unlink()
    return order


# ---------------------------------------------------------------------------------------------------- pool setup
def deploy(root: Path, pool: str = POOL, zombie_s: int | None = None) -> None:
    """The process work pool, the deployments of prefect.yaml, and the documented zombie-flow automation (a flow run
    whose heartbeats stop, e.g. its machine died, becomes CRASHED; `cluster run` then re-submits it)."""
    check_prefect()
    env = {**os.environ, "PAPERFLOW_ROOT": str(root)}
    r = subprocess.run(["prefect", "work-pool", "inspect", pool], cwd=root, env=env, capture_output=True, text=True)
    if r.returncode:
        subprocess.run(["prefect", "work-pool", "create", pool, "--type", "process"], cwd=root, env=env, check=True,
                       capture_output=True)
    r = subprocess.run(["prefect", "--no-prompt", "deploy", "--name", DEPLOYMENT.split("/")[1], "--pool", pool],
                       cwd=root, env=env, capture_output=True, text=True)
    if r.returncode:
        raise UserError(f"prefect deploy failed: {(r.stderr or r.stdout).strip().splitlines()[-1][:300]}")
    ensure_zombie_automation(zombie_s or int(os.environ.get("PAPERFLOW_ZOMBIE_S", "90")))


def ensure_zombie_automation(within_s: int = 90) -> None:
    from datetime import timedelta

    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    try:
        Automation.read(name=ZOMBIE_AUTOMATION)
        return
    except ValueError:
        pass
    Automation(
        name=ZOMBIE_AUTOMATION,
        trigger=EventTrigger(after={"prefect.flow-run.heartbeat"}, expect={"prefect.flow-run.*"},
                             match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
                             for_each={"prefect.resource.id"}, posture=Posture.Proactive, threshold=1,
                             within=timedelta(seconds=within_s)),
        actions=[ChangeFlowRunState(state=StateType.CRASHED,
                                    message="no heartbeat: the worker or its machine is gone")],
    ).create()


def worker_env(root: Path, name: str, base: dict | None = None) -> dict[str, str]:
    """A worker's environment: its checkout (the deployment's pull step cds into PAPERFLOW_ROOT), heartbeats every
    30 s (the zombie automation's input), its own PREFECT_HOME."""
    env = dict(base if base is not None else os.environ)
    (root / ".paperflow").mkdir(exist_ok=True)
    env.update({"PAPERFLOW_ROOT": str(root), "PYTHONPATH": str(root), "PAPERFLOW_WORKER": name,
                "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": env.get("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "30"),
                "PREFECT_HOME": env.get("PAPERFLOW_WORKER_PREFECT_HOME", str(root / ".paperflow" / "prefect-home")),
                "DVC_NO_ANALYTICS": "1", "MLFLOW_DISABLE_TELEMETRY": "true"})
    return env


def worker_cmd(pool: str, name: str, limit: int = 1) -> list[str]:
    return ["prefect", "worker", "start", "--pool", pool, "--name", name, "--type", "process", "--limit", str(limit)]


# ---------------------------------------------------------------------------------------------------- checks
def check_prefect() -> str:
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    if not url:
        raise UserError("the pool needs a Prefect server: `paperflow cluster up` (or `prefect server start`) and "
                        "export PREFECT_API_URL=http://HOST:4200/api")
    try:
        _http_ok(url.rstrip("/") + "/health")
    except Exception:  # noqa: BLE001
        raise UserError(f"Prefect server {url} is unreachable; start it (`paperflow cluster up`) or fix "
                        "PREFECT_API_URL") from None
    return url


def check_remote(root: Path) -> str:
    r = subprocess.run(["dvc", "remote", "default"], cwd=root, capture_output=True, text=True)
    name = r.stdout.strip()
    if r.returncode or not name:
        raise UserError("no default DVC remote: workers share outputs through one; e.g. `dvc remote add -d --local "
                        "shared /mnt/nfs/paperflow-dvc` (or s3://..., ssh://...; see docs/cluster.md)")
    return name


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.exists() else "missing"


def checkout_state(root: Path) -> dict[str, str]:
    """What must match between the coordinator and a worker: the commit and the pipeline definition."""
    from .runner import git_commit

    from .dvcgen import PIPELINES

    dvc_files = [root / "dvc.yaml", *sorted((root / PIPELINES).glob("*/dvc.yaml"))]
    digest = hashlib.sha256("".join(f"{f.relative_to(root)}:{_sha(f)}\n" for f in dvc_files).encode()).hexdigest()
    return {"commit": git_commit(root), "params_sha": _sha(root / "params.yaml"), "dvc_sha": digest[:16]}


def check_clean(root: Path) -> None:
    """Workers run the committed code: params.yaml, dvc.yaml and tasks/ must be committed."""
    r = subprocess.run(["git", "status", "--porcelain", "--", "params.yaml", "dvc.yaml", "pipelines/*/dvc.yaml",
                        "tasks", "flows"],
                       cwd=root, capture_output=True, text=True)
    dirty = [x[3:] for x in r.stdout.splitlines() if x.strip()]
    if dirty:
        raise UserError(f"uncommitted changes in {', '.join(dirty[:5])}: workers run the committed code; commit "
                        "(and push to the workers' git remote) first")


def check_worker(root: Path, want: dict[str, str]) -> None:
    have = checkout_state(root)
    bad = {k: (have[k], v) for k, v in want.items() if have.get(k) != v}
    if bad:
        raise RuntimeError(f"worker checkout {root} does not match the run ({bad}): `git fetch && git checkout "
                           f"{want.get('commit')}` there, without local edits of params.yaml/dvc.yaml")


# ---------------------------------------------------------------------------------------------------- DVC remote
_PUSH_LOCK = ".paperflow/dvc-push.lock"


def push_stage(root: Path, name: str) -> int:
    """Push one stage's result: its run-cache entries and every object they name, including the `cache: false`
    metrics/plots (`dvc push --run-cache` sends the entries but not those objects, so another machine would find
    the entry unusable and run the stage again). Serialised per checkout by a file lock. Returns objects pushed."""
    from dvc.repo import Repo
    from dvc.stage.cache import _can_hash, _get_stage_hash

    lock = root / _PUSH_LOCK
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        with Repo(str(root)) as repo:
            stages = [s for s in repo.index.stages if s.name == name]     # names are unique across the dvc.yaml files
            if not stages:
                raise UserError(f"{name}: no such DVC stage")
            stage = stages[0]
            repo.stage_cache.push(None)
            entries = []
            if _can_hash(stage):
                key = _get_stage_hash(stage)
                kdir = Path(repo.stage_cache._get_cache_dir(key))
                entries = [(key, v.name) for v in kdir.iterdir()] if kdir.is_dir() else []
            used = repo.stage_cache.get_used_objs(entries)
            objs = set().union(*used.values()) if used else set()
            objs |= set().union(*stage.get_used_objs().values()) if stage.get_used_objs() else set()
            if not objs:
                return 0
            res = repo.cloud.push(objs)
            if res.failed:
                raise RuntimeError(f"{name}: {len(res.failed)} object(s) failed to reach the DVC remote")
            return len(res.transferred)


def pull(root: Path, papers: list[str]) -> None:
    """Bring this checkout up to date from the remote: each paper's stages restored from the run-cache (`dvc repro
    --pull`); report stages, whose report.md is a plain git file and so not run-cached, re-run from the pulled
    metrics (seconds)."""
    check_remote(root)
    from .dvcgen import dvc_file

    files = [dvc_file(root, p).relative_to(root).as_posix() for p in papers]
    cmd = ["dvc", "--wait-for-lock", "repro", "--pull", *files]
    r = subprocess.run(cmd, cwd=root)
    if r.returncode:
        raise UserError(f"`{' '.join(cmd)}` failed (exit {r.returncode})")


# ---------------------------------------------------------------------------------------------------- coordinator
def _client():
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


def _submit(paper: str, params: dict, targets: list[str] | None, label: str):
    from prefect.deployments import run_deployment

    return run_deployment(DEPLOYMENT, parameters={**params, "paper": paper, "targets": targets}, timeout=0,
                          as_subflow=False, flow_run_name=f"{paper}-{label}-{params['pipeline_id'][5:]}")


def plan(paper: str, spread: int = 0, min_items: int = 4) -> list[list[list[str] | None]]:
    """The flow runs of one paper, in waves (a wave starts when the one before it completed). Default: one flow run
    for the whole paper. With `spread` >= 2, the paper's largest foreach stage (at least `min_items` items: seeds,
    arms) is split into `spread` flow runs, after one for what it needs and before one for the rest; each flow run
    restores what earlier ones pushed (`targets` None = every stage of the paper)."""
    from .registry import get_paper

    p = get_paper(paper)
    big = max(p.stages, key=lambda s: len(s.items or ()))
    names = p.dvc_names(big)
    if spread < 2 or len(big.items or ()) < min_items:
        return [[None]]
    ups = [n for up in big.after for n in p.dvc_names(p.stage(up))]
    k = min(spread, len(names))
    chunks = [names[i::k] for i in range(k)]
    return ([[ups]] if ups else []) + [chunks, [None]]


def closure(p, targets: list[str]) -> set[str]:
    """The DVC stage names in `targets`, every stage they depend on, and the paper's params check."""
    from .dvcgen import check_name

    by_name = {n: s for s in p.stages for n in p.dvc_names(s)}
    unknown = [t for t in targets if t not in by_name]
    if unknown:
        raise ValueError(f"{p.slug}: unknown DVC stage(s) {unknown}")
    keep, todo = set(), list(targets)
    while todo:
        n = todo.pop()
        if n in keep:
            continue
        keep.add(n)
        todo += [m for up in by_name[n].after for m in p.dvc_names(p.stage(up))]
    return keep | {check_name(p.slug)}


def run_on_pool(root: Path, papers: list[str], pool: str = POOL, force: bool = False, retries: int = 1,
                spread: int = 0, timeout: float = 3600, poll: float = 2.0) -> dict[str, Any]:
    """Each paper's flow runs (`plan`) on the pool, all under one pipeline id (one MLflow parent run per paper). A
    flow run that CRASHES (worker or machine gone: the zombie automation) is re-submitted up to `retries` times and
    the new one resumes from what reached the DVC remote; a FAILED one (a stage raised) fails its paper."""
    from . import tracking

    check_prefect()
    check_remote(root)
    check_clean(root)
    tracking.ensure_store(root, papers)
    if not tracking.tracking_uri(root).startswith("http"):
        raise UserError("workers on several machines need one MLflow tracking server: export "
                        "MLFLOW_TRACKING_URI=http://HOST:5000 (`paperflow cluster up` starts one)")
    with _client() as c:
        try:
            c.read_deployment_by_name(DEPLOYMENT)
        except Exception:  # noqa: BLE001
            raise UserError(f"no deployment {DEPLOYMENT}: run `paperflow cluster deploy --pool {pool}`") from None
    pid = f"flow-{uuid.uuid4().hex[:12]}"
    state = checkout_state(root)
    params = {"pipeline_id": pid, "want": state, "force": force}
    parents = {p: tracking.find_or_create_parent(root, p, pid, {"via": "cluster", "git.commit": state["commit"],
                                                                **tracking.execution_tags(root, p)}) for p in papers}
    t0 = time.time()
    runs: dict[str, dict[str, Any]] = {p: {"waves": plan(p, spread), "wave": -1, "units": [], "state": "PENDING",
                                           "killed_runs": [], "flow_runs": []} for p in papers}

    def start_wave(p: str) -> None:
        r = runs[p]
        r["wave"] += 1
        r["units"] = []
        for i, targets in enumerate(r["waves"][r["wave"]]):
            label = f"w{r['wave']}u{i}"
            r["units"].append({"targets": targets, "label": label, "attempts": [_submit(p, params, targets,
                                                                                     label + "a1").id], "done": False})

    for p in papers:
        start_wave(p)
    log.info("pipeline %s: %s submitted to pool %s", pid, ", ".join(papers), pool)
    pending = set(papers)
    with _client() as c:
        while pending and time.time() - t0 < timeout:
            time.sleep(poll)
            for p in sorted(pending):
                r = runs[p]
                for u in r["units"]:
                    if u["done"]:
                        continue
                    fr = c.read_flow_run(u["attempts"][-1])
                    st = fr.state.type.value if fr.state else "PENDING"
                    if st == "COMPLETED":
                        u["done"] = True
                    elif st == "CRASHED" and len(u["attempts"]) <= retries:
                        killed = kill_stage_runs(root, p, str(fr.id))
                        r["killed_runs"] += killed
                        log.warning("%s: flow run %s CRASHED (%s); %d stage run(s) marked KILLED; re-submitting", p,
                                    fr.name, fr.state.message, len(killed))
                        u["attempts"].append(_submit(p, params, u["targets"],
                                                     f"{u['label']}a{len(u['attempts']) + 1}").id)
                    elif st in ("FAILED", "CRASHED", "CANCELLED"):
                        r["killed_runs"] += kill_stage_runs(root, p, str(fr.id))
                        log.error("%s: flow run %s %s: %s", p, fr.name, st, (fr.state.message or "")[:300])
                        r["state"] = st
                if r["state"] in ("FAILED", "CRASHED", "CANCELLED"):
                    pending.discard(p)            # its other flow runs finish on their own; nothing new starts
                elif all(u["done"] for u in r["units"]):
                    r["flow_runs"] += [str(a) for u in r["units"] for a in u["attempts"]]
                    if r["wave"] + 1 < len(r["waves"]):
                        start_wave(p)
                    else:
                        r["state"] = "COMPLETED"
                        pending.discard(p)
    for p in pending:
        runs[p]["state"] = "TIMEOUT"
    for p in papers:
        r = runs[p]
        r["flow_runs"] += [str(a) for u in r["units"] if not u["done"] for a in u["attempts"]]
        r["parent"] = parents[p]
        r["parent_status"] = tracking.finish_parent(root, p, parents[p], ok=r["state"] == "COMPLETED",
                                                    tolerate=set(r["killed_runs"]))
        del r["units"]
    wall = round(time.time() - t0, 1)
    from . import runlog

    runlog.record(root, pid, event="end", via="cluster", target=",".join(papers), wall_s=wall,
                  status="FINISHED" if all(r["state"] == "COMPLETED" for r in runs.values()) else "FAILED")
    for p, r in runs.items():
        print(f"{p:<10} {r['state']:<10} flow runs {len(r['flow_runs'])}  parent run {r['parent']} "
              f"({r['parent_status']})")
    print(f"pipeline {pid}: {wall:.1f} s wall")
    res = {"pipeline_id": pid, "wall_s": wall, "papers": runs}
    if os.environ.get("PAPERFLOW_CLUSTER_RESULT"):       # for scripts and the cluster test
        Path(os.environ["PAPERFLOW_CLUSTER_RESULT"]).write_text(json.dumps(res, indent=1))
    return res


def kill_stage_runs(root: Path, paper: str, flow_run_id: str) -> list[str]:
    """The stage runs a crashed flow run left RUNNING (on any machine) become KILLED."""
    from . import tracking

    mlflow = tracking._mlflow(root)
    client = mlflow.MlflowClient()
    exp = mlflow.get_experiment_by_name(paper)
    if exp is None:
        return []
    runs = client.search_runs([exp.experiment_id], filter_string=f"attributes.status = 'RUNNING' and "
                                                                 f"tags.`prefect.flow_run_id` = '{flow_run_id}'")
    for r in runs:
        client.set_terminated(r.info.run_id, "KILLED")
    return [r.info.run_id for r in runs]


def main(argv: list[str] | None = None) -> int:
    """`python -m tasks.common.cluster push STAGE` (what a worker's task runs after each stage)."""
    args = argv if argv is not None else sys.argv[1:]
    if len(args) == 2 and args[0] == "push":
        from .layout import repo_root

        n = push_stage(repo_root(), args[1])
        print(f"{args[1]}: {n} object(s) pushed")
        return 0
    print("usage: python -m tasks.common.cluster push STAGE", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
