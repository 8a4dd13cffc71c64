from pathlib import Path

import numpy as np
import pytest

from pipeline.shm import RingCache, SHM_DIR, SlotRing, SlotWriter, StaleSlot, remove_run_segments


@pytest.fixture
def ring(request):
    name = f"streamdet-test-{request.node.name[:40]}"
    r = SlotRing.create(name, nslots=4, slot_size=4096)
    yield r
    r.close(unlink=True)


def write(ring, seq, value, wait=False):
    slot = ring.reserve(seq, wait=wait, timeout_s=0.05)
    if slot is None:
        return None
    writer = SlotWriter(ring, seq, slot)
    writer.array("a", (8, 8), np.uint8)[...] = value
    writer.array("b", (3,), np.float32)[...] = [value, value + 1, value + 2]
    return writer.commit()


def test_reader_sees_what_writer_wrote_without_copy(ring):
    refs = write(ring, 0, 7)
    cache = RingCache()
    a = cache.resolve(refs["a"])
    assert a.shape == (8, 8) and (a == 7).all()
    assert cache.resolve(refs["b"]).tolist() == [7, 8, 9]
    a[0, 0] = 99                       # a view: writes are visible to the owner
    assert ring.view(refs["a"].slot, refs["a"].offset, (8, 8), np.uint8)[0, 0] == 99
    cache.close()


def test_overwritten_slot_is_stale_not_torn(ring):
    refs = write(ring, 0, 1)
    for seq in range(1, 5):            # 4 slots: seq 4 reuses slot 0
        write(ring, seq, seq)
    cache = RingCache()
    with pytest.raises(StaleSlot):
        cache.resolve(refs["a"])
    assert not ring.valid(refs["a"])
    cache.close()


def test_wait_policy_blocks_until_released(ring):
    for seq in range(4):
        assert write(ring, seq, seq, wait=True) is not None
    assert write(ring, 4, 4, wait=True) is None        # all 4 slots unreleased: timed out
    ring.release(0)
    assert write(ring, 4, 4, wait=True) is not None    # slot 0 is free again
    ring.release(0)                                    # release never goes backwards
    assert ring.released == 0


def test_reattach_after_producer_restart(ring):
    cache = RingCache()
    refs = write(ring, 0, 3)
    assert cache.resolve(refs["a"])[0, 0] == 3
    fresh = SlotRing.create(ring.name, nslots=4, slot_size=4096)    # a restarted producer
    refs2 = write(fresh, 0, 5)
    assert refs2["a"].instance != refs["a"].instance
    assert cache.resolve(refs2["a"])[0, 0] == 5
    with pytest.raises(StaleSlot):
        cache.resolve(refs["a"])
    cache.close()
    fresh.close()


def test_too_big_array_is_refused(ring):
    slot = ring.reserve(0, wait=False)
    with pytest.raises(ValueError, match="do not fit"):
        SlotWriter(ring, 0, slot).array("big", (5000,), np.uint8)


def test_remove_run_segments_removes_only_the_run():
    a = SlotRing.create("streamdet-runA-x", 2, 64)
    b = SlotRing.create("streamdet-runB-x", 2, 64)
    assert remove_run_segments("streamdet-runA") == ["streamdet-runA-x"]
    assert not (SHM_DIR / "streamdet-runA-x").exists() and (SHM_DIR / "streamdet-runB-x").exists()
    a.close()
    b.close(unlink=True)


def test_orphan_segments_of_dead_supervisors_are_removed():
    from pipeline.shm import remove_orphan_segments
    dead = SlotRing.create("streamdet-999999999-abc-capture", 2, 64)     # no such pid
    import os
    alive = SlotRing.create(f"streamdet-{os.getpid()}-abc-capture", 2, 64)
    removed = remove_orphan_segments()
    assert "streamdet-999999999-abc-capture" in removed
    assert (SHM_DIR / alive.name).exists()
    dead.close()
    alive.close(unlink=True)


def _resident_kib(ring: SlotRing) -> int:
    """Rss of this process's mapping of ``ring`` (/proc/self/smaps), in KiB."""
    address = np.frombuffer(ring._mm, dtype=np.uint8).ctypes.data
    inside = False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if "-" in fields[0] and len(fields) >= 5:        # a mapping's header: start-end perms ...
            start, end = (int(x, 16) for x in fields[0].split("-"))
            inside = start <= address < end
        elif inside and fields[0] == "Rss:":
            return int(fields[1])
    raise AssertionError(f"no mapping of {ring.name} found")


def test_a_fresh_ring_is_mapped_whole_in_producer_and_consumer():
    """No page fault per 4 KiB on the first lap: the first N frames cost what the rest do."""
    name = "streamdet-test-populate"
    producer = SlotRing.create(name, nslots=4, slot_size=1 << 20)
    consumer = SlotRing.attach(name)
    try:
        size_kib = (SHM_DIR / name).stat().st_size // 1024
        assert _resident_kib(producer) >= size_kib - 4
        assert _resident_kib(consumer) >= size_kib - 4
    finally:
        consumer.close()
        producer.close(unlink=True)
