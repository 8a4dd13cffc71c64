"""array_module and the is_* checks, without importing CuPy."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from engines.ops.arrays import array_module, is_cupy, is_torch

ROOT = Path(__file__).resolve().parents[3]


def test_numpy_and_lists_use_numpy():
    assert array_module(np.zeros(3)) is np
    assert array_module([1, 2]) is np
    assert not is_cupy(np.zeros(3)) and not is_torch(np.zeros(3))


def test_torch_tensor_is_recognised_and_refused():
    assert is_torch(torch.zeros(2))
    with pytest.raises(TypeError, match="torch tensor"):
        array_module(torch.zeros(2))


def test_importing_the_ops_pulls_in_neither_cupy_nor_torch():
    modules = ("backend", "nms", "nms_cupy", "yolo_decode", "yolo_decode_cupy", "centernet_decode",
               "centernet_decode_cupy", "letterbox", "letterbox_cupy", "cuda_kernels", "bench")
    code = "; ".join([f"import engines.ops.{m}" for m in modules] + [
        "import sys", "assert 'cupy' not in sys.modules, 'cupy imported'",
        "assert 'torch' not in sys.modules, 'torch imported'"])
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
