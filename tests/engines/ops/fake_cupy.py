"""A NumPy stand-in for CuPy, so the CuPy twins' host code runs and is checked without a GPU.

Not a test module. ``make_fake_cupy()`` returns a module with the few CuPy
functions the twins use; its arrays are a NumPy subclass so ``is_cupy`` tells
them apart. ``RawModule`` parses the real .cu source: every launch is checked
against the kernel's C signature (argument count, pointer dtypes, int32/float32
scalars, launch shape) and then emulated in NumPy, following the kernel's
documented arithmetic. What this cannot check is the CUDA C itself; the PTX
test compiles it and the ``gpu`` tests run it.
"""
from __future__ import annotations

import re
import types

import numpy as np

POINTER_DTYPES = {"float": np.float32, "int": np.int32, "unsigned char": np.uint8,
                  "unsigned long long": np.uint64}
SCALAR_DTYPES = {"int": np.int32, "float": np.float32, "double": np.float64}


class FakeArray(np.ndarray):
    """A 'device' array: plain NumPy memory with its own type."""


def _dev(a):
    return np.asarray(a).view(FakeArray)


def parse_kernels(code: str) -> dict[str, list[tuple[str, bool]]]:
    """kernel name -> [(base C type, is_pointer)] for every extern "C" __global__ function."""
    kernels = {}
    for name, params in re.findall(r'extern "C" __global__ void (\w+)\(([^)]*)\)', code):
        parsed = []
        for param in params.split(","):
            words = [w for w in param.replace("*", " * ").split()
                     if w not in ("const", "__restrict__")]
            is_pointer = "*" in words
            base = " ".join(w for w in words[:-1] if w != "*")
            parsed.append((base, is_pointer))
        kernels[name] = parsed
    return kernels


class FakeKernel:
    def __init__(self, name, params, emulate):
        self.name, self.params, self.emulate = name, params, emulate

    def __call__(self, grid, block, args, shared_mem=0):
        assert isinstance(grid, tuple) and isinstance(block, tuple), f"{self.name}: grid/block"
        assert all(isinstance(v, int) and v > 0 for v in grid + block), f"{self.name}: {grid} {block}"
        assert int(np.prod(block)) <= 1024, f"{self.name}: block {block} too large"
        assert len(args) == len(self.params), \
            f"{self.name}: {len(args)} arguments for {len(self.params)} parameters"
        for position, (arg, (base, is_pointer)) in enumerate(zip(args, self.params)):
            if is_pointer:
                assert isinstance(arg, FakeArray) and arg.dtype == POINTER_DTYPES[base] \
                    and arg.flags.c_contiguous, \
                    f"{self.name}: argument {position} must be a contiguous {base} device array"
            else:
                assert type(arg) is SCALAR_DTYPES[base], \
                    f"{self.name}: argument {position} must be {SCALAR_DTYPES[base].__name__}, " \
                    f"got {type(arg).__name__}"
        self.emulate(grid, block, shared_mem, *args)


# ----- kernel emulators: same arithmetic as engines/ops/cuda/*.cu ---------------------------

def _nms_iou_mask(grid, block, shared_mem, boxes, class_ids, use_classes, n, cut, mask):
    n, tiles = int(n), (int(n) + 63) // 64
    assert grid == (tiles, tiles) and block == (64,) and mask.shape == (n, tiles)
    x1, y1, x2, y2 = boxes.reshape(n, 4).T.view(np.ndarray)
    area = (x2 - x1) * (y2 - y1)
    w = np.maximum(np.minimum(x2[:, None], x2[None]) - np.maximum(x1[:, None], x1[None]), 0)
    h = np.maximum(np.minimum(y2[:, None], y2[None]) - np.maximum(y1[:, None], y1[None]), 0)
    inter = w * h
    with np.errstate(invalid="ignore", divide="ignore"):
        bits = (inter / (area[:, None] + area[None] - inter)) > cut
    bits &= np.triu(np.ones((n, n), bool), k=1)
    if use_classes:
        ids = class_ids.view(np.ndarray)[:n]
        bits &= ids[:, None] == ids[None]
    padded = np.zeros((n, tiles * 64), bool)
    padded[:, :n] = bits
    weights = np.uint64(1) << np.arange(64, dtype=np.uint64)
    words = (padded.reshape(n, tiles, 64).astype(np.uint64) * weights).sum(axis=2, dtype=np.uint64)
    mask[...] = words


def _nms_greedy_scan(grid, block, shared_mem, mask, n, keep):
    n, tiles = int(n), (int(n) + 63) // 64
    assert grid == (1,) and shared_mem == tiles * 8 <= 48 * 1024
    bits = np.unpackbits(mask.view(np.ndarray).view(np.uint8).reshape(n, tiles, 8),
                         axis=2, bitorder="little").reshape(n, tiles * 64).astype(bool)
    removed = np.zeros(tiles * 64, bool)
    for i in range(n):
        keep[i] = not removed[i]
        if keep[i]:
            removed |= bits[i]


def _yolo_best_class(layout):
    def emulate(grid, block, shared_mem, pred, n, classes, best, best_class):
        n, classes = int(n), int(classes)
        assert grid[0] * block[0] >= n
        if layout == "v8":
            scores = pred.view(np.ndarray).reshape(4 + classes, n)[4:]
            best[...], best_class[...] = scores.max(axis=0), scores.argmax(axis=0)
        else:
            rows = pred.view(np.ndarray).reshape(n, 5 + classes)
            objectness = rows[:, 4:5]
            best[...] = objectness[:, 0] * rows[:, 5:].max(axis=1)
            best_class[...] = (objectness * rows[:, 5:]).argmax(axis=1)
    return emulate


def _centernet_peaks(grid, block, shared_mem, hm, planes, height, width, cut, is_peak):
    shape = (int(planes), int(height), int(width))
    assert grid[0] * block[0] >= int(np.prod(shape))
    maps = hm.view(np.ndarray).reshape(shape)
    padded = np.pad(maps, ((0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(1, 2))
    is_peak[...] = ((maps >= windows.max(axis=(3, 4))) & (maps > cut)).reshape(-1)


def _letterbox_bilinear(grid, block, shared_mem, frame, src_h, src_w, out, out_h, out_w, top,
                        left, resized_h, resized_w, scale_y, scale_x, source_channel, mean, std,
                        pad):
    assert grid[0] * block[0] >= out_w and grid[1] * block[1] >= out_h
    image = frame.view(np.ndarray).reshape(int(src_h), int(src_w), 3).astype(np.float32)
    planes = out.view(np.ndarray).reshape(3, int(out_h), int(out_w))
    planes[...] = pad.view(np.ndarray)[:, None, None]

    def taps(count, scale, size):
        src = np.maximum((np.arange(count, dtype=np.float32) + np.float32(0.5)) * scale
                         - np.float32(0.5), np.float32(0))
        low = np.minimum(src.astype(np.int64), size - 1)
        return low, np.minimum(low + 1, size - 1), src - low

    y0, y1, fy = taps(int(resized_h), scale_y, int(src_h))
    x0, x1, fx = taps(int(resized_w), scale_x, int(src_w))
    for c in range(3):
        s = int(source_channel[c])
        top_row = (1 - fx) * image[y0][:, x0, s] + fx * image[y0][:, x1, s]
        bottom_row = (1 - fx) * image[y1][:, x0, s] + fx * image[y1][:, x1, s]
        value = (1 - fy[:, None]) * top_row + fy[:, None] * bottom_row
        planes[c, top:top + resized_h, left:left + resized_w] = (value / 255 - mean[c]) / std[c]


EMULATORS = {"nms_iou_mask": _nms_iou_mask, "nms_greedy_scan": _nms_greedy_scan,
             "yolo_v8_best_class": _yolo_best_class("v8"),
             "yolo_v5_best_class": _yolo_best_class("v5"),
             "centernet_peaks": _centernet_peaks, "letterbox_bilinear": _letterbox_bilinear}


class FakeRawModule:
    def __init__(self, code: str, **_):
        self.kernels = parse_kernels(code)

    def get_function(self, name: str) -> FakeKernel:
        if name not in self.kernels:
            raise KeyError(f"no kernel {name!r} in the source")
        return FakeKernel(name, self.kernels[name], EMULATORS[name])


def make_fake_cupy() -> types.ModuleType:
    fake = types.ModuleType("cupy")
    fake.ndarray = FakeArray
    for name in ("float16", "float32", "float64", "int32", "int64", "uint8", "uint64"):
        setattr(fake, name, getattr(np, name))
    fake.asarray = lambda a, dtype=None: _dev(np.asarray(a, dtype=dtype))
    fake.ascontiguousarray = lambda a, dtype=None: _dev(np.ascontiguousarray(a, dtype=dtype))
    fake.zeros = lambda shape, dtype=float: _dev(np.zeros(shape, dtype))
    fake.empty = lambda shape, dtype=float: _dev(np.empty(shape, dtype))
    fake.argsort = lambda a: _dev(np.argsort(a, kind="stable"))
    fake.flatnonzero = lambda a: _dev(np.flatnonzero(a))
    fake.stack = lambda arrays, axis=0: _dev(np.stack(arrays, axis=axis))
    fake.exp = lambda a: _dev(np.exp(a))
    fake.asnumpy = lambda a: np.array(a).view(np.ndarray)
    fake.RawModule = FakeRawModule
    return fake
