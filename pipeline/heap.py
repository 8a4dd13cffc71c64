"""Hand freed heap back to the OS now and then, so a stage's RSS tracks what it holds.

glibc keeps memory a process freed in its arenas for reuse and returns it only
from the top of the heap. After a rare large moment (a frame with many
detections, a burst after a stall, a reconnect) the freed pages in the middle
stay resident: RSS steps up and never comes down, which over a long run reads as
a slow leak. ``malloc_trim(0)`` releases every whole free page of every arena
(madvise), without moving anything. A daemon thread in each stage process does
it once a minute; on a C library without ``malloc_trim`` (musl, macOS) nothing runs.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from pathlib import Path
from typing import Callable

log = logging.getLogger("streamdet.heap")

TRIM_PERIOD_S = 60.0


def libc_malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim(pad)``, or None where the C library has none."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


RSS_KINDS = {"RssAnon:": "anon", "RssFile:": "file", "RssShmem:": "shmem"}   # VmRSS is their sum


def rss_kinds_kb(pid: int | str = "self") -> dict[str, int]:
    """Resident KB of ``pid`` by kind: anonymous (heap), file-backed (libraries), shared memory;
    zeros for a process that is gone."""
    kinds = dict.fromkeys(RSS_KINDS.values(), 0)
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            kind = RSS_KINDS.get(line.split(maxsplit=1)[0] if line else "")
            if kind:
                kinds[kind] = int(line.split()[1])
    except OSError:
        pass
    return kinds


def anon_rss_kb() -> int:
    """This process's resident anonymous memory (heap and other private mappings), KB; 0 if unknown."""
    return rss_kinds_kb()["anon"]


class HeapTrimmer:
    """Calls ``trim(0)`` every ``period_s`` on a daemon thread; counts what it gave back."""

    def __init__(self, trim: Callable[[int], int], period_s: float = TRIM_PERIOD_S) -> None:
        self.trim, self.period_s = trim, period_s
        self.trims = 0
        self.released_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="heap-trim", daemon=True)

    def start(self) -> "HeapTrimmer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)

    def trim_now(self) -> int:
        """One trim; KB of anonymous RSS it released (as /proc reads it)."""
        before = anon_rss_kb()
        self.trim(0)
        released = max(0, before - anon_rss_kb())
        self.trims += 1
        self.released_kb += released
        return released

    def _loop(self) -> None:
        while not self._stop.wait(self.period_s):
            released = self.trim_now()
            if released:
                log.debug("malloc_trim gave back %d KB (%d KB in %d trims)", released, self.released_kb, self.trims)


def start_heap_trimmer(period_s: float = TRIM_PERIOD_S) -> HeapTrimmer | None:
    trim = libc_malloc_trim()
    return HeapTrimmer(trim, period_s).start() if trim is not None else None
