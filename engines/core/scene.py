"""The ``Scene`` protocol: how training and evaluation get frames and their exact ground truth.

Training and evaluation never import a source; the caller hands them a
``scene_factory(seed, width, height) -> Scene`` (the command line passes the
synthetic camera's ``SyntheticScene``).
"""
from __future__ import annotations

from typing import Callable, Protocol

import numpy as np


class Truth(Protocol):
    xyxy: np.ndarray           # (N, 4) float32 source pixels
    class_id: np.ndarray       # (N,) int
    masks: np.ndarray | None   # (N, H, W) bool visible masks, when asked for
    iscrowd: np.ndarray        # (N,) bool


class Scene(Protocol):
    seed: int
    width: int
    height: int

    @property
    def class_names(self) -> tuple[str, ...]: ...

    def render(self, frame_id: int, out: np.ndarray | None = None) -> np.ndarray: ...

    def ground_truth(self, frame_id: int, masks: bool = True) -> Truth: ...


SceneFactory = Callable[..., Scene]
