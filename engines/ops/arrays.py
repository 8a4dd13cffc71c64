"""Which array library an array belongs to, without importing CuPy or torch.

The ops come in NumPy, CuPy and torch twins. These helpers tell them apart by
looking only at libraries that are already imported: an array of a library
that was never imported cannot exist, so ``import engines.ops`` never pulls in
CuPy (which may be absent) or torch (which is slow to import).
"""
from __future__ import annotations

import sys
from types import ModuleType

import numpy as np


def is_cupy(x) -> bool:
    cupy = sys.modules.get("cupy")
    return cupy is not None and isinstance(x, cupy.ndarray)


def is_torch(x) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def array_module(x) -> ModuleType:
    """numpy for NumPy arrays (and anything array-like), cupy for CuPy arrays."""
    if is_cupy(x):
        return sys.modules["cupy"]
    if is_torch(x):
        raise TypeError("array_module: got a torch tensor; use the torch ops "
                        "(engines.ops.torch_ops) or convert it with .numpy()")
    return np


def to_host(x) -> np.ndarray:
    """NumPy view of a NumPy, CuPy or torch array (Detections hold NumPy arrays)."""
    if is_torch(x):
        return x.detach().cpu().numpy()
    if is_cupy(x):
        return x.get()
    return np.asarray(x)
