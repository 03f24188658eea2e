"""The suite on several machines, for real, on 127.0.0.1: PostgreSQL, the Prefect server and the MLflow server (both
on PostgreSQL, MLflow with proxied artifacts), a DVC remote in a folder, two Prefect workers in two separate clones.
Two papers at the smoke profile go through the pool (`paperflow cluster run`); then one worker is SIGKILLed in the
middle of a stage of a fresh execution and the flow run is retried on the other.

Minutes, not seconds (servers, two clones, ~20 stages on 2 cores), so not in the default run: it runs only when
selected, `python -m pytest -m cluster -n 0 tests/test_cluster.py` (docs/cluster.md). Needs PostgreSQL's server
binaries (`apt-get install postgresql`) and psycopg2 (`pip install -e '.[cluster]'`); skipped without them.
PAPERFLOW_CLUSTER_WORKERS=1 measures the same two papers on one worker (the kill phase needs two).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PAPERS = ("mdm", "grsnn")          # the two cheapest smoke pipelines with a foreach stage (grsnn: 9 items)
POOL = "paperflow"



@pytest.fixture
def _only_when_selected(request):
    if "cluster" not in (request.config.option.markexpr or ""):
        pytest.skip("cluster test: select it with `-m cluster` (minutes; docs/cluster.md)")


# ------------------------------------------------------------------------------------------------- fast unit tests
def test_plan_spreads_only_a_large_foreach_stage():
    from tasks.common.cluster import plan
    from tasks.common.registry import get_paper

    assert plan("grsnn") == [[None]] and plan("mdm", spread=2) == [[None]]      # mdm: 2 items, below min_items
    waves = plan("grsnn", spread=2)
    p = get_paper("grsnn")
    items = p.dvc_names(p.stage("train"))
    assert waves[0] == [["grsnn_prepare"]] and waves[-1] == [None] and len(waves[1]) == 2
    assert sorted(n for chunk in waves[1] for n in chunk) == sorted(items)      # every item once
    assert len(plan("grsnn", spread=50)[1]) == len(items)                        # never more runs than items


def test_flow_targets_take_their_upstream_stages():
    from tasks.common.cluster import closure as _closure
    from tasks.common.registry import get_paper

    p = get_paper("grsnn")
    assert _closure(p, ["grsnn_train@grsnn-s0"]) == {"grsnn_check", "grsnn_prepare", "grsnn_train@grsnn-s0"}
    assert set(p.dvc_names(p.stage("train"))) <= _closure(p, ["grsnn_evaluate"])
    with pytest.raises(ValueError, match="unknown DVC stage"):
        _closure(p, ["grsnn_nope"])


def test_worker_checkout_must_match_the_run(tmp_path):
    from tasks.common.cluster import check_worker, checkout_state

    (tmp_path / "params.yaml").write_text("a: 1\n")
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    want = checkout_state(tmp_path)
    check_worker(tmp_path, want)
    (tmp_path / "params.yaml").write_text("a: 2\n")
    with pytest.raises(RuntimeError, match="does not match the run"):
        check_worker(tmp_path, want)


def test_pool_commands_fail_in_one_line_without_services(tmp_path, monkeypatch, mlflow_uri, capsys):
    """No Prefect server, or no DVC remote: one line naming the fix, exit 2, before anything is submitted."""
    from tasks.common import cli

    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    monkeypatch.chdir(ROOT)
    assert cli.main(["cluster", "worker"]) == 2
    assert cli.main(["run", "mdm", "--pool", "paperflow"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    # (the URL is read when prefect is imported: after a test harness in this process the server is reachable and
    # the next check, the DVC remote this checkout lacks, gives the line)
    assert len(err) == 2 and all(e.startswith("paperflow: error:") and any(w in e for w in ("Prefect server", "DVC remote", "cluster deploy"))
                                 for e in err), err


def test_parent_tolerates_a_killed_stage_only_when_a_retry_finished_it(mlflow_uri):
    import mlflow

    from tasks.common import tracking

    root = ROOT
    parent = tracking.find_or_create_parent(root, "mdm", "flow-test", {})
    client = mlflow.MlflowClient()
    exp = client.get_run(parent).info.experiment_id

    def child(stage: str, status: str) -> str:
        r = client.create_run(exp, tags={"mlflow.parentRunId": parent, "dvc.stage": stage})
        client.set_terminated(r.info.run_id, status)
        return r.info.run_id

    killed = child("mdm_prepare", "KILLED")
    child("mdm_sweep", "FINISHED")
    assert tracking.finish_parent(root, "mdm", parent, ok=True, tolerate={killed}) == "FAILED"   # not redone
    parent2 = tracking.find_or_create_parent(root, "mdm", "flow-test2", {})
    parent, killed = parent2, None
    killed = child("mdm_prepare", "KILLED")
    child("mdm_prepare", "FINISHED")
    assert tracking.finish_parent(root, "mdm", parent2, ok=True) == "FAILED"                     # not tolerated
    parent3 = tracking.find_or_create_parent(root, "mdm", "flow-test3", {})
    parent = parent3
    killed = child("mdm_prepare", "KILLED")
    child("mdm_prepare", "FINISHED")
    assert tracking.finish_parent(root, "mdm", parent3, ok=True, tolerate={killed}) == "FINISHED"


# ------------------------------------------------------------------------------------------------- helpers
def sh(cmd: list[str], cwd: Path, env: dict, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode:
        raise AssertionError(f"{' '.join(cmd)} (in {cwd}) failed {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def descendants(pid: int) -> list[int]:
    """pid and every process below it (from /proc), deepest last."""
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def kill_tree(pid: int, sig: int = signal.SIGKILL) -> list[int]:
    procs = descendants(pid)
    for p in procs:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass
    return procs


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:                                  # a zombie child of ours counts as gone once reaped
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


def lock_outs(checkout: Path, committed: bool = False) -> dict[str, dict[str, str]]:
    """{stage: {out path: md5}} of a checkout's dvc.lock files (root and pipelines/*/; or of the committed ones)."""
    if committed:
        files = subprocess.run(["git", "ls-files", "dvc.lock", "pipelines/*/dvc.lock"], cwd=checkout,
                               capture_output=True, text=True).stdout.split()
        texts = [subprocess.run(["git", "show", f"HEAD:{f}"], cwd=checkout, capture_output=True, text=True).stdout
                 for f in files]
    else:
        texts = [f.read_text() for f in [checkout / "dvc.lock", *sorted(checkout.glob("pipelines/*/dvc.lock"))]
                 if f.exists()]
    docs = [yaml.safe_load(t) or {} for t in texts]
    return {name: {o["path"]: o["md5"] for o in st.get("outs", [])} for doc in docs
            for name, st in (doc.get("stages") or {}).items()}


def produced(checkout: Path, prefix: str) -> dict[str, dict[str, str]]:
    """The lock entries this checkout wrote (ran or restored) for a paper's stages, not the committed ones."""
    old = lock_outs(checkout, committed=True)
    return {k: v for k, v in lock_outs(checkout).items() if k.startswith(prefix) and old.get(k) != v}


def in_remote(remote: Path, md5: str) -> bool:
    """An object (and, for a folder, every file it lists) is in the DVC remote."""
    f = remote / "files" / "md5" / md5[:2] / md5[2:]
    if not f.exists():
        return False
    if md5.endswith(".dir"):
        return all(in_remote(remote, e["md5"]) for e in json.loads(f.read_text()))
    return True


def stage_runs(client, exp_id: str, parent: str) -> list:
    return client.search_runs([exp_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent}'", max_results=1000)


class Cluster:
    """Everything the test starts, by PID, so that `close` stops all of it."""

    def __init__(self, base: Path):
        self.base, self.procs, self.services = base, {}, None

    def start_worker(self, checkout: Path, name: str, env: dict, workers: int) -> subprocess.Popen:
        """A worker on its clone. The workers share this host's cores: each runs cores/workers stages side by side
        (on separate machines each would use its own), so a SIGKILL finds at most one stage in flight."""
        from tasks.common import cluster

        jobs = str(max(1, (os.cpu_count() or 2) // workers))
        wenv = cluster.worker_env(checkout, name, {**env, "PREFECT_WORKER_QUERY_SECONDS": "2",
                                                   "PREFECT_WORKER_PREFETCH_SECONDS": "2", "PAPERFLOW_JOBS": jobs})
        log = open(self.base / f"{name}.log", "ab")
        p = subprocess.Popen(cluster.worker_cmd(POOL, name), cwd=checkout, env=wenv, stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.procs[name] = p
        return p

    def close(self) -> list[int]:
        from tasks.common import cluster

        left = []
        for name, p in self.procs.items():
            tree = descendants(p.pid)
            kill_tree(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
            kill_tree(p.pid)
            for q in tree:
                kill_tree(q) if alive(q) else None
            left += [q for q in tree if alive(q)]
        if self.services is not None:
            pids = list(self.services["pids"].values())
            cluster.down(self.base / "state")
            left += [q for q in pids if alive(q)]
        end = time.time() + 15                   # a SIGKILLed process takes a moment to go on a loaded machine
        while left and time.time() < end:
            time.sleep(0.5)
            left = [q for q in left if alive(q)]
        return left


def prepare_checkouts(base: Path, env: dict, remote: Path, workers: int) -> tuple[Path, list[Path]]:
    """origin: a clone of this repository's HEAD with both papers at the smoke profile (committed), data/ exported
    and pushed to the remote; wN: clones of origin (their own DVC caches) pulling data/ from the remote."""
    origin = base / "origin"
    sh(["git", "clone", "-q", str(ROOT), str(origin)], base, env)
    oenv = {**env, "PYTHONPATH": str(origin)}
    sh([sys.executable, "-c", "from pathlib import Path; from tasks.common.params import set_values; set_values("
        f"Path('params.yaml'), [([p, 'profile'], 'smoke') for p in {list(PAPERS)!r}])"], origin, oenv)
    sh(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "smoke profiles"], origin, oenv)
    sh(["paperflow", "data"], origin, oenv)
    sh(["dvc", "remote", "add", "-d", "--local", "shared", str(remote)], origin, oenv)
    sh(["dvc", "push", "-q", "data.dvc"], origin, oenv)
    clones = []
    for i in range(1, workers + 1):
        w = base / f"w{i}"
        sh(["git", "clone", "-q", str(origin), str(w)], base, env)
        sh(["dvc", "remote", "add", "-d", "--local", "shared", str(remote)], w, env)
        sh(["dvc", "pull", "-q", "data.dvc"], w, env)
        clones.append(w)
    return origin, clones


def run_coordinator(origin: Path, env: dict, base: Path, args: list[str], tag: str, wait: bool = True):
    result = base / f"result-{tag}.json"
    cenv = {**env, "PYTHONPATH": str(origin), "PAPERFLOW_CLUSTER_RESULT": str(result)}
    log = open(base / f"coordinator-{tag}.log", "wb")
    p = subprocess.Popen(["paperflow", "cluster", "run", *args], cwd=origin, env=cenv, stdout=log,
                         stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    if not wait:
        return p, result
    rc = p.wait(timeout=3600)
    assert rc == 0, (base / f"coordinator-{tag}.log").read_text()[-4000:]
    return json.loads(result.read_text())


# ------------------------------------------------------------------------------------------------- the checks
def check_execution(res: dict, clones: list[Path], remote: Path, workers: int) -> dict:
    """Both workers worked, no stage ran twice, every output reached the remote, MLflow runs and lineage complete."""
    import mlflow

    from tasks.common.registry import get_paper

    client = mlflow.MlflowClient()
    seen_workers, facts = set(), {}
    for slug in PAPERS:
        paper, r = get_paper(slug), res["papers"][slug]
        assert r["state"] == "COMPLETED" and r["parent_status"] == "FINISHED", r
        exp = client.get_experiment_by_name(slug).experiment_id
        runs = [x for x in stage_runs(client, exp, r["parent"]) if x.info.status == "FINISHED"]
        by_stage: dict[str, list] = {}
        for x in runs:
            by_stage.setdefault(x.data.tags["dvc.stage"], []).append(x)
        expected = {n for s in paper.stages for n in paper.dvc_names(s)}
        assert set(by_stage) == expected, f"{slug}: stage runs {sorted(by_stage)} != stages {sorted(expected)}"
        twice = {k: len(v) for k, v in by_stage.items() if len(v) != 1}
        assert not twice, f"{slug}: stages that ran more than once: {twice}"
        ids = {x.info.run_id for x in runs}
        for s in paper.stages:                               # lineage: every upstream output's producing run
            for n in paper.dvc_names(s):
                run = by_stage[n][0]
                for up in s.after:
                    for it in paper.stage(up).items or (None,):
                        key = f"{up}-{it}" if it else up
                        tag = run.data.tags.get(f"upstream.{key}")
                        assert tag in ids, f"{slug}: {n} has upstream.{key}={tag}, not a run of this execution"
        rep = by_stage[paper.dvc_names(paper.stages[-1])[0]][0]
        arts = [a.path for a in client.list_artifacts(rep.info.run_id)]
        assert any(a.endswith("report.md") or a == "report.md" for a in arts), arts     # proxied artifact upload
        seen_workers |= {x.data.tags.get("paperflow.worker") for x in runs}
        facts[slug] = {"stage_runs": len(runs), "workers": sorted({x.data.tags.get("paperflow.worker") for x in runs}),
                       "flow_runs": len(r["flow_runs"])}
    names = {c.name for c in clones}
    assert seen_workers <= names, seen_workers
    if workers > 1:
        assert seen_workers == names, f"stage runs only on {seen_workers}, workers {names}"
    for c in clones:                                         # every cached output any worker made is in the remote
        for slug in PAPERS:
            for stage, outs in produced(c, f"{slug}_").items():
                for path, md5 in outs.items():
                    if not path.startswith("reports/"):
                        assert in_remote(remote, md5), f"{c.name}: {stage} {path} ({md5}) not in the DVC remote"
    assert any((remote / "runs").rglob("*")), "no run-cache entries in the remote"
    return facts


# ------------------------------------------------------------------------------------------------- the test
@pytest.mark.slow
@pytest.mark.cluster
@pytest.mark.timeout(5400)
@pytest.mark.usefixtures("_only_when_selected")
def test_two_papers_on_two_workers_through_the_pool(monkeypatch):
    pytest.importorskip("psycopg2", reason="pip install -e '.[cluster]'")
    from tasks.common import cluster

    try:
        cluster._pg_bin("postgres")
        cluster._pg_bin("initdb")
    except Exception:  # noqa: BLE001
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    workers = int(os.environ.get("PAPERFLOW_CLUSTER_WORKERS", "2"))
    base = Path(tempfile.mkdtemp(prefix="paperflow-cluster-"))
    os.chmod(base, 0o755)                   # PostgreSQL runs as its own user when we are root
    remote = base / "remote"
    c = Cluster(base)
    timings: dict[str, float] = {}
    try:
        t0 = time.time()
        ports = {k: cluster.free_port() for k in ("postgres", "prefect", "mlflow")}
        c.services = cluster.up(base / "state", ports=ports)
        timings["services_up_s"] = time.time() - t0
        env = {**os.environ, **c.services["env"], "PREFECT_HOME": str(base / "coordinator-prefect-home"),
               "DVC_NO_ANALYTICS": "1", "MLFLOW_DISABLE_TELEMETRY": "true", "PAPERFLOW_ZOMBIE_S": "75",
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "INFO"}
        for k in ("PAPERFLOW_ROOT", "PAPERFLOW_PIPELINE_ID", "PAPERFLOW_STORE_READY", "DVC_ROOT"):
            env.pop(k, None)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", env["MLFLOW_TRACKING_URI"])   # the checks read the server
        origin, clones = prepare_checkouts(base, env, remote, workers)
        # a run before any worker exists fails clearly, not silently: no deployment yet
        bad = sh(["paperflow", "cluster", "run", *PAPERS], origin, {**env, "PYTHONPATH": str(origin)}, check=False)
        assert bad.returncode == 2 and "paperflow cluster deploy" in bad.stderr, bad.stderr
        sh(["paperflow", "cluster", "deploy", "--pool", POOL], origin, {**env, "PYTHONPATH": str(origin)})
        for w in clones:
            c.start_worker(w, w.name, env, workers)

        t1 = time.time()
        res = run_coordinator(origin, env, base, [*PAPERS, "--pool", POOL, "--spread", str(workers)], "run1")
        timings[f"two_papers_{workers}_workers_s"] = time.time() - t1
        facts = check_execution(res, clones, remote, workers)

        if workers == 1:                     # the baseline only measures
            print(json.dumps({**timings, "facts": facts}, indent=1))
            return
        # a third checkout that pulls: every stage restored from the remote, none re-run but the reports (report.md
        # is a plain git file, so DVC does not run-cache a report stage), and `dvc status` clean
        oenv = {**env, "PYTHONPATH": str(origin)}
        out = sh(["paperflow", "cluster", "pull", *PAPERS], origin, oenv)
        ran = [x.split("'")[1] for x in (out.stdout + out.stderr).splitlines() if x.startswith("Running stage")]
        assert all(x.endswith("_report") for x in ran), f"pull re-ran {ran}"
        st = sh(["dvc", "status", *[f"pipelines/{p}/dvc.yaml:{p}_report" for p in PAPERS], "--with-deps"], origin, oenv)
        assert "up to date" in st.stdout, st.stdout
        w_timing = json.loads((clones[0] / "reports" / "grsnn" / "timing" / "prepare.json").read_text()) \
            if (clones[0] / "reports" / "grsnn" / "timing" / "prepare.json").exists() else None
        o_timing = json.loads((origin / "reports" / "grsnn" / "timing" / "prepare.json").read_text())
        if w_timing:
            assert o_timing["run_id"] == w_timing["run_id"], "restored output does not carry the producing run"

        if workers > 1:
            timings.update(kill_phase(c, origin, clones, env, base, remote))
        (base / "timings.json").write_text(json.dumps({**timings, "facts": facts}, indent=1))
        print(json.dumps({**timings, "facts": facts}, indent=1))
    finally:
        left = c.close()
        assert not left, f"processes still alive after stop: {left}"
        if os.environ.get("PAPERFLOW_CLUSTER_KEEP"):
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


def kill_phase(c: Cluster, origin: Path, clones: list[Path], env: dict, base: Path, remote: Path) -> dict:
    """A fresh execution (grsnn.seed 1, committed and pulled by the workers, like a team's update); SIGKILL of the
    worker running it, mid-stage: the flow run becomes CRASHED, the coordinator marks its stage runs KILLED and
    re-submits it; the other worker restores what was pushed and finishes. The dead checkout keeps no output that
    looks complete."""
    import mlflow

    from tasks.common import layout
    from tasks.common.registry import get_paper

    oenv = {**env, "PYTHONPATH": str(origin)}
    sh([sys.executable, "-c", "from pathlib import Path; from tasks.common.params import set_values; "
        "set_values(Path('params.yaml'), [(['grsnn', 'seed'], 1)])"], origin, oenv)
    sh(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "grsnn seed 1", "params.yaml"], origin,
       oenv)                                 # only params.yaml: the workers' own dvc.lock/reports edits stay theirs
    for w in clones:
        sh(["git", "pull", "-q", "--ff-only"], w, env)
    t0 = time.time()
    proc, result = run_coordinator(origin, env, base, ["grsnn", "--pool", POOL], "kill", wait=False)
    client = mlflow.MlflowClient()
    exp = client.get_experiment_by_name("grsnn").experiment_id
    victim, run = None, None
    while victim is None and time.time() - t0 < 1800:     # a train stage body in progress on some worker
        running = client.search_runs([exp], filter_string="attributes.status = 'RUNNING' and tags.stage = 'train' "
                                                          "and tags.`paperflow.role` = 'stage'", max_results=5)
        if running:
            run = running[0]
            victim = next(w for w in clones if w.name == run.data.tags["paperflow.worker"])
            break
        assert proc.poll() is None, (base / "coordinator-kill.log").read_text()[-3000:]
        time.sleep(0.5)
    assert victim is not None, "no train stage started"
    killed = kill_tree(c.procs[victim.name].pid)          # the machine dies: worker, flow run, dvc, stage
    t_kill = time.time()
    item = run.data.tags["item"]
    staging = sorted((victim / "outputs" / "grsnn").glob(f".tmp-train-{item}-*"))
    assert staging, "the killed stage left no staging folder (it was not mid-body)"
    rc = proc.wait(timeout=1800)
    log = (base / "coordinator-kill.log").read_text()
    assert rc == 0, log[-4000:]
    res = json.loads(result.read_text())
    r = res["papers"]["grsnn"]
    assert "CRASHED" in log and len(r["flow_runs"]) == 2, log[-3000:]
    assert r["state"] == "COMPLETED" and r["parent_status"] == "FINISHED", r
    out = layout.out_dir(victim, "grsnn", "train", item)
    assert not layout.complete(out), f"{out} looks complete after the kill"
    runs = stage_runs(client, exp, r["parent"])
    mine = [x for x in runs if x.data.tags.get("dvc.stage") == f"grsnn_train@{item}"]
    assert sorted(x.info.status for x in mine) == ["FINISHED", "KILLED"], [(x.info.status, x.data.tags) for x in mine]
    finished: dict[str, int] = {}
    for x in runs:
        if x.info.status == "FINISHED":
            finished[x.data.tags["dvc.stage"]] = finished.get(x.data.tags["dvc.stage"], 0) + 1
    p = get_paper("grsnn")
    assert finished == {n: 1 for s in p.stages for n in p.dvc_names(s)}, finished
    survivor = next(w for w in clones if w != victim)
    name = f"grsnn_train@{item}"
    assert lock_outs(victim).get(name) != lock_outs(survivor)[name], "the dead checkout's dvc.lock has the result"
    st = sh(["dvc", "status", "pipelines/grsnn/dvc.yaml:grsnn_report", "--with-deps"], survivor, env)
    assert "up to date" in st.stdout, st.stdout
    for stage, outs in produced(survivor, "grsnn_").items():
        for path, md5 in outs.items():
            if not path.startswith("reports/"):
                assert in_remote(remote, md5), f"{stage} {path} not in the remote"
    return {"kill_phase_s": time.time() - t0, "crash_detected_and_finished_after_kill_s": time.time() - t_kill,
            "killed_processes": len(killed), "killed_stage": f"grsnn_train@{item}"}
