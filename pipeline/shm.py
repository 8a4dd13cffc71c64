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
  ``released``, and the producer waits until ``seq - N < released + 1``: asleep
  on a futex on that word (pipeline/futex.py), woken by the release.

POSIX shared memory is used directly (open + mmap), not
multiprocessing.shared_memory, whose resource tracker unlinks segments that
other processes still use. Every ring of a run is named ``<run prefix>-...`` so
the supervisor can remove them all, even after a stage was killed.
"""
from __future__ import annotations

import math
import mmap
import os
import secrets
import stat
import struct
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline import futex, validate

SHM_DIR = Path("/dev/shm")
_MAGIC = 0x5354524D44455431  # "STRMDET1"
_HEADER_WORDS = 8            # magic, nslots, slot_size, instance, released, 3 spare
_ALIGN = 64
_MAX_SLOTS = 1 << 16
_MAX_RINGS = 1024            # rings one consumer keeps attached (one per upstream producer)
# Map every page at once: the first lap round a fresh ring would otherwise take a page fault per 4 KiB
# in the producer and again in each consumer (~0.7 ms per 640x480 frame here, on each of the first N frames).
_MAP_FLAGS = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)


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
    def from_wire(cls, w) -> "SlotRef":
        """Checks every field's type and range (not yet that it fits its ring: ``SlotRing.check``)."""
        if not isinstance(w, (list, tuple)) or len(w) != 7:
            raise SlotRefError("a slot reference is [ring, instance, slot, seq, offset, shape, dtype]")
        ring, instance, slot, seq, offset, shape, dtype = w
        try:
            return cls(validate.ring_name(ring), validate.integer(instance, "ring instance"),
                       validate.integer(slot, "slot", 0, _MAX_SLOTS - 1), validate.integer(seq, "seq", 0),
                       validate.integer(offset, "offset", 0), validate.shape(shape, "slot array"),
                       validate.dtype_str(dtype, "slot array"))
        except validate.MessageError as exc:
            raise SlotRefError(str(exc)) from None


class StaleSlot(RuntimeError):
    """The slot was overwritten before the reader was done with it."""


class SlotRefError(validate.MessageError):
    """A reference that names no ring of this run or reaches outside its slot."""


class SlotRing:
    def __init__(self, name: str, fd: int, mm: mmap.mmap, owner: bool) -> None:
        self.name, self._fd, self._mm, self.owner = name, fd, mm, owner
        words = np.frombuffer(mm, dtype=np.int64, count=_HEADER_WORDS)
        if int(words[0]) != _MAGIC:
            raise ValueError(f"shared memory {name} is not a streamdet slot ring")
        self.nslots, self.slot_size, self.instance = int(words[1]), int(words[2]), int(words[3])
        self._ctrl = words
        self._released_low = np.frombuffer(mm, dtype=np.uint32, count=1, offset=4 * 8)  # futex word
        self._released_addr = self._released_low.ctypes.data
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
        mm = mmap.mmap(fd, total, flags=_MAP_FLAGS)
        header = np.frombuffer(mm, dtype=np.int64, count=_HEADER_WORDS + nslots)
        header[:] = 0
        header[_HEADER_WORDS:] = -2          # never written
        header[1:5] = (nslots, slot_size, secrets.randbits(62), -1)
        header[0] = _MAGIC
        del header
        return cls(name, fd, mm, owner=True)

    @classmethod
    def attach(cls, name: str, prefix: str | None = None) -> "SlotRing":
        """Map an existing ring; ``name`` must be a plain ring name (of the run ``prefix`` if given).

        Only a regular file of ours whose control block is consistent with its size is mapped,
        so no reference can open a file elsewhere or fault on a short mapping.
        """
        try:
            validate.ring_name(name, prefix)
        except validate.MessageError as exc:
            raise SlotRefError(str(exc)) from None
        try:
            fd = os.open(SHM_DIR / name, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError as exc:
            raise SlotRefError(f"ring {name}: {exc.strerror}") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
                raise SlotRefError(f"ring {name}: not a shared-memory file of this user")
            _check_layout(name, fd, info.st_size)
            mm = mmap.mmap(fd, info.st_size, flags=_MAP_FLAGS)
        except BaseException:
            os.close(fd)
            raise
        return cls(name, fd, mm, owner=False)

    def close(self, unlink: bool = False) -> None:
        self._ctrl = self._gen = self._released_low = None
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
        if wait and not self.wait_released(seq - self.nslots, timeout_s):
            return None
        slot = seq % self.nslots
        self._gen[slot] = -1
        return slot

    def wait_released(self, seq: int, timeout_s: float) -> bool:
        """Sleep until every message up to ``seq`` is released (True) or ``timeout_s`` passed (False)."""
        deadline = time.monotonic() + timeout_s
        pause = 0.0001
        while True:
            observed = int(self._released_low[0])
            if seq <= self.released:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if futex.AVAILABLE:
                futex.wait(self._released_addr, observed, min(left, 0.1))
            else:
                time.sleep(pause)
                pause = min(pause * 2, 0.002)

    def view(self, slot: int, offset: int, shape, dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        self.check_bounds(slot, offset, shape, dtype.itemsize)
        start = self._data_offset + slot * self.slot_size + offset
        return np.ndarray(shape, dtype=dtype, buffer=self._mm, offset=start)

    def check_bounds(self, slot: int, offset: int, shape, itemsize: int) -> None:
        """Raises SlotRefError unless the array lies inside slot ``slot`` (Python ints: no overflow)."""
        nbytes = math.prod(int(s) for s in shape) * itemsize
        if not 0 <= slot < self.nslots or offset < 0 or offset % itemsize or min(shape, default=0) < 0 \
                or offset + nbytes > self.slot_size:
            raise SlotRefError(f"ring {self.name}: {nbytes} bytes at offset {offset} of slot {slot} "
                               f"do not fit {self.nslots} slots of {self.slot_size} bytes")

    def check(self, ref: SlotRef) -> None:
        """A reference a producer of this ring could have sent: right instance, inside a slot,
        a seq already written (so releasing it can never free slots still in use)."""
        self.check_bounds(ref.slot, ref.offset, ref.shape, np.dtype(ref.dtype).itemsize)
        if ref.instance != self.instance or ref.seq > int(self._gen.max()):
            raise SlotRefError(f"ring {self.name}: no seq {ref.seq} of instance {ref.instance} was written")

    def publish(self, slot: int, seq: int) -> None:
        self._gen[slot] = seq

    # -- consumer side ----------------------------------------------------
    def valid(self, ref: SlotRef) -> bool:
        return (ref.instance == self.instance and 0 <= ref.slot < self.nslots
                and int(self._gen[ref.slot]) == ref.seq)

    def release(self, seq: int) -> None:
        """Mark everything up to ``seq`` as done with (the last holder calls this)."""
        if seq > int(self._ctrl[4]):
            self._ctrl[4] = seq
            if futex.AVAILABLE:
                futex.wake(self._released_addr)


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


def _check_layout(name: str, fd: int, size: int) -> None:
    """The control block of a ring file must describe a layout that fits the file."""
    if size < _HEADER_WORDS * 8:
        raise SlotRefError(f"ring {name}: {size} bytes is too small for a slot ring")
    magic, nslots, slot_size = struct.unpack("<3q", os.pread(fd, 24, 0))
    if magic != _MAGIC or not 0 < nslots <= _MAX_SLOTS or slot_size <= 0 or slot_size % _ALIGN:
        raise SlotRefError(f"shared memory {name} is not a streamdet slot ring")
    if _aligned((_HEADER_WORDS + nslots) * 8) + nslots * slot_size > size:
        raise SlotRefError(f"ring {name}: {nslots} slots of {slot_size} bytes do not fit {size} bytes")


class RingCache:
    """A consumer's attached rings, re-attached when a producer restarted (new instance).

    With a run ``prefix``, only rings named ``<prefix>-...`` are ever opened.
    """

    def __init__(self, prefix: str | None = None) -> None:
        self.prefix = prefix
        self._rings: dict[str, SlotRing] = {}

    def get(self, ref: SlotRef) -> SlotRing:
        ring = self._rings.get(ref.ring)
        if ring is None or ring.instance != ref.instance:
            try:
                validate.ring_name(ref.ring, self.prefix)
            except validate.MessageError as exc:
                raise SlotRefError(str(exc)) from None
            if ring is not None:
                ring.close()
                del self._rings[ref.ring]
            elif len(self._rings) >= _MAX_RINGS:
                raise SlotRefError(f"more than {_MAX_RINGS} rings referenced")
            ring = self._rings[ref.ring] = SlotRing.attach(ref.ring, self.prefix)
        return ring

    def check(self, ref: SlotRef) -> None:
        """Raises SlotRefError unless ``ref`` names a ring of this run and lies inside its slot."""
        self.get(ref).check(ref)

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
