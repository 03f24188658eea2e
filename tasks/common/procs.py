"""Process helpers shared by the runner (stale staging folders) and tracking (runs left RUNNING by dead processes)."""
from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists on this host (signal 0 probes without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
