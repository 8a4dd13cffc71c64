"""The NumPy stand-in for CuPy (tests/engines/ops/fake_cupy.py) with device-like memory.

Not a test module. Every array the CuPy twins can hand to a kernel is a fresh copy with a
guard zone after it (launch.py checks it after each launch); ``empty`` is filled with
random bytes as device memory would be, and with ``garbage_zeros=True`` so is ``zeros``
(to show a kernel does not depend on a zeroed buffer).
"""
from __future__ import annotations

import numpy as np

from tests.engines.ops.cuda_cpu.launch import guarded_empty
from tests.engines.ops.fake_cupy import FakeArray, make_fake_cupy


def make_guarded_cupy(rng: np.random.Generator, garbage_zeros: bool = False):
    fake = make_fake_cupy()

    def copy_of(a, dtype=None):
        source = np.asarray(a, dtype=dtype)
        out = guarded_empty(source.shape, source.dtype)
        out[...] = source
        return out.view(FakeArray)

    def empty(shape, dtype=float):
        return guarded_empty(shape, dtype, rng).view(FakeArray)

    def zeros(shape, dtype=float):
        out = guarded_empty(shape, dtype, rng if garbage_zeros else None)
        return out.view(FakeArray)

    fake.asarray = copy_of
    fake.ascontiguousarray = copy_of
    fake.empty, fake.zeros = empty, zeros
    fake.EMULATED = True
    fake.SHIM = True
    return fake
