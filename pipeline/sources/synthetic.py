"""The synthetic camera: moving, overlapping coloured shapes with exact ground truth.

Frame ``k`` of a scene is a pure function of ``(seed, k)``: objects follow
parametric trajectories that bounce off the borders (with ``passers``, used to
score trackers, a few more enter from a border, cross the frame and leave),
and the object set is redrawn every
``EPOCH_FRAMES`` frames so a long stream sees variety. Ground
truth gives the tight box of each object's visible pixels, its class, its
visible mask (after occlusion by shapes drawn later) and an ``iscrowd`` flag
for heavily hidden objects. It is the default source and the test fixture.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.sources.base import Frame, Source
from pipeline.sources.synthetic_passers import passer_centres, passer_parameters
from pipeline.sources.synthetic_draw import (CLASS_NAMES, contour_bounds, fill_shape,
                                             make_background, pick_colours, shape_points)

__all__ = ["CLASS_NAMES", "GroundTruth", "SyntheticScene", "SyntheticSource"]

EPOCH_FRAMES = 300                 # frames between object-set changes
SIZE_RANGE = (0.04, 0.25)          # object diameter as a fraction of min(width, height)
SPEED_RANGE = (0.5, 3.5)           # px/frame at 480 px short side
MAX_SPIN = 0.04                    # rad/frame
MIN_VISIBLE_SIDE = 6               # objects whose visible box is narrower are omitted
CROWD_VISIBLE_FRACTION = 0.4       # less visible than this -> iscrowd
NOISE_AMPLITUDE = 6                # +- per-frame sensor noise
NOISE_PAD = 32                     # the noise field is shifted by up to this many px per frame


@dataclass
class GroundTruth:
    xyxy: np.ndarray                   # (N, 4) float32, tight box of visible pixels, x2/y2 exclusive
    class_id: np.ndarray               # (N,) int32
    masks: np.ndarray | None           # (N, H, W) bool visible pixels, or None
    iscrowd: np.ndarray                # (N,) bool, less than ~40% visible
    track_id: np.ndarray               # (N,) int64, stable while the object set lasts
    visible_fraction: np.ndarray       # (N,) float32, visible pixels / full shape pixels


@dataclass
class _ObjectSet:
    """One epoch's objects, in drawing order (largest first, so small ones stay visible)."""
    class_id: np.ndarray
    radius: np.ndarray
    start: np.ndarray                  # (N, 2) centre at the epoch's first frame
    velocity: np.ndarray               # (N, 2) px/frame
    angle0: np.ndarray
    spin: np.ndarray
    colour: np.ndarray                 # (N, 3) uint8 BGR
    passer: np.ndarray                 # (N,) bool: crosses the frame once instead of bouncing
    entry: np.ndarray                  # (N,) int, passers: epoch frame at which they enter


def _bounce(position: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Fold an unbounded coordinate into [low, high] as a ball bouncing between walls."""
    span = np.maximum(high - low, 1e-6)
    phase = np.mod(position - low, 2 * span)
    return low + np.where(phase < span, phase, 2 * span - phase)


class SyntheticScene:
    """A seeded generator of frames and their ground truth, with random access by frame id."""

    def __init__(self, seed: int = 0, width: int = 640, height: int = 480,
                 min_objects: int = 2, max_objects: int = 6, passers: bool = False) -> None:
        if width < 32 or height < 32:
            raise ValueError(f"SyntheticScene: width and height must be >= 32, got {width}x{height}")
        if not 0 <= min_objects <= max_objects <= 250:
            raise ValueError("SyntheticScene: expected 0 <= min_objects <= max_objects <= 250, "
                             f"got {min_objects}, {max_objects}")
        self.seed, self.width, self.height = int(seed), int(width), int(height)
        self.min_objects, self.max_objects = int(min_objects), int(max_objects)
        self.passers = bool(passers)          # off: the scene the shipped models were trained and scored on
        rng = np.random.default_rng([self.seed, 0xBAC6])
        self.background, self._background_base = make_background(rng, self.height, self.width)
        self._noise = rng.integers(0, 2 * NOISE_AMPLITUDE + 1, dtype=np.uint8,
                                   size=(self.height + NOISE_PAD, self.width + NOISE_PAD, 3))
        self._light_phase = float(rng.uniform(0, 2 * np.pi))
        self._epochs: dict[int, _ObjectSet] = {}

    @property
    def class_names(self) -> tuple[str, ...]:
        return CLASS_NAMES

    def _object_set(self, epoch: int) -> _ObjectSet:
        cached = self._epochs.get(epoch)
        if cached is not None:
            return cached
        rng = np.random.default_rng([self.seed, epoch, 0x0B7])
        count = int(rng.integers(self.min_objects, self.max_objects + 1))
        short = min(self.width, self.height)
        diameter = short * np.exp(rng.uniform(*np.log(SIZE_RANGE), size=count))
        radius = np.sort(diameter / 2)[::-1]
        passers = self._passers(epoch, short) if self.passers else None
        heading = rng.uniform(0, 2 * np.pi, size=count)
        speed = rng.uniform(*SPEED_RANGE, size=count) * short / 480
        objects = _ObjectSet(
            class_id=rng.integers(0, len(CLASS_NAMES), size=count).astype(np.int32),
            radius=radius,
            start=rng.uniform(0, 1, size=(count, 2)) * [self.width, self.height],
            velocity=np.stack([np.cos(heading), np.sin(heading)], axis=1) * speed[:, None],
            angle0=rng.uniform(0, 2 * np.pi, size=count),
            spin=rng.uniform(-MAX_SPIN, MAX_SPIN, size=count),
            colour=pick_colours(rng, count, self._background_base),
            passer=np.zeros(count, bool), entry=np.zeros(count, np.int64))
        if passers is not None:
            order = np.argsort(-np.concatenate([objects.radius, passers["radius"]]), kind="stable")
            objects = _ObjectSet(**{k: np.concatenate([getattr(objects, k), passers[k]])[order]
                                    for k in objects.__dataclass_fields__})   # still largest first
        if len(self._epochs) > 4:
            self._epochs.clear()
        self._epochs[epoch] = objects
        return objects

    def _passers(self, epoch: int, short: int) -> dict:
        """This epoch's passers (own random stream: the bouncing objects stay as they were)."""
        rng = np.random.default_rng([self.seed, epoch, 0x9A55])
        motion = passer_parameters(rng, self.width, self.height, lambda n: short * np.exp(
            rng.uniform(*np.log(SIZE_RANGE), size=n)) / 2)
        count = len(motion["radius"])
        return {"class_id": rng.integers(0, len(CLASS_NAMES), size=count).astype(np.int32),
                "radius": motion["radius"], "start": motion["start"], "velocity": motion["velocity"],
                "angle0": rng.uniform(0, 2 * np.pi, size=count),
                "spin": rng.uniform(-MAX_SPIN, MAX_SPIN, size=count),
                "colour": pick_colours(rng, count, self._background_base),
                "passer": np.ones(count, bool), "entry": motion["entry"]}

    def _layout(self, frame_id: int):
        """The frame's object set and each object's fixed-point contours, in drawing order."""
        if frame_id < 0:
            raise ValueError(f"SyntheticScene: frame_id must be >= 0, got {frame_id}")
        epoch, t = divmod(int(frame_id), EPOCH_FRAMES)
        objects = self._object_set(epoch)
        margin = 0.3 * objects.radius[:, None]
        low = margin
        high = np.array([self.width, self.height]) - margin
        centre = _bounce(objects.start + objects.velocity * t, low, high)
        crossing = passer_centres(objects.start, objects.velocity, objects.entry, t,
                                  far=4 * (self.width + self.height))
        centre = np.where(objects.passer[:, None], crossing, centre)
        angle = objects.angle0 + objects.spin * t
        contours = [shape_points(int(c), x, y, r, a) for c, (x, y), r, a
                    in zip(objects.class_id, centre, objects.radius, angle)]
        return epoch, objects, contours

    def render(self, frame_id: int, out: np.ndarray | None = None) -> np.ndarray:
        """BGR uint8 (H, W, 3) frame ``frame_id``, written into ``out`` when given."""
        shape = (self.height, self.width, 3)
        if out is None:
            out = np.empty(shape, np.uint8)
        elif out.shape != shape or out.dtype != np.uint8:
            raise ValueError(f"SyntheticScene.render: out must be uint8 {shape}, "
                             f"got {out.dtype} {out.shape}")
        _, objects, contours = self._layout(frame_id)
        np.copyto(out, self.background)
        for points, colour in zip(contours, objects.colour):
            fill_shape(out, points, tuple(int(v) for v in colour))
        self._apply_lighting(frame_id, out)
        return out

    def _apply_lighting(self, frame_id: int, out: np.ndarray) -> None:
        """Slow brightness drift, a little flicker and shifted sensor noise, in one pass."""
        mixed = (frame_id * 2654435761 + self.seed * 40503) & 0xFFFFFFFF
        dx, dy = mixed % NOISE_PAD, (mixed >> 8) % NOISE_PAD
        flicker = ((mixed >> 16) % 1000) / 1000.0 - 0.5
        gain = 1.0 + 0.07 * np.sin(2 * np.pi * frame_id / 240 + self._light_phase) + 0.03 * flicker
        noise = self._noise[dy:dy + self.height, dx:dx + self.width]
        cv2.addWeighted(out, gain, noise, 1.0, -float(NOISE_AMPLITUDE), dst=out)

    def ground_truth(self, frame_id: int, masks: bool = True) -> GroundTruth:
        """Exact annotations of frame ``frame_id`` (objects in drawing order, bottom first)."""
        epoch, objects, contours = self._layout(frame_id)
        labels = np.zeros((self.height, self.width), np.uint8)
        for index, points in enumerate(contours):
            fill_shape(labels, points, index + 1)
        rows: list[tuple] = []
        for index, points in enumerate(contours):
            row = self._visible_object(labels, index, points)
            if row is not None:
                rows.append(row)
        n = len(rows)
        keep = np.array([r[0] for r in rows], dtype=np.int64)
        mask_stack = None
        if masks:
            mask_stack = np.zeros((n, self.height, self.width), bool)
            for j, (_, _, _, (x0, y0, x1, y1), roi) in enumerate(rows):
                mask_stack[j, y0:y1, x0:x1] = roi
        visible = np.array([r[2] for r in rows], dtype=np.float32)
        return GroundTruth(
            xyxy=np.array([r[1] for r in rows], dtype=np.float32).reshape(n, 4),
            class_id=objects.class_id[keep].astype(np.int32),
            masks=mask_stack,
            iscrowd=visible < CROWD_VISIBLE_FRACTION,
            track_id=epoch * 1000 + keep,
            visible_fraction=visible)

    def _visible_object(self, labels: np.ndarray, index: int, points: list[np.ndarray]):
        """(index, box, visible fraction, roi rect, roi mask) or None when (nearly) hidden."""
        bx0, by0, bx1, by1 = contour_bounds(points)
        x0, y0 = max(bx0, 0), max(by0, 0)
        x1, y1 = min(bx1, self.width), min(by1, self.height)
        if x1 <= x0 or y1 <= y0:
            return None
        roi = labels[y0:y1, x0:x1] == index + 1
        cols, rows = np.flatnonzero(roi.any(axis=0)), np.flatnonzero(roi.any(axis=1))
        if len(cols) == 0:
            return None
        box = (x0 + cols[0], y0 + rows[0], x0 + cols[-1] + 1, y0 + rows[-1] + 1)
        if min(box[2] - box[0], box[3] - box[1]) < MIN_VISIBLE_SIDE:
            return None
        alone = np.zeros((by1 - by0, bx1 - bx0), np.uint8)
        offset = np.array([bx0, by0], np.int32) * 16
        fill_shape(alone, [p - offset for p in points], 1)
        fraction = float(roi.sum()) / max(int(alone.sum()), 1)
        return index, box, fraction, (x0, y0, x1, y1), roi


class SyntheticSource(Source):
    """The synthetic scene as a stream: frame ids 0, 1, 2, ... optionally paced to ``fps``."""
    name = "synthetic"
    live = False

    def __init__(self, seed: int = 0, width: int = 640, height: int = 480, fps: float = 30.0,
                 max_frames: int | None = None, realtime: bool = False, frame_step: int = 1,
                 passers: bool = False) -> None:
        super().__init__()
        if frame_step < 1:
            raise ValueError(f"SyntheticSource: frame_step must be >= 1, got {frame_step}")
        self.frame_step = int(frame_step)     # > 1: frames in between are skipped, as a busy hop drops them
        if fps <= 0:
            raise ValueError(f"SyntheticSource: fps must be > 0, got {fps}")
        if max_frames is not None and max_frames < 0:
            raise ValueError(f"SyntheticSource: max_frames must be >= 0 or None, got {max_frames}")
        self.scene = SyntheticScene(seed=seed, width=width, height=height, passers=passers)
        self.fps = float(fps)
        self.frame_shape = (int(height), int(width))
        self.max_frames = max_frames
        self.realtime = bool(realtime)
        self._start: float | None = None

    def open(self) -> None:
        self._next_id = 0
        self._start = None

    def read(self, out: np.ndarray | None = None) -> Frame | None:
        if self.max_frames is not None and self._next_id >= self.max_frames:
            return None
        frame_id = self._next_id
        if self.realtime:
            self._wait_until_due(frame_id)
        if out is not None and (out.shape != (*self.frame_shape, 3) or out.dtype != np.uint8):
            out = None
        acquired = time.time()                  # the camera "exposes" now; rendering is capture work
        frame = self._emit(self.scene.render(frame_id, out), capture_ts=acquired)
        self._next_id += self.frame_step - 1
        return frame

    def _wait_until_due(self, frame_id: int) -> None:
        now = time.perf_counter()
        if self._start is None:
            self._start = now - frame_id / self.fps
        delay = self._start + frame_id / self.fps - now
        if delay > 0:
            time.sleep(delay)
