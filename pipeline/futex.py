"""Sleep until a word in shared memory changes: Linux futexes across processes, through ctypes.

A producer whose slot ring is full used to poll the ring's ``released`` word with
sleeps of up to 2 ms: about ten wake-ups per frame while the inference stage was the
bottleneck, each one taking a core from the engine's threads. ``wait`` blocks in the
kernel until the consumer's ``wake`` (or the timeout); the kernel compares the word
first, so a release between reading it and waiting is never missed. The words live in
a shared file mapping, so the futexes are the shared kind (no FUTEX_PRIVATE_FLAG).
Elsewhere (no Linux, no libc syscall) ``AVAILABLE`` is False and callers poll.
"""
from __future__ import annotations

import ctypes
import os
import platform

_SYS_FUTEX = {"x86_64": 202, "aarch64": 98}.get(platform.machine())
_FUTEX_WAIT, _FUTEX_WAKE = 0, 1
_WAKE_ALL = 0x7FFFFFFF


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def _libc():
    if _SYS_FUTEX is None or os.name != "posix" or platform.system() != "Linux":
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _libc()
AVAILABLE = _LIBC is not None


def wait(address: int, expected: int, timeout_s: float) -> None:
    """Sleep while the 32-bit word at ``address`` equals ``expected``, at most ``timeout_s``.

    Returns on a wake, a timeout, a signal or a word that already differs; the caller
    re-reads what it waits for.
    """
    timeout = _Timespec(int(timeout_s), int((timeout_s % 1) * 1e9))
    _LIBC.syscall(_SYS_FUTEX, ctypes.c_void_p(address), _FUTEX_WAIT, ctypes.c_uint32(expected),
                  ctypes.byref(timeout), None, 0)


def wake(address: int) -> None:
    """Wake every process waiting on the word at ``address``."""
    _LIBC.syscall(_SYS_FUTEX, ctypes.c_void_p(address), _FUTEX_WAKE, _WAKE_ALL, None, None, 0)
