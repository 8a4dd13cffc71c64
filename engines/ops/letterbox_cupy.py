"""CuPy twin of engines.ops.letterbox.letterbox_numpy: one fused kernel per frame.

Frame (H, W, 3) uint8 BGR CuPy array -> (3, spec.height, spec.width) CuPy array
of spec.dtype plus the Letterbox. The kernel (cuda/letterbox.cu) samples like
torch's bilinear F.interpolate, so it matches letterbox_torch to float rounding
and letterbox_numpy to within cv2's 8-bit rounding (under 1 grey level).
"""
from __future__ import annotations

import numpy as np

from engines.core.letterbox import Letterbox
from engines.core.spec import PreprocessSpec
from engines.ops.cuda_kernels import blocks, kernel
from engines.ops.letterbox import check_frame

BLOCK = (32, 8)


def letterbox_cupy(frame_bgr, spec: PreprocessSpec, out=None):
    """-> (tensor (3, spec.height, spec.width) of spec.dtype, Letterbox); fills ``out`` if given."""
    import cupy
    frame = cupy.ascontiguousarray(check_frame(frame_bgr, "letterbox_cupy"))
    src_h, src_w = frame.shape[:2]
    box = Letterbox.fit(src_h, src_w, spec)
    out = _output_array(out, spec)
    target = out if out.dtype == cupy.float32 else cupy.empty(out.shape, dtype=cupy.float32)
    mean = np.asarray(spec.mean, dtype=np.float32)
    std = np.asarray(spec.std, dtype=np.float32)
    pad = (np.float32(spec.pad_value) / np.float32(255) - mean) / std
    channels = (2, 1, 0) if spec.channel_order == "rgb" else (0, 1, 2)
    kernel("letterbox.cu", "letterbox_bilinear")(
        (blocks(spec.width, BLOCK[0]), blocks(spec.height, BLOCK[1])), BLOCK,
        (frame, np.int32(src_h), np.int32(src_w), target, np.int32(spec.height),
         np.int32(spec.width), np.int32(box.pad_y), np.int32(box.pad_x),
         np.int32(box.resized_h), np.int32(box.resized_w),
         np.float32(src_h) / np.float32(box.resized_h), np.float32(src_w) / np.float32(box.resized_w),
         cupy.asarray(channels, dtype=cupy.int32), cupy.asarray(mean), cupy.asarray(std),
         cupy.asarray(pad)))
    if target is not out:
        out[...] = target
    return out, box


def _output_array(out, spec: PreprocessSpec):
    import cupy
    expected = (3, spec.height, spec.width)
    if out is None:
        return cupy.empty(expected, dtype=spec.dtype)
    if not isinstance(out, cupy.ndarray) or tuple(out.shape) != expected \
            or out.dtype != np.dtype(spec.dtype) or not out.flags.c_contiguous:
        raise ValueError(f"letterbox_cupy: out must be a contiguous CuPy array {expected} "
                         f"{spec.dtype}, got {type(out).__name__} {getattr(out, 'shape', None)}")
    return out
