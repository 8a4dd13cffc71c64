"""CPU time per published frame of every process of a run, read from /proc (Linux).

On a 2-core machine every process shares the cores with the engine: what the other
stages spend per frame is what the pipeline loses against the bare engine. The
window starts once the warm-up frames are out and ends at the last reading taken
while the run was still publishing (every ``period_s``), so start-up and shutdown
are not counted. Processes are named by their ``comm`` (stages call themselves
``sd:<stage>``, pipeline/worker.py); this process and its threads (the supervisor,
the bench's subscriber) count as ``supervisor``.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_s(pid: int) -> float | None:
    """User + system seconds ``pid`` has used (all its threads), or None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS_PER_S
    except (OSError, IndexError, ValueError):
        return None


def run_cpu_s(root: int) -> dict[str, float]:
    """CPU seconds by process name: ``root`` as 'supervisor', each stage process as its stage."""
    from pipeline.bench.footprint import children_of
    out: dict[str, float] = {}
    for pid in children_of(root):
        seconds = process_cpu_s(pid)
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        if seconds is None:
            continue
        name = "supervisor" if pid == root else comm[3:] if comm.startswith("sd:") else "other"
        out[name] = out.get(name, 0.0) + seconds
    return out


class CpuWindow:
    """Readings of ``run_cpu_s`` against a frame counter; ``result`` is CPU ms per frame."""

    def __init__(self, frames_seen, start_after: int, root: int | None = None, period_s: float = 0.5) -> None:
        self._frames_seen, self._start_after = frames_seen, start_after
        self._root = os.getpid() if root is None else root
        self._period_s = period_s
        self._first = self._last = None     # (frames, {name: cpu_s})
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="cpu-window")

    def start(self) -> "CpuWindow":
        if Path("/proc/self/stat").exists():
            self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(self._period_s):
            frames = self._frames_seen()
            if frames < self._start_after:
                continue
            reading = (frames, run_cpu_s(self._root))
            if self._first is None:
                self._first = reading
            elif frames > (self._last or self._first)[0] and set(self._first[1]) <= set(reading[1]):
                self._last = reading        # not once a process has exited: its time would be missing

    def stop(self) -> dict | None:
        """{"frames", "ms_per_frame": {name: ms}, "total_ms_per_frame"}; None without two readings."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)
        if self._first is None or self._last is None:
            return None
        return cpu_per_frame(self._first, self._last)


def cpu_per_frame(first: tuple[int, dict], last: tuple[int, dict]) -> dict:
    """CPU ms per frame of each process present in both readings, between them."""
    frames = last[0] - first[0]
    per = {name: round((last[1][name] - first[1][name]) * 1e3 / frames, 3)
           for name in sorted(last[1]) if name in first[1]}
    return {"frames": frames, "ms_per_frame": per, "total_ms_per_frame": round(sum(per.values()), 3)}
