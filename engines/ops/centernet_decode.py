"""CenterNet ("Objects as Points") heads -> boxes, scores, classes for one image, in NumPy.

A detection is a heatmap pixel that equals the maximum of its 3x3 neighbourhood
(pixels outside the map do not count, so a plateau keeps all its pixels). The
K strongest such peaks over all classes become boxes

    (x + reg_x - w / 2, y + reg_y - h / 2, x + reg_x + w / 2, y + reg_y + h / 2) * down_ratio

in network-input pixels, with w, h = wh[0], wh[1] at the peak. Score = sigmoid(logit).

Peaks, the threshold and the ranking all work on the logits (sigmoid is
increasing, so they pick the same pixels as on probabilities, except that
distinct large logits stay distinct where float32 sigmoid would round both to
1.0). Score ties rank by (class, y, x). Only pixels above the threshold are
checked for being peaks, so the cost follows the number of candidates.
"""
from __future__ import annotations

import numpy as np

from engines.ops.thresholds import float32_cut, logit


def centernet_decode(hm, wh, reg, *, k: int = 100, down_ratio: int = 4,
                     score_threshold: float = 0.1):
    """-> (xyxy (K, 4) float32, score (K,) float32, class_id (K,) int32), by descending score."""
    hm, wh, reg = check_centernet_heads(*(np.asarray(a) for a in (hm, wh, reg)))
    hm, wh, reg = (a.astype(np.float32, copy=False) for a in (hm, wh, reg))
    flat = hm.reshape(-1)
    candidates = np.flatnonzero(flat > float32_cut(logit(score_threshold)))
    peaks = candidates[_are_peaks(hm, candidates)]
    logits = flat[peaks]
    order = np.argsort(-logits, kind="stable")[:k]
    peaks, logits = peaks[order], logits[order]
    class_id, y, x = np.unravel_index(peaks, hm.shape)
    centre_x = x.astype(np.float32) + reg[0, y, x]
    centre_y = y.astype(np.float32) + reg[1, y, x]
    half_w, half_h = wh[0, y, x] / 2, wh[1, y, x] / 2
    xyxy = np.stack((centre_x - half_w, centre_y - half_h,
                     centre_x + half_w, centre_y + half_h), axis=1) * np.float32(down_ratio)
    score = (1 / (1 + np.exp(-logits))).astype(np.float32)
    return xyxy.astype(np.float32, copy=False), score, class_id.astype(np.int32)


def check_centernet_heads(hm, wh, reg):
    """Validate shapes: hm (C, H, W), wh and reg (2, H, W); a leading batch axis of 1 is dropped."""
    hm, wh, reg = (a[0] if a.ndim == 4 and a.shape[0] == 1 else a for a in (hm, wh, reg))
    if hm.ndim != 3 or min(hm.shape) < 1:
        raise ValueError(f"centernet_decode: hm must be (C, H, W) logits, got shape {tuple(hm.shape)}")
    expected = (2,) + tuple(hm.shape[1:])
    for name, head in (("wh", wh), ("reg", reg)):
        if tuple(head.shape) != expected:
            raise ValueError(f"centernet_decode: {name} must be {expected} to match hm, "
                             f"got shape {tuple(head.shape)}")
    return hm, wh, reg


def _are_peaks(hm: np.ndarray, flat_index: np.ndarray) -> np.ndarray:
    """True where hm at each flat index is >= all its in-map 3x3 neighbours.

    Neighbour coordinates are clamped to the map: a clamped neighbour is the
    pixel itself or another in-map neighbour, so clamping equals padding with -inf.
    """
    _, height, width = hm.shape
    c, y, x = np.unravel_index(flat_index, hm.shape)
    value = hm[c, y, x]
    is_peak = np.ones(len(flat_index), dtype=bool)
    for dy in (-1, 0, 1):
        ny = np.clip(y + dy, 0, height - 1)
        for dx in (-1, 0, 1):
            if dy or dx:
                nx = np.clip(x + dx, 0, width - 1)
                is_peak &= hm[c, ny, nx] <= value
    return is_peak
