"""The heap trimmer: glibc's malloc_trim really gives freed heap back, and the stage's thread calls it."""
import sys
import threading

import pytest

from pipeline.heap import HeapTrimmer, anon_rss_kb, libc_malloc_trim, start_heap_trimmer

glibc_only = pytest.mark.skipif(not sys.platform.startswith("linux") or libc_malloc_trim() is None,
                                reason="malloc_trim is glibc's")


@glibc_only
def test_trim_returns_freed_heap_that_free_alone_keeps():
    blocks = [bytes(4000) for _ in range(40_000)]          # ~160 MB in malloc's heap (small blocks, no mmap)
    pin = bytes(4000)                                     # allocated last: free cannot shrink the heap's top
    del blocks
    held = anon_rss_kb()
    released = HeapTrimmer(libc_malloc_trim()).trim_now()
    assert released > 100_000, f"trim gave back {released} KB of {held} KB"
    assert anon_rss_kb() < held - 100_000
    del pin


def test_the_thread_trims_every_period_and_stops():
    calls = threading.Event()
    pads = []

    def fake_trim(pad: int) -> int:
        pads.append(pad)
        calls.set()
        return 1

    trimmer = HeapTrimmer(fake_trim, period_s=0.01).start()
    assert calls.wait(2)
    trimmer.stop()
    count = trimmer.trims
    assert count >= 1 and pads[0] == 0 and not trimmer._thread.is_alive()
    assert trimmer.trims == count                        # stopped: no more trims


@glibc_only
def test_started_on_glibc():
    trimmer = start_heap_trimmer(period_s=3600)
    assert trimmer is not None and trimmer._thread.daemon and trimmer._thread.is_alive()
    trimmer.stop()
