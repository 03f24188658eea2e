"""Warm stage processes: one server per pipeline execution imports the heavy libraries once, and every
`paperflow stage` that DVC starts under it runs in a fork of that server instead of a fresh interpreter.

A tracked stage process spent ~6 s of its ~10 s fixed cost importing torch, mlflow with its sqlite store,
matplotlib and scipy (issue 10). `paperflow run` (and the Prefect flows) start `serving(root)`; the environment
variable `PAPERFLOW_WARM_SOCKET` reaches each stage command through DVC. The stage command (`delegate`) sends its
argv, working folder, environment and stdin/stdout/stderr (SCM_RIGHTS) over the socket; the server forks, the child
takes over those file descriptors and runs the command as a fresh process would (the project's own modules are
imported in the child, never in the server, so an edit between stages is seen), and the exit code comes back.
SIGINT/SIGTERM/SIGHUP to the stage command are forwarded to the child; a stage command that dies (`kill -9`, DVC
killed) takes its child with it. Anything that goes wrong before the child starts (no server, a server that is
still importing or gone, different thread settings) falls back to running in the stage command itself, so a
warm server can only save time, never change what runs. PAPERFLOW_WARM=0 switches it off.

The server is single-threaded (a fork from a process with other threads can inherit held locks) and only imports:
it opens no store, starts no thread and runs no torch op before forking.
"""
from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import struct
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

SOCKET_ENV = "PAPERFLOW_WARM_SOCKET"
SWITCH_ENV = "PAPERFLOW_WARM"              # "0": every stage in a fresh interpreter
CHILD_ENV = "PAPERFLOW_WARM_CHILD"         # set in a forked stage (the runner tags its MLflow run with it)
ENTRY = "tasks.common.cli:main"
PRELOAD = ("numpy", "torch", "torch.nn.functional", "torch.utils.flop_counter", "scipy.stats", "scipy.special",
           "scipy.ndimage", "pydantic", "yaml", "matplotlib.pyplot", "mlflow", "mlflow.entities", "mlflow.pytorch",
           "mlflow.models", "mlflow.store.tracking.sqlalchemy_store", "mlflow.store.model_registry.sqlalchemy_store",
           "mlflow.data.meta_dataset", "mlflow.data.dataset_source_registry")
# read once when a library loads: a child must see the values the server loaded with, else it runs cold
IMPORT_TIME_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "PAPERFLOW_THREADS", "MPLBACKEND",
                   "MLFLOW_DISABLE_TELEMETRY", "PYTHONHASHSEED")
_HEADER = struct.Struct("!I")


def _fingerprint(env: dict[str, str]) -> dict[str, str | None]:
    return {"prefix": sys.prefix, **{k: env.get(k) for k in IMPORT_TIME_ENV}}


# --- the stage command's side ------------------------------------------------------------------------------------

def delegate(argv: list[str]) -> int | None:
    """Run `paperflow <argv>` in a fork of the warm server; its exit code, or None to run it here instead."""
    path = os.environ.get(SOCKET_ENV)
    if not path or os.environ.get(SWITCH_ENV) == "0":
        return None
    from .tracking import PIPELINE_ENV, pipeline_id

    env = {**os.environ, PIPELINE_ENV: pipeline_id()}   # found from this process's parents (the dvc process)
    env.pop(SOCKET_ENV)
    req = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": env, "fingerprint": _fingerprint(env)}).encode()
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        msg = _HEADER.pack(len(req)) + req
        sent = socket.send_fds(sock, [msg], [0, 1, 2])   # the descriptors travel with the first bytes
        sock.sendall(msg[sent:])
        reader = sock.makefile("r")
        first = reader.readline().split()
    except OSError:
        return None
    if first[:1] != ["pid"]:
        return None                                   # refused (or the server went away): nothing was started
    child = int(first[1])

    def forward(signum, _frame):
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, forward)
    while True:
        try:
            line = reader.readline().split()
            break
        except InterruptedError:
            continue
    if line[:1] != ["exit"]:
        print(f"paperflow: error: the warm stage server ({path}) stopped while `paperflow {' '.join(argv)}` ran; "
              f"re-run it (or set {SWITCH_ENV}=0)", file=sys.stderr)
        return 1
    return int(line[1])


# --- the server ----------------------------------------------------------------------------------------------------

def _recv_request(conn: socket.socket) -> tuple[dict, list[int]]:
    data, fds, _flags, _addr = socket.recv_fds(conn, 1 << 16, 3)
    if len(data) < _HEADER.size:
        raise OSError("short request")
    (size,) = _HEADER.unpack(data[:_HEADER.size])
    body = data[_HEADER.size:]
    while len(body) < size:
        more = conn.recv(size - len(body))
        if not more:
            raise OSError("truncated request")
        body += more
    return json.loads(body), list(fds)


def _run_child(req: dict, fds: list[int], entry: str) -> None:
    """In the fork: become the stage command (its stdio, folder and environment), run the entry point, exit."""
    code = 1
    try:
        for i, fd in enumerate(fds):
            os.dup2(fd, i)
            os.close(fd)
        for s in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        os.environ[CHILD_ENV] = str(os.getppid())
        sys.argv = ["paperflow", *req["argv"]]
        mod, fn = entry.split(":")
        __import__(mod)
        code = getattr(sys.modules[mod], fn)(req["argv"])
        code = code if isinstance(code, int) else 0
        _exit_like_python()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except KeyboardInterrupt:
        code = 130
    except BaseException:  # noqa: BLE001 - printed like an uncaught exception in a fresh process
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        os._exit(code)


def _exit_like_python() -> None:
    """What a fresh interpreter does before it exits and os._exit skips: join threads, run atexit handlers."""
    import atexit
    import threading

    try:
        threading._shutdown()   # noqa: SLF001 - the interpreter's own exit step
    finally:
        atexit._run_exitfuncs()  # noqa: SLF001


def serve(path: str, entry: str = ENTRY, preload: tuple[str, ...] = PRELOAD) -> None:
    """Bind, import `preload` (clients that connect meanwhile wait in the backlog), then fork one child per request
    until SIGTERM or until the process that started the server is gone."""
    owner = os.getppid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)      # Ctrl-C reaches the stage commands; the owner stops us
    stop: list[int] = []
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))   # still importing: nothing to wind down
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    import importlib

    if preload:
        import matplotlib

        matplotlib.use("Agg")                         # as tasks/common/plotting.py does, before pyplot loads
    for name in preload:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a library that does not import here is imported by the child (cold)
            pass
    mine = _fingerprint(dict(os.environ))
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    children: dict[int, socket.socket] = {}
    while not stop and os.getppid() == owner:
        for key, _ in sel.select(timeout=0.1):
            if key.fileobj is listener:
                conn, _ = listener.accept()
                try:
                    conn.settimeout(10)
                    req, fds = _recv_request(conn)
                except (OSError, ValueError):
                    conn.close()
                    continue
                if req.get("fingerprint") != mine or len(fds) != 3:
                    for fd in fds:
                        os.close(fd)
                    conn.sendall(b"refused\n")
                    conn.close()
                    continue
                for s in (sys.stdout, sys.stderr):
                    s.flush()
                pid = os.fork()
                if pid == 0:
                    listener.close()
                    for c in children.values():
                        c.close()
                    sel.close()
                    conn.close()
                    _run_child(req, fds, entry)
                for fd in fds:
                    os.close(fd)
                conn.sendall(f"pid {pid}\n".encode())
                children[pid] = conn
                sel.register(conn, selectors.EVENT_READ, pid)
            elif not _alive(key.fileobj):               # the stage command is gone: so is its stage
                try:
                    os.kill(key.data, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            rc = os.waitstatus_to_exitcode(status)
            conn = children.pop(pid, None)
            if conn is not None:
                sel.unregister(conn)
                try:
                    conn.sendall(f"exit {rc if rc >= 0 else 128 - rc}\n".encode())
                except OSError:
                    pass
                conn.close()
    for pid in children:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def _alive(conn: socket.socket) -> bool:
    try:
        return bool(conn.recv(1))
    except OSError:
        return False


@contextmanager
def serving(root: Path, entry: str = ENTRY, preload: bool = True) -> Iterator[str | None]:
    """A warm server for the commands started inside the block (through the environment); a no-op when one is
    already serving this process or PAPERFLOW_WARM=0. Yields the socket path (None when off). `entry` and
    `preload=False` are for tests (a server that imports nothing runs any `module:function`)."""
    if os.environ.get(SWITCH_ENV) == "0" or os.environ.get(SOCKET_ENV):
        yield os.environ.get(SOCKET_ENV) if os.environ.get(SWITCH_ENV) != "0" else None
        return
    import shutil
    import subprocess

    from .cli import env_defaults

    env = dict(os.environ)
    env_defaults(env)                                 # what every `paperflow stage` sets before it delegates
    tmp = tempfile.mkdtemp(prefix="paperflow-warm-")
    path = os.path.join(tmp, "stage.sock")
    proc = subprocess.Popen([sys.executable, "-P", "-m", "tasks.common.warm", path, entry, str(int(preload))],
                            cwd=root, env=env, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not os.path.exists(path) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.environ[SOCKET_ENV] = path
    try:
        yield path
    finally:
        os.environ.pop(SOCKET_ENV, None)
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2], PRELOAD if sys.argv[3] == "1" else ())
