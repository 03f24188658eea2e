"""`paperflow`: list papers, run one stage (what dvc.yaml calls), run pipelines via DVC or Prefect, write the index,
schedule flows, open the UIs. User errors print one line and exit 2. Heavy imports stay inside the commands.
"""
from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from .errors import UserError
from .registry import PROFILES, slug_names

ENV_DEFAULTS = {"DVC_NO_ANALYTICS": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "MLFLOW_DISABLE_TELEMETRY": "true", "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120"}


def _root() -> Path:
    from .layout import repo_root

    return repo_root()


def cmd_list(a: argparse.Namespace) -> None:
    from .registry import all_papers

    for p in all_papers():
        print(f"{p.slug}: {p.title} (arXiv {p.arxiv})")
        for s in p.stages:
            names = ", ".join(p.dvc_names(s))
            print(f"  stage {s.name:<12} after [{', '.join(s.after)}] -> dvc: {names}")
        for c in p.claims:
            print(f"  claim {c.id}: {c.statement}")


def cmd_stage(a: argparse.Namespace) -> None:
    from .runner import run_stage

    metrics = run_stage(a.paper, a.stage, a.item, track=not a.no_track)
    logging.getLogger("paperflow").info("metrics: %s", ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                                                  for k, v in list(metrics.items())[:12]))


def validate_all(root: Path, papers, profile: str | None = None) -> None:
    """Every paper's params as they will be (with `profile` applied in memory): nothing is written before this."""
    from .params import check_paper, read_yaml

    params = read_yaml(root / "params.yaml")
    for p in papers:
        if profile is not None and isinstance(params.get(p.slug), dict):
            params[p.slug] = {**params[p.slug], "profile": profile}
        check_paper(params, p)


def cmd_check(a: argparse.Namespace) -> None:
    """The `<paper>_check` DVC stage: validate the paper's params before DVC touches any other stage's outputs."""
    from .layout import out_dir
    from .io import save_json_atomic
    from .registry import get_paper

    root, paper = _root(), get_paper(a.paper)
    validate_all(root, [paper])
    save_json_atomic(out_dir(root, paper.slug, "check") / "params.json", {"valid": True})


def cmd_run(a: argparse.Namespace) -> None:
    from . import tracking
    from .params import set_values
    from .registry import resolve

    root, papers = _root(), resolve(a.target)
    if getattr(a, "pool", None):                                 # the pool's services first: one line if missing
        from .cluster import check_prefect, check_remote

        if a.profile:
            raise UserError("--profile edits params.yaml, but workers run the committed code: set the profile, "
                            "commit, then `paperflow run ... --pool` without --profile")

        check_prefect()
        check_remote(root)
    validate_all(root, papers, a.profile)                       # 1. the input, as it will be
    tracking.ensure_store(root, [p.slug for p in papers])       # 2. the store (server reachable, migrated once)
    tracking.reap_dead_runs(root, [p.slug for p in papers])
    tracking.mark_ready(root)                                   # 3. so no stage process redoes 2.
    if a.profile and set_values(root / "params.yaml", [([p.slug, "profile"], a.profile) for p in papers]):
        logging.info("params.yaml: profile set to %s for %s (a tracked change: `git diff params.yaml`)",
                     a.profile, ", ".join(p.slug for p in papers))
    started = time.time()
    if getattr(a, "pool", None):   # several machines: one flow run per paper on the work pool (docs/cluster.md)
        from .cluster import run_on_pool

        res = run_on_pool(root, [p.slug for p in papers], pool=a.pool, force=a.force)
        if any(r["state"] != "COMPLETED" for r in res["papers"].values()):
            raise SystemExit(1)
        return
    from .warm import serving

    with serving(root):            # the stage commands DVC starts run in forks of one warm interpreter
        _execute(a, root, papers, started)


def _execute(a: argparse.Namespace, root: Path, papers, started: float) -> None:
    from . import tracking

    if a.via == "prefect":   # the flow records the execution (MLflow parents, run log) itself
        from flows.pipeline import paper_flow, suite_flow

        try:
            suite_flow(force=a.force) if a.target == "all" else paper_flow(a.target, force=a.force)
        except Exception as e:  # noqa: BLE001 - the flow has logged the failing stage; one line and the summary
            logging.error("failed: %s", str(e).splitlines()[0][:300])
            _summary(root, papers, started)
            raise SystemExit(1) from None
        _summary(root, papers, started)
        return
    pid = f"cli-{uuid.uuid4().hex[:12]}"
    parents = {p.slug: tracking.find_or_create_parent(root, p.slug, pid, {"via": "dvc", **tracking.execution_tags(root, p.slug)})
               for p in papers}
    force = ["-f"] if a.force else []
    dvc = ["dvc", "--wait-for-lock", "repro"]              # another `paperflow run` waits instead of failing
    from .dvcgen import dvc_file

    one = dvc_file(root, a.target).relative_to(root).as_posix()
    cmds = [[*dvc, *force]] if a.target == "all" else [[*dvc, *force, one]]
    if a.target != "all":
        from .index import unreported

        missing = [s for s in unreported(root) if s != a.target]
        if missing:   # the index depends on every paper's claims: skip it until they exist
            logging.info("reports/index.md not updated: %s not run yet (`paperflow run all`)", ", ".join(missing))
        else:
            cmds.append([*dvc, "-s", "suite_index"])
    rc = 0
    for cmd in cmds:
        logging.info("running: %s", " ".join(cmd))
        rc = subprocess.call(cmd, cwd=root, env={**os.environ, tracking.PIPELINE_ENV: pid})
        if rc:
            logging.error("failed (exit %d): %s", rc, " ".join(cmd))
            break
    for slug, run_id in parents.items():
        tracking.finish_parent(root, slug, run_id, ok=rc == 0)
    from . import runlog

    runlog.record(root, pid, event="end", via="dvc", target=a.target, status="FAILED" if rc else "FINISHED",
                  jobs=1, wall_s=round(time.time() - started, 3))
    _summary(root, papers, started)
    if rc:
        raise SystemExit(rc)


def _summary(root: Path, papers, started: float) -> None:
    """One line per stage: ran (its timing file is newer than this command) or up to date, and its wall time."""
    import json

    from .layout import stage_key, timing_file

    for p in papers:
        for s in p.stages:
            for it in s.items or (None,):
                f = timing_file(root, p.slug, s.name, it)
                state = "missing" if not f.exists() else "ran" if f.stat().st_mtime >= started else "up to date"
                wall = json.loads(f.read_text()).get("wall_time_s", 0.0) if f.exists() else 0.0
                print(f"{p.slug}.{stage_key(s.name, it):<28} {state:<10} {wall:8.1f} s")


def cmd_report(a: argparse.Namespace) -> None:
    from .index import write_index

    logging.info("wrote %s", write_index(_root()))


def cmd_data(a: argparse.Namespace) -> None:
    from .data import export, track

    root = _root()
    for p in export(root):
        logging.info("exported %s", p)
    track(root)
    logging.info("data/ matches data.dvc and is in the DVC cache")


def cmd_dvc_yaml(a: argparse.Namespace) -> None:
    from .dvcgen import stale, write

    root = _root() if (Path.cwd() / "dvc.yaml").exists() else Path.cwd()
    if a.check:
        bad = stale(root)
        if bad:
            raise UserError(f"{', '.join(bad[:3])}{' ...' if len(bad) > 3 else ''}: stale; regenerate with "
                            "`paperflow dvc-yaml`")
        return
    written = write(root)
    logging.info("wrote %s", ", ".join(p.relative_to(root).as_posix() for p in written) or "nothing (up to date)")


def cmd_plots_template(a: argparse.Namespace) -> None:
    from .plots_offline import write

    logging.info("wrote %s", write(_root()))


def cmd_compare(a: argparse.Namespace) -> None:
    from .compare import table
    from .registry import get_paper

    print(table(_root(), get_paper(a.paper).slug, a.revs, a.keys))


def cmd_robustness(a: argparse.Namespace) -> None:
    from . import robustness
    from .dvcgen import write as write_dvc_yaml
    from .registry import resolve
    from .runlog import jobs

    if a.jobs is not None and a.jobs < 1:
        raise UserError(f"--jobs: at least 1 (got {a.jobs})")
    try:
        seeds = [int(x) for x in a.seeds.split(",")]
    except ValueError:
        raise UserError(f"--seeds: comma-separated integers, e.g. --seeds 11,23 (got {a.seeds!r})") from None
    root = _root()
    for paper in resolve(a.target):
        path = robustness.run(root, paper.slug, seeds, a.jobs or jobs())
        logging.info("wrote %s (and robustness.md); `dvc repro pipelines/%s/dvc.yaml:%s_report suite_index` shows "
                     "it in the reports", path.relative_to(root), paper.slug, paper.slug)
    write_dvc_yaml(root)


def cmd_bench(a: argparse.Namespace) -> None:
    from . import bench
    from .io import save_json_atomic
    from .registry import get_paper

    root = _root()
    get_paper(a.paper)
    res = bench.run(root, a.paper)
    save_json_atomic(root / "reports" / "bench.json", res)
    print(bench.table(res))


def cmd_new(a: argparse.Namespace) -> None:
    from .newpaper import scaffold

    for path in scaffold(_root(), a.slug):
        logging.info("wrote %s", path)
    logging.info("next: `python -m pytest tests/test_contract.py tests/test_smoke.py -k %s`, then replace the demo", a.slug)


def cmd_params(a: argparse.Namespace) -> None:
    import yaml

    from .params import defaults
    from .registry import resolve

    print(yaml.safe_dump({p.slug: defaults(p) for p in resolve(a.target)}, sort_keys=False), end="")


def cmd_schedule(a: argparse.Namespace) -> None:
    from prefect.settings import get_current_settings

    if not get_current_settings().api.url:
        raise UserError("schedules need a Prefect server: run `paperflow ui prefect` and export "
                        "PREFECT_API_URL=http://127.0.0.1:4200/api")
    from .registry import resolve

    resolve(a.target)
    from flows.pipeline import serve

    serve(a.target, a.cron)


def cmd_ui(a: argparse.Namespace) -> None:
    root = _root()
    if a.which == "mlflow":
        from .tracking import tracking_uri

        cmd = ["mlflow", "server", "--backend-store-uri", tracking_uri(root), "--host", "127.0.0.1",
               "--port", str(a.port or 5000), "--workers", "1"]
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    else:
        port = a.port or 4200
        cmd = ["prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
        env = {**os.environ, "PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api"}   # else the UI calls :4200
    logging.info("%s", " ".join(cmd))
    raise SystemExit(serve_group(cmd, root, env))


def cmd_cluster(a: argparse.Namespace) -> None:
    """Services, pool, workers and runs on several machines (tasks/common/cluster.py, docs/cluster.md)."""
    import json

    from . import cluster

    root = _root()
    state = Path(a.state or os.environ.get("PAPERFLOW_CLUSTER_STATE") or root / ".paperflow" / "cluster").resolve()
    host = os.environ.get("PAPERFLOW_CLUSTER_HOST", "127.0.0.1")
    if a.action == "up":
        info = cluster.up(state, host)
        print("\n".join(f"export {k}={v}" for k, v in info["env"].items()))
        print(f"# PIDs in {state / 'pids.json'}; stop with `paperflow cluster down`")
    elif a.action == "down":
        print("stopped: " + (", ".join(cluster.down(state)) or "nothing (no pids.json)"))
    elif a.action == "env":
        info = json.loads((state / "pids.json").read_text())
        print("\n".join(f"export {k}={v}" for k, v in info["env"].items()))
    elif a.action == "deploy":
        cluster.deploy(root, a.pool)
        print(f"pool {a.pool}: deployment {cluster.DEPLOYMENT} and the zombie automation are registered")
    elif a.action == "worker":
        cluster.check_prefect()
        cluster.check_remote(root)
        name = a.name or f"{os.uname().nodename}-{root.name}"
        cmd = cluster.worker_cmd(a.pool, name)
        logging.info("%s (checkout %s)", " ".join(cmd), root)
        raise SystemExit(serve_group(cmd, root, cluster.worker_env(root, name)))
    elif a.action == "run":
        from .registry import resolve

        papers = [p for t in (a.papers or ["all"]) for p in resolve(t)]
        validate_all(root, papers)
        res = cluster.run_on_pool(root, [p.slug for p in papers], pool=a.pool, force=a.force, spread=a.spread)
        if any(r["state"] != "COMPLETED" for r in res["papers"].values()):
            raise SystemExit(1)
    elif a.action == "pull":
        from .registry import resolve

        cluster.pull(root, [p.slug for t in (a.papers or ["all"]) for p in resolve(t)])


def serve_group(cmd: list[str], cwd: Path, env: dict) -> int:
    """Run a server in its own process group; SIGTERM, SIGINT or SIGHUP to us takes the whole group down
    (the MLflow server's uvicorn workers, Prefect's services), so nothing is left listening."""
    import signal

    proc = subprocess.Popen(cmd, cwd=cwd, env=env, start_new_session=True)

    def stop(signum, frame):
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    try:
        return proc.wait()
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="paperflow", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("list", help="papers, their stages and claims")
    sp.set_defaults(fn=cmd_list)
    sp = sub.add_parser("stage", help="run one stage (what dvc.yaml calls)")
    sp.add_argument("paper", help=f"one of: {slug_names()}")
    sp.add_argument("stage")
    sp.add_argument("--item", help="the foreach item of a per-item stage")
    sp.add_argument("--no-track", action="store_true", help="skip MLflow (for debugging)")
    sp.set_defaults(fn=cmd_stage)
    sp = sub.add_parser("check", help="validate a paper's params (the <paper>_check DVC stage)")
    sp.add_argument("paper")
    sp.set_defaults(fn=cmd_check)
    sp = sub.add_parser("run", help="run a paper's pipeline (or all) through DVC or Prefect")
    sp.add_argument("target", help=f"'all' or one of: {slug_names()}")
    sp.add_argument("--profile", choices=PROFILES, help="set <paper>.profile in params.yaml first")
    sp.add_argument("--via", choices=["prefect", "dvc"], default="prefect",
                    help="prefect (default): independent stages side by side, one per core (PAPERFLOW_JOBS); "
                         "dvc: one plain `dvc repro`, stages one at a time")
    sp.add_argument("--force", action="store_true", help="re-run stages even if DVC finds them up to date")
    sp.add_argument("--pool", help="fan out over the Prefect workers of this work pool (docs/cluster.md)")
    sp.set_defaults(fn=cmd_run)
    sp = sub.add_parser("report", help="write reports/index.md from every paper's claims")
    sp.set_defaults(fn=cmd_report)
    sp = sub.add_parser("data", help="export data/ (raw inputs tracked by data.dvc) from installed packages")
    sp.set_defaults(fn=cmd_data)
    sp = sub.add_parser("dvc-yaml", help="regenerate dvc.yaml and pipelines/<paper>/dvc.yaml from the registry")
    sp.add_argument("--check", action="store_true", help="exit 2 if a generated dvc.yaml is stale")
    sp.set_defaults(fn=cmd_dvc_yaml)
    sp = sub.add_parser("plots-template", help="write the offline HTML template of `dvc plots show`")
    sp.set_defaults(fn=cmd_plots_template)
    sp = sub.add_parser("compare", help="per claim: verdict and key numbers, workspace vs DVC experiments / revisions")
    sp.add_argument("paper")
    sp.add_argument("revs", nargs="*", help="experiment names (`dvc exp show`) or git revisions")
    sp.add_argument("--keys", type=int, default=2, help="measured numbers shown per claim")
    sp.set_defaults(fn=cmd_compare)
    sp = sub.add_parser("robustness", help="re-run a paper on other seeds (DVC experiment queue): verdict stable?")
    sp.add_argument("target", help=f"'all' or one of: {slug_names()}")
    sp.add_argument("--seeds", default="11,23", help="values of <paper>.seed, comma-separated (default 11,23)")
    sp.add_argument("--jobs", type=int, help="queue workers (default: PAPERFLOW_JOBS or the number of cores)")
    sp.set_defaults(fn=cmd_robustness)
    sp = sub.add_parser("bench", help="machine-independent ratios: parallelism, fixed costs, trainer, PIE")
    sp.add_argument("--paper", default="mdm", help="whose params-check stage times the no-op stage")
    sp.set_defaults(fn=cmd_bench)
    sp = sub.add_parser("new", help="scaffold a new paper: tasks/SLUG/, tests/SLUG/, params.yaml section, "
                        "pipelines/SLUG/dvc.yaml")
    sp.add_argument("slug", help="the paper's short name (lowercase identifier)")
    sp.set_defaults(fn=cmd_new)
    sp = sub.add_parser("params", help="print the default params.yaml section of a paper")
    sp.add_argument("target", help=f"'all' or one of: {slug_names()}")
    sp.set_defaults(fn=cmd_params)
    sp = sub.add_parser("schedule", help="serve a Prefect deployment with a cron schedule (needs a Prefect server)")
    sp.add_argument("target", help=f"'all' or one of: {slug_names()}")
    sp.add_argument("--cron", required=True, help='e.g. "0 3 * * *"')
    sp.set_defaults(fn=cmd_schedule)
    sp = sub.add_parser("cluster", help="several machines: services, work pool, workers, runs (docs/cluster.md)")
    sp.add_argument("action", choices=["up", "down", "env", "deploy", "worker", "run", "pull"])
    sp.add_argument("papers", nargs="*", help="run/pull: papers ('all' by default)")
    sp.add_argument("--pool", default="paperflow", help="the Prefect work pool")
    sp.add_argument("--name", help="worker: its name (default host-checkout)")
    sp.add_argument("--state", help="up/down/env: folder of the services' data, logs and PIDs")
    sp.add_argument("--force", action="store_true", help="run: re-run stages even if DVC finds them up to date")
    sp.add_argument("--spread", type=int, default=0, help="run: split each paper's largest foreach stage (4+ items) "
                    "into this many flow runs (e.g. the number of workers)")
    sp.set_defaults(fn=cmd_cluster)
    sp = sub.add_parser("ui", help="start the Prefect or MLflow UI on 127.0.0.1")
    sp.add_argument("which", choices=["prefect", "mlflow"])
    sp.add_argument("--port", type=int)
    sp.set_defaults(fn=cmd_ui)
    return ap


def env_defaults(env) -> None:
    """Telemetry off and the stage thread count, unless set: before numpy/torch load (the warm server too)."""
    for k, v in ENV_DEFAULTS.items():
        env.setdefault(k, v)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env.setdefault(var, env.get("PAPERFLOW_THREADS", "1"))


def main(argv: list[str] | None = None) -> int:
    env_defaults(os.environ)
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["stage"], ["check"]):   # what DVC calls; under `paperflow run`, in a fork of the warm server
        from .warm import delegate

        rc = delegate(argv)
        if rc is not None:
            return rc
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("httpx").setLevel(logging.WARNING)        # Prefect's API client logs every request at INFO
    a = parser().parse_args(argv)
    try:
        a.fn(a)
    except UserError as e:
        print(f"paperflow: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
