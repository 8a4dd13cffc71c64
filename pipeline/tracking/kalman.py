"""A constant-velocity Kalman filter over boxes, vectorised over all tracks of a stream.

State per track: centre x, centre y, width, height and their velocities per
frame (8 values). Noise scales with the box size (as in SORT/ByteTrack), and a
prediction over a gap of ``g`` frames applies the motion ``g`` times at once, so
frames the newest-frame policy dropped are bridged by the real frame gap.
"""
from __future__ import annotations

import numpy as np

POSITION_NOISE = 1.0 / 20          # std of a position, as a fraction of the box height
VELOCITY_NOISE = 1.0 / 160         # std of a velocity per frame, same units


def xyxy_to_cxcywh(xyxy: np.ndarray) -> np.ndarray:
    xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
    wh = xyxy[:, 2:] - xyxy[:, :2]
    return np.hstack([xyxy[:, :2] + wh / 2, wh])


def cxcywh_to_xyxy(state: np.ndarray) -> np.ndarray:
    centre, wh = state[:, :2], np.maximum(state[:, 2:4], 1e-3)
    return np.hstack([centre - wh / 2, centre + wh / 2])


def _size_scale(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) std multipliers: position noise follows the size of the box."""
    size = np.maximum(boxes[:, 3:4], 1.0)
    return np.repeat(size, 4, axis=1)


def initiate(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Means (N, 8) and covariances (N, 8, 8) of new tracks from their first cx, cy, w, h."""
    n = len(boxes)
    mean = np.hstack([boxes, np.zeros((n, 4))])
    scale = _size_scale(boxes)
    std = np.hstack([2 * POSITION_NOISE * scale, 10 * VELOCITY_NOISE * scale])
    cov = np.zeros((n, 8, 8))
    cov[:, np.arange(8), np.arange(8)] = std ** 2
    return mean, cov


def predict(mean: np.ndarray, cov: np.ndarray, gap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Means and covariances ``gap`` frames ahead (gap: (N,) positive ints or floats).

    The motion F = [[I, g I], [0, I]] is applied by slices, not matrix products:
    F x adds g * velocity to the position, F P F^T adds g * (velocity rows) to the
    position rows, then g * (velocity columns) to the position columns.
    """
    n = len(mean)
    if n == 0:
        return mean, cov
    gap = np.asarray(gap, np.float64).reshape(n, 1)
    scale = _size_scale(mean[:, :4])
    mean = mean.copy()
    mean[:, :4] += gap * mean[:, 4:]
    cov = cov.copy()
    cov[:, :4, :] += gap[:, :, None] * cov[:, 4:, :]
    cov[:, :, :4] += gap[:, None, :] * cov[:, :, 4:]
    diagonal = np.arange(8)
    cov[:, diagonal, diagonal] += np.hstack([POSITION_NOISE * scale, VELOCITY_NOISE * scale]) ** 2 * gap
    return mean, cov


def update(mean: np.ndarray, cov: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correct each track's state with its matched measurement (cx, cy, w, h)."""
    if len(mean) == 0:
        return mean, cov
    scale = _size_scale(mean[:, :4])
    measure_noise = np.zeros((len(mean), 4, 4))
    measure_noise[:, np.arange(4), np.arange(4)] = (POSITION_NOISE * scale) ** 2
    projected = cov[:, :4, :4] + measure_noise
    gain = np.linalg.solve(projected, cov[:, :4, :]).transpose(0, 2, 1)    # (N, 8, 4)
    innovation = boxes - mean[:, :4]
    mean = mean + np.einsum("nij,nj->ni", gain, innovation)
    cov = cov - gain @ cov[:, :4, :]          # gain H P, H = [I 0] picks the measured rows
    return mean, cov
