"""Shared-memory slot rings: where pixels and tensors live between stages on one machine.

A ring is one file in /dev/shm holding a small control block and N equal slots.
The producing stage owns the ring and writes message ``seq`` into slot
``seq % N``; ZeroMQ carries only a reference (ring name, instance, slot, seq).

Safety without locks:
- every slot has a generation word: -1 while being written, then the seq it
  holds. A reader checks the generation before and after using the slot (a
  seqlock); a mismatch means the producer overwrote it and the frame is
  dropped as stale, never read torn.
- with the "wait" policy the producer never overwrites unreleased data: the
  last stage that holds a reference stores the highest seq it is done with in
  ``released``, and the producer waits until ``seq - N < released + 1``.

POSIX shared memory is used directly (open + mmap), not
multiprocessing.shared_memory, whose resource tracker unlinks segments that
other processes still use. Every ring of a run is named ``<run prefix>-...`` so
the supervisor can remove them all, even after a stage was killed.
"""
from __future__ import annotations

import mmap
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SHM_DIR = Path("/dev/shm")
_MAGIC = 0x5354524D44455431  # "STRMDET1"
_HEADER_WORDS = 8            # magic, nslots, slot_size, instance, released, 3 spare
_ALIGN = 64


def _aligned(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


@dataclass(frozen=True)
class SlotRef:
    """Where one array of a message lives: ring, which instance of it, slot, seq, layout."""
    ring: str
    instance: int
    slot: int
    seq: int
    offset: int
    shape: tuple[int, ...]
    dtype: str

    def to_wire(self) -> list:
        return [self.ring, self.instance, self.slot, self.seq, self.offset, list(self.shape), self.dtype]

    @classmethod
    def from_wire(cls, w: list) -> "SlotRef":
        ring, instance, slot, seq, offset, shape, dtype = w
        return cls(str(ring), int(instance), int(slot), int(seq), int(offset),
                   tuple(int(s) for s in shape), str(dtype))


class StaleSlot(RuntimeError):
    """The slot was overwritten before the reader was done with it."""


class SlotRing:
    def __init__(self, name: str, fd: int, mm: mmap.mmap, owner: bool) -> None:
        self.name, self._fd, self._mm, self.owner = name, fd, mm, owner
        words = np.frombuffer(mm, dtype=np.int64, count=_HEADER_WORDS)
        if int(words[0]) != _MAGIC:
            raise ValueError(f"shared memory {name} is not a streamdet slot ring")
        self.nslots, self.slot_size, self.instance = int(words[1]), int(words[2]), int(words[3])
        self._ctrl = words
        self._gen = np.frombuffer(mm, dtype=np.int64, count=self.nslots, offset=_HEADER_WORDS * 8)
        self._data_offset = _aligned((_HEADER_WORDS + self.nslots) * 8)

    # -- life cycle -------------------------------------------------------
    @classmethod
    def create(cls, name: str, nslots: int, slot_size: int) -> "SlotRing":
        slot_size = _aligned(slot_size)
        total = _aligned((_HEADER_WORDS + nslots) * 8) + nslots * slot_size
        path = SHM_DIR / name
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        os.ftruncate(fd, total)
        mm = mmap.mmap(fd, total)
        header = np.frombuffer(mm, dtype=np.int64, count=_HEADER_WORDS + nslots)
        header[:] = 0
        header[_HEADER_WORDS:] = -2          # never written
        header[1:5] = (nslots, slot_size, secrets.randbits(62), -1)
        header[0] = _MAGIC
        del header
        return cls(name, fd, mm, owner=True)

    @classmethod
    def attach(cls, name: str) -> "SlotRing":
        fd = os.open(SHM_DIR / name, os.O_RDWR)
        mm = mmap.mmap(fd, os.fstat(fd).st_size)
        return cls(name, fd, mm, owner=False)

    def close(self, unlink: bool = False) -> None:
        self._ctrl = self._gen = None
        try:
            self._mm.close()
        except BufferError:
            pass   # a view is still alive somewhere; the mapping goes with the process
        os.close(self._fd)
        if unlink:
            (SHM_DIR / self.name).unlink(missing_ok=True)

    # -- producer side ----------------------------------------------------
    @property
    def released(self) -> int:
        return int(self._ctrl[4])

    def reserve(self, seq: int, wait: bool, timeout_s: float = 1.0) -> int | None:
        """Claim the slot for ``seq``; with ``wait``, block until its old data is released.

        Returns the slot index, or None when waiting timed out (the caller retries
        or gives up, so a stop request is never blocked for long).
        """
        if wait:
            deadline = time.monotonic() + timeout_s
            pause = 0.0001
            while seq - self.nslots > self.released:
                if time.monotonic() > deadline:
                    return None
                time.sleep(pause)
                pause = min(pause * 2, 0.002)
        slot = seq % self.nslots
        self._gen[slot] = -1
        return slot

    def view(self, slot: int, offset: int, shape, dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape)) * dtype.itemsize
        if offset + nbytes > self.slot_size:
            raise ValueError(f"ring {self.name}: {nbytes} bytes at offset {offset} "
                             f"do not fit a slot of {self.slot_size}")
        start = self._data_offset + slot * self.slot_size + offset
        return np.ndarray(shape, dtype=dtype, buffer=self._mm, offset=start)

    def publish(self, slot: int, seq: int) -> None:
        self._gen[slot] = seq

    # -- consumer side ----------------------------------------------------
    def valid(self, ref: SlotRef) -> bool:
        return ref.instance == self.instance and int(self._gen[ref.slot]) == ref.seq

    def release(self, seq: int) -> None:
        """Mark everything up to ``seq`` as done with (the last holder calls this)."""
        if seq > int(self._ctrl[4]):
            self._ctrl[4] = seq


class SlotWriter:
    """Packs the arrays of one message into one slot: reserve, allocate views, commit."""

    def __init__(self, ring: SlotRing, seq: int, slot: int) -> None:
        self.ring, self.seq, self.slot, self._offset = ring, seq, slot, 0
        self.refs: dict[str, SlotRef] = {}

    def array(self, name: str, shape, dtype) -> np.ndarray:
        shape = tuple(int(s) for s in shape)
        view = self.ring.view(self.slot, self._offset, shape, dtype)
        self.refs[name] = SlotRef(self.ring.name, self.ring.instance, self.slot, self.seq,
                                  self._offset, shape, np.dtype(dtype).str)
        self._offset = _aligned(self._offset + view.nbytes)
        return view

    def commit(self) -> dict[str, SlotRef]:
        self.ring.publish(self.slot, self.seq)
        return self.refs


class RingCache:
    """A consumer's attached rings, re-attached when a producer restarted (new instance)."""

    def __init__(self) -> None:
        self._rings: dict[str, SlotRing] = {}

    def get(self, ref: SlotRef) -> SlotRing:
        ring = self._rings.get(ref.ring)
        if ring is None or ring.instance != ref.instance:
            if ring is not None:
                ring.close()
            ring = self._rings[ref.ring] = SlotRing.attach(ref.ring)
        return ring

    def resolve(self, ref: SlotRef) -> np.ndarray:
        ring = self.get(ref)
        if not ring.valid(ref):
            raise StaleSlot(f"{ref.ring} slot {ref.slot} no longer holds seq {ref.seq}")
        return ring.view(ref.slot, ref.offset, ref.shape, ref.dtype)

    def forget_stream(self, prefix: str, stream: str) -> None:
        """Detach from every ring of ``stream`` (``<prefix>-<stage>.<stream>``): it was removed."""
        def of_stream(name: str) -> bool:     # <prefix>-<stage kind>.<stream>; kinds have no dot
            head, _, rest = name.partition(f"{prefix}-")
            return not head and rest.partition(".")[2] == stream
        for name in [n for n in self._rings if of_stream(n)]:
            self._rings.pop(name).close()

    def close(self) -> None:
        for ring in self._rings.values():
            ring.close()
        self._rings.clear()


def remove_run_segments(prefix: str) -> list[str]:
    """Unlink every ring of a run (the supervisor's last word). Returns the names removed."""
    removed = []
    for path in SHM_DIR.glob(f"{prefix}-*"):
        path.unlink(missing_ok=True)
        removed.append(path.name)
    return removed


def remove_orphan_segments() -> list[str]:
    """Unlink segments of runs whose supervisor no longer exists (one killed with SIGKILL).

    Names are ``streamdet-<supervisor pid>-<run id>-...``; a segment whose pid is
    gone belongs to nobody.
    """
    removed = []
    for path in SHM_DIR.glob("streamdet-*-*"):
        pid = path.name.split("-")[1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            path.unlink(missing_ok=True)
            removed.append(path.name)
    return removed
