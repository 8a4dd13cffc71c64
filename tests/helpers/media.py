"""Test media made on the fly: small video files whose frames can be told apart.

Frame ``i`` is filled with one grey-green level, ``level(i)``, so a test can
check frame order after lossy encoding by looking at the mean of channel 1.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

LEVEL_STEP = 4


def level(index: int) -> int:
    """The channel-1 value written into frame ``index``."""
    return (index * LEVEL_STEP) % 256


def make_frame(index: int, height: int, width: int) -> np.ndarray:
    image = np.full((height, width, 3), 40, np.uint8)
    image[:, :, 1] = level(index)
    return image


def write_video(path: Path, frames: int, fourcc: str = "MJPG", size: tuple[int, int] = (96, 64),
                fps: float = 25.0) -> Path:
    """Write ``frames`` frames of ``size`` (width, height) with codec ``fourcc``; return the path."""
    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"this OpenCV cannot write {fourcc} into {path}")
    for index in range(frames):
        writer.write(make_frame(index, height, width))
    writer.release()
    return Path(path)


def overwrite_middle(path: Path, start_fraction: float = 0.4, length_fraction: float = 0.2) -> None:
    """Zero a chunk of the file's bytes, starting ``start_fraction`` of the way in."""
    size = Path(path).stat().st_size
    with open(path, "r+b") as handle:
        handle.seek(int(size * start_fraction))
        handle.write(bytes(int(size * length_fraction)))


def frame_level(image: np.ndarray) -> float:
    """Mean of channel 1: recovers ``level(i)`` give or take a few units of codec loss."""
    return float(image[:, :, 1].mean())
