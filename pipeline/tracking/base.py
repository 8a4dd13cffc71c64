"""The tracker interface: one tracker follows the objects of one stream.

``update(dets, frame_id)`` returns one int64 track id per detection, in the
detections' order, with -1 for a detection no confirmed track owns (yet).
A tracker only reads the detections: it never removes, moves or rescores one.
``frame_id`` is the real frame number, so a tracker can bridge dropped frames.
``reset()`` forgets every track (e.g. after the source reconnected).
"""
from __future__ import annotations

import itertools
from typing import Callable, Protocol

import numpy as np

from engines.core.detections import Detections

UNCONFIRMED = -1


class Tracker(Protocol):
    def update(self, dets: Detections, frame_id: int) -> np.ndarray: ...

    def reset(self) -> None: ...


IdSource = Callable[[], int]


def counter(start: int = 1) -> IdSource:
    """A source of increasing ids; one shared by all streams keeps ids unique across them."""
    numbers = itertools.count(start)
    return lambda: next(numbers)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(A, B) IoU of xyxy boxes."""
    a = np.asarray(a, np.float32).reshape(-1, 4)
    b = np.asarray(b, np.float32).reshape(-1, 4)
    ax1, ay1, ax2, ay2 = (a[:, i:i + 1] for i in range(4))      # (A, 1) columns
    bx1, by1, bx2, by2 = b.T                                    # (B,) rows
    inter = np.minimum(ax2, bx2)                                # in place from here: few temporaries
    inter -= np.maximum(ax1, bx1)
    np.maximum(inter, 0, out=inter)
    height = np.minimum(ay2, by2)
    height -= np.maximum(ay1, by1)
    np.maximum(height, 0, out=height)
    inter *= height
    area_a = np.maximum(ax2 - ax1, 0) * np.maximum(ay2 - ay1, 0)
    area_b = np.maximum(bx2 - bx1, 0) * np.maximum(by2 - by1, 0)
    union = np.add(area_a, area_b, out=height)
    union -= inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0).astype(np.float64)
