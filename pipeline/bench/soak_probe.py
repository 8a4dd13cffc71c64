"""What the soak watches from outside the pipeline: its published messages and its processes.

``MessageLog`` subscribes to the PUB socket and keeps (receive time, stream,
frame_id, capture_ts) of every message. ``ProcessProbe`` samples the run's
process tree (the supervisor and every child, the resource tracker included):
total RSS, open file descriptors, and the run's /dev/shm segments.
"""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.client import Subscriber
from pipeline.heap import RSS_KINDS, rss_kinds_kb
from pipeline.shm import SHM_DIR

STARTED = re.compile(r"started stage (\S+) pid (\d+)")


class MessageLog:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.messages: list[tuple[float, str, int, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="soak-subscriber", daemon=True)

    def start(self) -> "MessageLog":
        self._thread.start()
        return self

    def _follow(self) -> None:
        with Subscriber(self.endpoint, timeout_s=0.2) as sub:
            while not self._stop.is_set():
                message = sub.recv()
                if message is not None:
                    self.messages.append((time.time(), message["stream"], message["frame_id"],
                                          message["capture_ts"]))

    def first_captured_after(self, t: float, timeout_s: float) -> float | None:
        """Receive time of the first message whose frame was captured after ``t`` (None: timeout)."""
        deadline = time.monotonic() + timeout_s
        start = 0
        while time.monotonic() < deadline:
            messages = self.messages
            for received, _, _, captured in messages[start:]:
                if captured > t:
                    return received
            start = len(messages)
            time.sleep(0.02)
        return None

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


def children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (by scanning /proc: a stage or the resource tracker)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        kids = [p for p, pp in parents.items() if pp == parent]
        found += kids
        frontier += kids
    return found


def rss_kb(pid: int) -> int:
    return sum(rss_kinds_kb(pid).values())


def fd_count(pid: int) -> int:
    try:
        return len(list(Path(f"/proc/{pid}/fd").iterdir()))
    except OSError:
        return 0


@dataclass
class ProcessProbe:
    supervisor_pid: int
    log_path: Path
    period_s: float = 5.0
    samples: list[dict] = field(default_factory=list)

    def stage_pids(self) -> dict[str, int]:
        """Stage name -> pid of its newest process, from the supervisor's log."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return {name: int(pid) for name, pid in STARTED.findall(text)}

    def shm_segments(self) -> list[str]:
        return sorted(p.name for p in SHM_DIR.glob(f"streamdet-{self.supervisor_pid}-*"))

    def sample(self) -> dict:
        pids = [self.supervisor_pid, *children(self.supervisor_pid)]
        kinds = {pid: rss_kinds_kb(pid) for pid in pids}
        rss = {pid: sum(k.values()) for pid, k in kinds.items()}
        names = {pid: name for name, pid in self.stage_pids().items()}
        names[self.supervisor_pid] = "supervisor"
        point = {"t": time.time(), "processes": len(pids), "rss_mb": round(sum(rss.values()) / 1024, 2),
                 "rss_mb_by_kind": {kind: round(sum(k[kind] for k in kinds.values()) / 1024, 2)
                                    for kind in RSS_KINDS.values()},
                 "rss_mb_by_process_kind": {names.get(pid, f"other {pid}"): {kind: round(kb / 1024, 2)
                                                                             for kind, kb in k.items()}
                                            for pid, k in kinds.items()},
                 "fds": sum(fd_count(p) for p in pids), "shm": len(self.shm_segments()),
                 "rss_mb_by_process": {names.get(pid, f"other {pid}"): round(kb / 1024, 2) for pid, kb in rss.items()}}
        self.samples.append(point)
        return point

    def run_in_background(self, stop: threading.Event) -> threading.Thread:
        def loop() -> None:
            while not stop.wait(self.period_s):
                self.sample()
        thread = threading.Thread(target=loop, name="soak-probe", daemon=True)
        thread.start()
        return thread


def slope_per_10min(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (t seconds, value) in value units per 10 minutes."""
    if len(points) < 3:
        return None
    import numpy as np
    t, v = np.array(points, dtype=float).T
    return float(np.polyfit(t - t[0], v, 1)[0] * 600.0)


def slopes_by_third(points: list[tuple[float, float]]) -> list[float | None]:
    """The slope of each third of the window: growth that stops (a buffer filling) vs growth that goes on."""
    if len(points) < 9:
        return []
    t0, span = points[0][0], points[-1][0] - points[0][0]
    thirds = [[p for p in points if i * span / 3 <= p[0] - t0 <= (i + 1) * span / 3] for i in range(3)]
    return [None if (v := slope_per_10min(part)) is None else round(v, 3) for part in thirds]
