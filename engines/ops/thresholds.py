"""Exact float32 stand-ins for Python-float thresholds.

``x > 0.6`` on a float32 array means different things depending on whether the
library rounds 0.6 to float32 first (NumPy 2 and torch do, CUDA code may not).
The twins all compare against ``float32_cut(t)`` instead: the largest float32
``c`` with ``c <= t``, for which ``x > c`` holds exactly when ``x > t`` does for
every float32 ``x`` (no float32 lies in ``(c, t]``). So every twin draws the line
in the same place, and that place is the real number ``t``.
"""
from __future__ import annotations

import math

import numpy as np


def float32_cut(threshold: float) -> np.float32:
    """Largest float32 not above ``threshold`` (use with a strict ``>``)."""
    threshold = float(threshold)
    if math.isnan(threshold):
        raise ValueError("threshold must be a number, got NaN")
    cut = np.float32(threshold)
    if float(cut) > threshold:
        cut = np.nextafter(cut, np.float32(-np.inf))
    return cut


def logit(p: float) -> float:
    """Inverse sigmoid in float64: sigmoid(x) > p  <=>  x > logit(p) for 0 < p < 1."""
    p = float(p)
    if p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return math.inf
    return math.log(p) - math.log1p(-p)
