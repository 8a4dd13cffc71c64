"""A folder of still images played as a video, in file-name order.

Only ``.jpg .jpeg .png .bmp .webp`` files are read (any case). Files that do
not decode are skipped and counted in ``stats.corrupt``; a missing folder, an
empty one or one with no readable image raises ``SourceError``. Images may
differ in size: ``frame_shape`` follows the last image returned.
"""
from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from pipeline.sources.base import Frame, Source, SourceError
from pipeline.sources.video import RatePacer

log = logging.getLogger("streamdet.source")

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


class ImageFolderSource(Source):
    """Each image of a folder once, optionally paced to ``fps`` when ``realtime``."""
    name = "images"
    live = False

    def __init__(self, folder: str | Path, realtime: bool = False,
                 fps: float | None = None) -> None:
        super().__init__()
        if realtime and not fps:
            raise ValueError(f"image folder {folder}: realtime=True needs a positive fps")
        self.folder = Path(folder)
        self.realtime = realtime
        self.fps = float(fps) if fps else None
        self._files: list[Path] = []
        self._next_file = 0
        self._pending: np.ndarray | None = None   # first readable image, decoded by open()
        self._pacer: RatePacer | None = None

    def open(self) -> None:
        if not self.folder.is_dir():
            raise SourceError(f"image folder not found: {self.folder}")
        self._files = list_images(self.folder)
        if not self._files:
            raise SourceError(f"no images ({' '.join(IMAGE_SUFFIXES)}) in folder {self.folder}")
        self._next_file = 0
        self._pending = self._decode_next()
        if self._pending is None:
            raise SourceError(f"no readable image in folder {self.folder} "
                              f"({len(self._files)} image files failed to decode)")
        self.frame_shape = tuple(self._pending.shape[:2])
        self._pacer = RatePacer(self.fps) if self.realtime else None

    def _decode_next(self) -> np.ndarray | None:
        """The next image that decodes, skipping (and counting) the ones that do not."""
        while self._next_file < len(self._files):
            path = self._files[self._next_file]
            self._next_file += 1
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is not None:
                return image
            self.stats.corrupt += 1
            log.warning("%s: cannot decode %s, skipped", self.name, path)
        return None

    def read(self, out: np.ndarray | None = None) -> Frame | None:
        if self._pending is not None:
            image, self._pending = self._pending, None
        else:
            image = self._decode_next()
        if image is None:
            return None
        if tuple(image.shape[:2]) != self.frame_shape:
            self.frame_shape = tuple(image.shape[:2])
        elif out is not None and out.shape == image.shape and out.dtype == image.dtype:
            np.copyto(out, image)
            image = out
        return self._emit(image, self._pacer)

    def close(self) -> None:
        self._pending = None
