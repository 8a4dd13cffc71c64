"""Passers: synthetic objects that enter the frame from a border, cross it in a straight line and leave.

The bouncing objects of an epoch stay in view the whole epoch; passers give a
tracker objects that appear, leave, and cross (and hide) the others. They come
from their own random stream, so the bouncing objects of a seed are unchanged.
"""
from __future__ import annotations

import numpy as np

PASSER_RANGE = (1, 3)              # passers per epoch (inclusive)
PASSER_SPEED = (1.5, 4.0)          # px/frame at 480 px short side
PASSER_START = (0, 150)            # frame of the epoch at which a passer enters (inclusive)


def passer_parameters(rng: np.random.Generator, width: int, height: int, radius_of) -> dict:
    """Class-free motion of this epoch's passers: radius, entry point, velocity, entry frame."""
    count = int(rng.integers(PASSER_RANGE[0], PASSER_RANGE[1] + 1))
    radius = radius_of(count)
    side = rng.integers(0, 4, size=count)
    along = rng.uniform(0.1, 0.9, size=count)
    size = np.array([width, height], np.float64)
    outside = np.where(side[:, None] % 2 == 0, -radius[:, None], size + radius[:, None])
    start = np.where((side < 2)[:, None],                       # 0/1: left/right border, 2/3: top/bottom
                     np.stack([outside[:, 0], along * height], axis=1),
                     np.stack([along * width, outside[:, 1]], axis=1))
    target = rng.uniform(0.2, 0.8, size=(count, 2)) * size
    heading = target - start
    heading /= np.linalg.norm(heading, axis=1, keepdims=True)
    speed = rng.uniform(*PASSER_SPEED, size=count) * min(width, height) / 480
    entry = rng.integers(PASSER_START[0], PASSER_START[1] + 1, size=count)
    return {"radius": radius, "start": start, "velocity": heading * speed[:, None], "entry": entry}


def passer_centres(start: np.ndarray, velocity: np.ndarray, entry: np.ndarray, t: int,
                   far: float) -> np.ndarray:
    """Centres at epoch frame ``t``; a passer not yet entered waits far outside the frame."""
    centre = start + velocity * (t - entry)[:, None]
    return np.where((t >= entry)[:, None], centre, -far)
