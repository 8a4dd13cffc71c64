"""Launch a kernel of a shim-built .so with the arguments CuPy's RawKernel takes.

Not a test module. ``CpuKernel(lib, name)(grid, block, args, shared_mem=0)``: grid and
block are tuples of 1-3 positive ints, args a tuple of device arrays and NumPy scalars.
Every argument is checked against the kernel's C parameter types as the .so reports
them (a pointer needs a C-contiguous array of exactly that dtype, an int an np.int32,
a float an np.float32: what CuPy would otherwise pass with another width), then the
.so runs the grid (see cuda_shim.h). Arrays made by guarded_cupy carry a guard zone
after their last byte; a launch that writes past an array's end fails here.
"""
from __future__ import annotations

import ctypes
import itertools
import weakref

import numpy as np

CODES = {"f32": np.float32, "f64": np.float64, "i32": np.int32, "u32": np.uint32,
         "i64": np.int64, "u64": np.uint64, "u8": np.uint8}
SCALARS = {np.float32: ctypes.c_float, np.float64: ctypes.c_double, np.int32: ctypes.c_int32,
           np.uint32: ctypes.c_uint32, np.int64: ctypes.c_int64, np.uint64: ctypes.c_uint64,
           np.uint8: ctypes.c_uint8}
_seeds = itertools.count(1)


class ShimLaunchError(RuntimeError):
    """The shim refused or aborted a launch (limits, divergent barrier, guard overwritten)."""


def set_seed(seed: int) -> None:
    """Restart the per-launch schedule seeds (block and thread order, shared garbage)."""
    global _seeds
    _seeds = itertools.count(seed)


class CpuKernel:
    def __init__(self, library: ctypes.CDLL, name: str):
        self.name = name
        sig = getattr(library, f"cuda_shim_signature_{name}")
        sig.restype = ctypes.c_char_p
        self.params = sig().decode().split(",") if sig() else []
        self._launch = getattr(library, f"cuda_shim_launch_{name}")
        self._launch.restype = ctypes.c_int
        self._launch.argtypes = [ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(ctypes.c_uint),
                                 ctypes.c_size_t, ctypes.POINTER(ctypes.c_void_p),
                                 ctypes.c_ulonglong, ctypes.c_char_p, ctypes.c_size_t]

    def __call__(self, grid, block, args, shared_mem=0):
        if len(args) != len(self.params):
            raise TypeError(f"{self.name}: {len(args)} arguments for {len(self.params)} parameters")
        holders = [self._holder(position, arg, param)
                   for position, (arg, param) in enumerate(zip(args, self.params))]
        pointers = (ctypes.c_void_p * max(1, len(holders)))(
            *[ctypes.cast(ctypes.pointer(h), ctypes.c_void_p) for h in holders])
        error = ctypes.create_string_buffer(512)
        failed = self._launch(_dims(grid, self.name), _dims(block, self.name), int(shared_mem),
                              pointers, next(_seeds), error, len(error))
        if failed:
            raise ShimLaunchError(f"{self.name}: {error.value.decode()}")
        for position, (arg, param) in enumerate(zip(args, self.params)):
            if param.endswith("*"):
                check_guard(arg, f"{self.name}: argument {position}")

    def _holder(self, position: int, arg, param: str):
        where = f"{self.name}: argument {position} ({param})"
        if param.endswith("*"):
            dtype = CODES[param[:-1]]
            if not isinstance(arg, np.ndarray) or arg.dtype != dtype or not arg.flags.c_contiguous:
                raise TypeError(f"{where} must be a C-contiguous {np.dtype(dtype)} device array, "
                                f"got {type(arg).__name__} {getattr(arg, 'dtype', '')}")
            return ctypes.c_void_p(arg.ctypes.data)
        dtype = CODES[param]
        if type(arg) is not dtype:
            raise TypeError(f"{where} must be {dtype.__name__}, got {type(arg).__name__}")
        return SCALARS[dtype](arg.item())


def _dims(dims, name: str):
    if not isinstance(dims, tuple) or not 1 <= len(dims) <= 3 \
            or not all(isinstance(v, int) and v > 0 for v in dims):
        raise TypeError(f"{name}: grid and block must be tuples of 1-3 positive ints, got {dims!r}")
    padded = tuple(dims) + (1,) * (3 - len(dims))
    return (ctypes.c_uint * 3)(*padded)


# ----- guard zones -------------------------------------------------------------------------
GUARD_BYTES = 256
GUARD_BYTE = 0xA5
_guards: dict[int, tuple[weakref.ref, int]] = {}


def guarded_empty(shape, dtype, rng: np.random.Generator | None = None) -> np.ndarray:
    """An uninitialised-looking array (random bytes when rng is given) with a guard zone after it."""
    dtype = np.dtype(dtype)
    count = int(np.prod(shape, dtype=np.int64))
    nbytes = count * dtype.itemsize
    base = np.empty(nbytes + GUARD_BYTES + 64, np.uint8)
    start = (-base.ctypes.data) % 64
    body = base[start:start + nbytes]
    body[...] = rng.integers(0, 256, nbytes, dtype=np.uint8) if rng is not None else 0
    base[start + nbytes:start + nbytes + GUARD_BYTES] = GUARD_BYTE
    array = body.view(dtype).reshape(shape)
    if nbytes:
        if len(_guards) > 10_000:
            for address in [a for a, (ref, _) in _guards.items() if ref() is None]:
                del _guards[address]
        _guards[array.ctypes.data] = (weakref.ref(base), start + nbytes)
    return array


def check_guard(array: np.ndarray, where: str) -> None:
    if array.nbytes == 0 or array.ctypes.data not in _guards:
        return
    ref, end = _guards[array.ctypes.data]
    base = ref()
    if base is not None and not (base[end:end + GUARD_BYTES] == GUARD_BYTE).all():
        raise ShimLaunchError(f"{where}: the kernel wrote past the end of the array")
