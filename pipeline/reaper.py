"""Leave no process behind: stop and reap multiprocessing's resource tracker and fork server after a run.

The spawn start method starts a resource-tracker process on the first stage start.
It exits once every holder of its pipe has closed it, but nobody waits for it, so
it lingers as a zombie child of the supervisor's process until that exits (issue 14).
"""
from __future__ import annotations

import logging
import os
import signal
import time
from multiprocessing import resource_tracker

log = logging.getLogger("streamdet.supervisor")


def reap_resource_tracker(timeout_s: float = 5.0) -> bool:
    """Close our end of the tracker's pipe and wait for it; True when no tracker is left.

    Call only once every stage process has exited (they hold the other ends). A
    tracker still alive after ``timeout_s`` is killed, so this never hangs.
    """
    tracker = resource_tracker._resource_tracker   # the module's singleton; no public handle exists
    with tracker._lock:
        fd, pid = tracker._fd, tracker._pid
        if fd is None or pid is None:
            return True
        tracker._fd = tracker._pid = None
    os.close(fd)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return True
        if done:
            return True
        time.sleep(0.02)
    log.warning("multiprocessing resource tracker (pid %d) did not exit; killing it", pid)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return True


def stop_forkserver() -> None:
    """Stop the fork server the captures start from (it would outlive the run, issue 14)."""
    from multiprocessing import forkserver
    server = forkserver._forkserver                 # the module's singleton; no public stop exists
    if getattr(server, "_forkserver_pid", None) is not None:
        server._stop()
