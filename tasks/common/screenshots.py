"""Screenshots of the MLflow and Prefect UIs after one `paperflow run`, for docs/img/ (what a user should see).

`python -m tasks.common.screenshots [--paper mdm] [--out docs/img]`: clones this repository's HEAD into a temporary
folder, runs the paper at the smoke profile through Prefect (private PREFECT_HOME, the clone's own mlflow.db), starts
`paperflow ui mlflow` and `paperflow ui prefect` on free ports and photographs them in headless Chromium (Debian's
`chromium`, driven by Playwright's Python package: no browser download). Everything started is stopped by process
group at the end. Not part of the test suite (it takes ~2 minutes); `tests/test_pipeline_dvc.py` checks the offline
`dvc plots show` page in the same browser.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def chromium() -> str | None:
    """Debian's Chromium if installed (`apt-get install chromium`), else None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def render_dom(url: str, budget_ms: int = 10000) -> str:
    """The DOM of a page after its scripts ran, in headless Chromium with every host name unresolvable (no network)."""
    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run([chromium(), "--headless", *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                              "--host-resolver-rules=MAP * ~NOTFOUND", f"--virtual-time-budget={budget_ms}",
                              "--dump-dom", url], capture_output=True, text=True, timeout=120)
    return out.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout: float = 120) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def _dismiss(page) -> None:
    """Close first-visit panels (the assistant, tips, 'new UI' dialogs) that hide the content."""
    page.wait_for_timeout(1500)
    page.keyboard.press("Escape")
    for label in ("Close", "Got it"):
        for button in page.get_by_role("button", name=label).all():
            if button.is_visible():
                button.click()


def _shoot(paper: str, repo: Path, env: dict, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    import mlflow

    ml_port, pf_port = _free_port(), _free_port()
    procs = [subprocess.Popen([sys.executable, "-m", "tasks", "ui", which, "--port", str(port)], cwd=repo, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
             for which, port in (("mlflow", ml_port), ("prefect", pf_port))]
    shots = []
    try:
        ml, pf = f"http://127.0.0.1:{ml_port}", f"http://127.0.0.1:{pf_port}"
        _wait_http(ml)
        _wait_http(f"{pf}/api/health")
        exp = mlflow.MlflowClient(f"sqlite:///{repo / 'mlflow.db'}").get_experiment_by_name(paper).experiment_id
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1500, "height": 900})

            def snap(name: str) -> None:
                page.wait_for_timeout(2500)
                shots.append(out / f"{name}.png")
                page.screenshot(path=shots[-1])

            page.goto(f"{ml}/#/experiments/{exp}/runs")
            page.wait_for_selector(f"text={paper}-pipeline", timeout=60000)
            _dismiss(page)
            row = page.get_by_role("row").filter(has_text=f"{paper}-pipeline").first
            row.locator("button").first.click()        # the parent's toggle: its stage runs under it
            page.wait_for_selector(f"text={paper}.report", timeout=30000)
            snap("mlflow-runs")
            page.goto(f"{ml}/#/models")
            page.wait_for_selector(f"text={paper}.", timeout=30000)
            _dismiss(page)
            snap("mlflow-models")
            page.goto(f"{pf}/runs")
            link = page.locator("a[href*='/runs/flow-run/']").first
            link.wait_for(timeout=60000)
            snap("prefect-runs")
            link.click()
            page.wait_for_selector(f"text={paper}_report", timeout=60000)
            snap("prefect-flow-run")
            browser.close()
    finally:
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGKILL)
    return shots


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tasks.common.screenshots", description=__doc__.splitlines()[0])
    ap.add_argument("--paper", default="mdm")
    ap.add_argument("--out", default="docs/img")
    ap.add_argument("--workdir", help="keep the clone and stores here (default: a temporary folder)")
    a = ap.parse_args(argv)
    if chromium() is None:
        raise SystemExit("screenshots: Chromium not found; install it (`apt-get install chromium`) and re-run")
    root = Path(__file__).resolve().parents[2]
    out = (Path.cwd() / a.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(a.workdir).resolve() if a.workdir else Path(tmp)
        repo = work / "repo"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_TRACKING", "PREFECT_API"))}
        env.update(PREFECT_HOME=str(work / "prefect"), PYTHONPATH=str(repo))
        if not (repo / "mlflow.db").exists():              # --workdir: a second call reuses the first one's run
            subprocess.run(["git", "clone", "-q", str(root), str(repo)], check=True)
            for cmd in (["data"], ["run", a.paper, "--profile", "smoke"]):
                subprocess.run([sys.executable, "-m", "tasks", *cmd], cwd=repo, env=env, check=True)
        for shot in _shoot(a.paper, repo, env, out):
            print(shot)


if __name__ == "__main__":
    main()
