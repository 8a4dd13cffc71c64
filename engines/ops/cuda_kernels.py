"""The CUDA C kernels in engines/ops/cuda/, compiled with CuPy on first use and cached.

KERNELS lists, per source file, every kernel the Python side launches; kernel()
refuses other names, and tests/engines/ops/test_cuda_kernels.py checks each one
is an ``.entry`` of the file's PTX, so the sources and the callers cannot drift.
CuPy is imported only when a kernel is first asked for.
"""
from __future__ import annotations

import functools
from pathlib import Path

CUDA_DIR = Path(__file__).with_name("cuda")

KERNELS: dict[str, tuple[str, ...]] = {
    "nms.cu": ("nms_iou_mask", "nms_greedy_scan"),
    "yolo.cu": ("yolo_v8_best_class", "yolo_v5_best_class"),
    "centernet.cu": ("centernet_peaks",),
    "letterbox.cu": ("letterbox_bilinear",),
}


def kernel(source: str, name: str):
    """The cupy.RawKernel ``name`` from ``engines/ops/cuda/<source>``."""
    if name not in KERNELS.get(source, ()):
        raise ValueError(f"cuda_kernels: {name!r} is not a kernel of {source!r}; "
                         f"known: {KERNELS.get(source, ())}")
    return _module(source).get_function(name)


@functools.lru_cache(maxsize=None)
def _module(source: str):
    import cupy

    path = CUDA_DIR / source
    if not path.is_file():
        raise FileNotFoundError(f"cuda_kernels: CUDA source {path} is missing")
    return cupy.RawModule(code=path.read_text())


def blocks(count: int, threads: int) -> int:
    """Number of blocks of ``threads`` covering ``count`` items (at least 1)."""
    return max(1, (count + threads - 1) // threads)
