"""CuPy twin of engines.ops.centernet_decode: same signature, CuPy arrays in and out.

The 3x3 peak test runs as a kernel (cuda/centernet.cu), one thread per pixel;
ranking (stable sort of the peak logits) and box building use CuPy with the
same float32 steps as the NumPy twin, so boxes and classes are identical and
scores agree to float32 rounding of exp().
"""
from __future__ import annotations

import numpy as np

from engines.ops.centernet_decode import check_centernet_heads
from engines.ops.cuda_kernels import blocks, kernel
from engines.ops.thresholds import float32_cut, logit

THREADS = 256


def centernet_decode(hm, wh, reg, *, k: int = 100, down_ratio: int = 4,
                     score_threshold: float = 0.1):
    """-> (xyxy (K, 4) float32, score (K,) float32, class_id (K,) int32) as CuPy arrays."""
    import cupy
    hm, wh, reg = check_centernet_heads(*(cupy.asarray(a) for a in (hm, wh, reg)))
    hm, wh, reg = (cupy.ascontiguousarray(a, dtype=cupy.float32) for a in (hm, wh, reg))
    planes, height, width = hm.shape
    is_peak = cupy.empty(hm.size, dtype=cupy.uint8)
    kernel("centernet.cu", "centernet_peaks")(
        (blocks(hm.size, THREADS),), (THREADS,),
        (hm, np.int32(planes), np.int32(height), np.int32(width),
         float32_cut(logit(score_threshold)), is_peak))
    peaks = cupy.flatnonzero(is_peak)
    logits = hm.reshape(-1)[peaks]
    order = cupy.argsort(-logits)[:k]          # CuPy sorts are stable
    peaks, logits = peaks[order], logits[order]
    class_id = peaks // (height * width)
    y = (peaks // width) % height
    x = peaks % width
    centre_x = x.astype(cupy.float32) + reg[0, y, x]
    centre_y = y.astype(cupy.float32) + reg[1, y, x]
    half_w, half_h = wh[0, y, x] / 2, wh[1, y, x] / 2
    xyxy = cupy.stack((centre_x - half_w, centre_y - half_h,
                       centre_x + half_w, centre_y + half_h), axis=1) * np.float32(down_ratio)
    score = (1 / (1 + cupy.exp(-logits))).astype(cupy.float32)
    return xyxy.astype(cupy.float32, copy=False), score, class_id.astype(cupy.int32)
