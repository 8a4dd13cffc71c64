"""Drawing helpers for the synthetic camera: shape outlines, textured backgrounds, colours.

Shapes are filled polygons drawn with OpenCV in 1/16-pixel fixed point, so the
same call on a colour frame and on a label map covers exactly the same pixels;
that is what makes the synthetic ground truth exact.
"""
from __future__ import annotations

import cv2
import numpy as np

from engines.core.labels import SYNTHETIC_CLASS_NAMES as CLASS_NAMES  # noqa: F401 (the scene draws these)

SUBPIXEL_BITS = 4                      # cv2 ``shift``: coordinates in 1/16 pixel
SUBPIXEL_SCALE = 1 << SUBPIXEL_BITS
MIN_COLOUR_DISTANCE = 100.0            # object colour vs. every background colour (BGR, L2)
BACKGROUND_GRAIN = 10                  # +- static per-pixel noise baked into the background


def _regular(n: int, radius: float = 1.0, phase: float = 0.0) -> np.ndarray:
    angles = phase + 2 * np.pi * np.arange(n) / n
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _star(points: int = 5, inner: float = 0.42) -> np.ndarray:
    outer = _regular(2 * points, 1.0, -np.pi / 2)
    outer[1::2] *= inner
    return outer


def _cross(half_width: float = 0.3) -> np.ndarray:
    w = half_width
    return np.array([(-w, -1), (w, -1), (w, -w), (1, -w), (1, w), (w, w), (w, 1),
                     (-w, 1), (-w, w), (-1, w), (-1, -w), (-w, -w)], dtype=np.float64)


# Unit outlines (radius 1, centred on 0) per class; several contours make a hole.
SHAPE_CONTOURS: dict[int, list[np.ndarray]] = {
    0: [_regular(48)],
    1: [_regular(4, 1.0, np.pi / 4)],
    2: [_regular(3, 1.0, -np.pi / 2)],
    3: [_star()],
    4: [_cross()],
    5: [_regular(48), _regular(48, 0.55)],
}


def shape_points(class_id: int, cx: float, cy: float, radius: float,
                 angle: float) -> list[np.ndarray]:
    """Fixed-point (1/16 px) int32 contours of one shape, ready for ``cv2.fillPoly``."""
    cos, sin = np.cos(angle), np.sin(angle)
    rotation = np.array([[cos, -sin], [sin, cos]]) * radius
    centre = np.array([cx, cy])
    return [np.round((unit @ rotation.T + centre) * SUBPIXEL_SCALE).astype(np.int32)
            for unit in SHAPE_CONTOURS[class_id]]


def fill_shape(canvas: np.ndarray, contours: list[np.ndarray], colour) -> None:
    """Fill the shape in place; identical pixel coverage on any canvas type."""
    cv2.fillPoly(canvas, contours, colour, cv2.LINE_8, SUBPIXEL_BITS)


def contour_bounds(contours: list[np.ndarray]) -> tuple[int, int, int, int]:
    """Integer pixel rectangle (x0, y0, x1, y1), exclusive, that holds every drawn pixel."""
    stacked = np.concatenate(contours) / SUBPIXEL_SCALE
    x0, y0 = np.floor(stacked.min(axis=0)).astype(int) - 1
    x1, y1 = np.ceil(stacked.max(axis=0)).astype(int) + 2
    return int(x0), int(y0), int(x1), int(y1)


def _pattern_weights(rng: np.random.Generator, kind: str, height: int,
                     width: int) -> np.ndarray:
    """A (H, W) float32 field in [0, 1] with the given texture."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    theta = rng.uniform(0, np.pi)
    along = xs * np.cos(theta) + ys * np.sin(theta)
    if kind == "gradient":
        return (along - along.min()) / max(float(np.ptp(along)), 1.0)
    if kind == "stripes":
        period = rng.uniform(0.03, 0.15) * min(height, width)
        return 0.5 + 0.5 * np.sin(2 * np.pi * along / period)
    if kind == "checker":
        cell = int(rng.uniform(0.05, 0.2) * min(height, width)) + 1
        board = ((xs // cell + ys // cell) % 2).astype(np.float32)
        return cv2.GaussianBlur(board, (0, 0), cell * 0.1 + 0.5)
    coarse = rng.random((int(rng.integers(3, 9)), int(rng.integers(3, 9)))).astype(np.float32)
    field = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(field, 0.0, 1.0)


def make_background(rng: np.random.Generator, height: int, width: int):
    """A textured BGR background and its two base colours (every pixel lies near their segment)."""
    while True:
        base = rng.uniform(50, 205, size=(2, 3))
        if 50 <= np.linalg.norm(base[0] - base[1]) <= 130:
            break
    kinds = rng.choice(["gradient", "stripes", "checker", "blobs"], size=2, replace=False)
    mix = rng.uniform(0.3, 0.7)
    weights = (mix * _pattern_weights(rng, kinds[0], height, width)
               + (1 - mix) * _pattern_weights(rng, kinds[1], height, width))
    image = base[0] + weights[..., None] * (base[1] - base[0])
    grain = rng.integers(-BACKGROUND_GRAIN, BACKGROUND_GRAIN + 1, size=(height, width, 1))
    image = np.clip(image + grain, 0, 255).astype(np.uint8)
    return image, base


def _distance_to_segment(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    direction = b - a
    t = np.clip((points - a) @ direction / max(float(direction @ direction), 1e-9), 0.0, 1.0)
    return np.linalg.norm(points - (a + t[:, None] * direction), axis=1)


def pick_colours(rng: np.random.Generator, count: int, background_base: np.ndarray) -> np.ndarray:
    """(count, 3) uint8 BGR colours far from every colour the background uses."""
    colours = np.zeros((count, 3), np.uint8)
    for i in range(count):
        candidates = rng.uniform(0, 255, size=(256, 3))
        distance = _distance_to_segment(candidates, background_base[0], background_base[1])
        far = np.flatnonzero(distance >= MIN_COLOUR_DISTANCE)
        choice = far[0] if len(far) else int(np.argmax(distance))
        colours[i] = np.round(candidates[choice]).astype(np.uint8)
    return colours
