"""Post- and preprocessing kernels: box IoU, NMS, YOLO and CenterNet decoding, letterbox.

Each op has a NumPy version (the reference, in its own module), a CuPy twin
(``*_cupy.py`` with CUDA C sources in ``cuda/``) and a torch twin
(``torch_ops.py``, ``letterbox.letterbox_torch``). ``engines.ops.backend``
picks the twin from the input array's type. Importing this package needs only
NumPy (and OpenCV for the letterbox); CuPy and torch load on first use.
"""
from engines.ops.backend import array_module

__all__ = ["array_module"]
