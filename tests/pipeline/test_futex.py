"""pipeline/futex.py and the slot ring's wait on it: a producer sleeps until the consumer releases."""
import threading
import time

import numpy as np
import pytest

from pipeline import futex
from pipeline.shm import SlotRing

needs_futex = pytest.mark.skipif(not futex.AVAILABLE, reason="no Linux futex here")


@needs_futex
def test_wait_returns_at_once_when_the_word_differs():
    word = np.zeros(1, dtype=np.uint32)
    t0 = time.monotonic()
    futex.wait(word.ctypes.data, 1, 2.0)
    assert time.monotonic() - t0 < 0.5


@needs_futex
def test_wait_times_out_and_a_wake_ends_it():
    word = np.zeros(1, dtype=np.uint32)
    t0 = time.monotonic()
    futex.wait(word.ctypes.data, 0, 0.05)
    assert 0.04 <= time.monotonic() - t0 < 1.0
    woken = threading.Event()

    def sleeper():
        futex.wait(word.ctypes.data, 0, 10.0)
        woken.set()
    thread = threading.Thread(target=sleeper)
    thread.start()
    time.sleep(0.1)
    assert not woken.is_set()
    word[0] = 1
    futex.wake(word.ctypes.data)
    assert woken.wait(2.0)
    thread.join()


def test_a_full_ring_waits_for_the_release_across_mappings(tmp_path):
    """Producer and consumer map the ring separately (as two processes do); the consumer's
    release ends the producer's wait long before its timeout."""
    name = f"streamdet-test-{time.monotonic_ns()}"
    producer = SlotRing.create(name, nslots=2, slot_size=64)
    consumer = SlotRing.attach(name)
    try:
        for seq in (0, 1):
            assert producer.reserve(seq, wait=True) == seq
        assert producer.reserve(2, wait=True, timeout_s=0.05) is None      # nothing released yet
        releaser = threading.Timer(0.2, consumer.release, args=(0,))
        t0 = time.monotonic()
        releaser.start()
        assert producer.reserve(2, wait=True, timeout_s=10.0) == 0
        waited = time.monotonic() - t0
        releaser.join()
        assert 0.15 <= waited < 5.0
    finally:
        consumer.close()
        producer.close(unlink=True)
