"""Video files and webcams through OpenCV's VideoCapture.

``VideoFileSource`` yields every frame of a file (optionally looping, optionally
paced to the file's fps) and decodes straight into the caller's buffer when it
has the right shape. A frame that fails to decode in the middle of the file is
skipped and counted in ``stats.corrupt``. ``WebcamSource`` is live: a grabber
thread keeps only the newest frame (see ``live.py``).

Not run here: this machine has no video devices and cannot load v4l2loopback,
so ``WebcamSource`` was tested only with a fake capture object and for the
missing-device error, never against a real /dev/videoN.
"""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from pipeline.sources.base import DECODE_THREADS, Frame, Source, SourceError
from pipeline.sources.live import LiveSource, report_event

log = logging.getLogger("streamdet.source")

MAX_CONSECUTIVE_FAILED_READS = 100   # this many failed decodes in a row ends a file
WEBCAM_FIRST_FRAME_TIMEOUT_S = 5.0
WEBCAM_STALL_TIMEOUT_S = 5.0         # a webcam silent this long has gone away: end of stream


class RatePacer:
    """Sleeps so that successive ``wait()`` calls return ``1/fps`` apart (no catch-up bursts)."""

    def __init__(self, fps: float) -> None:
        if fps <= 0:
            raise ValueError(f"pacing needs a positive fps, got {fps}")
        self.period = 1.0 / fps
        self._due: float | None = None

    def wait(self) -> None:
        now = time.monotonic()
        if self._due is None or now - self._due > 1.0:   # first frame, or fell far behind
            self._due = now
        elif now < self._due:
            time.sleep(self._due - now)
        self._due += self.period


def _container_fps(cap: Any) -> float | None:
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    return fps if 0.0 < fps < 1000.0 else None


def _fits(out: np.ndarray | None, shape: tuple[int, int]) -> bool:
    return (out is not None and out.shape == (*shape, 3) and out.dtype == np.uint8
            and out.flags.c_contiguous and out.flags.writeable)


class VideoFileSource(Source):
    """Every frame of a video file; ``loop`` restarts it, ``realtime`` paces it to its fps."""
    name = "video"
    live = False

    def __init__(self, path: str | Path, loop: bool = False, realtime: bool = False) -> None:
        super().__init__()
        self.path = Path(path)
        self.loop = loop
        self.realtime = realtime
        self._cap: Any = None
        self._pending: np.ndarray | None = None   # first frame, decoded by open()
        self._pass_frames = 0
        self._pacer: RatePacer | None = None

    def open(self) -> None:
        if not self.path.is_file():
            raise SourceError(f"video file not found: {self.path}")
        self._cap = self._open_capture()
        self.fps = _container_fps(self._cap)
        ok, first = self._cap.read()
        if not ok or first is None:
            self.close()
            raise SourceError(f"video file {self.path} has no decodable frames")
        self._pending = first
        self.frame_shape = tuple(first.shape[:2])
        if self.realtime:
            if self.fps is None:
                log.warning("%s: no fps in the container, cannot pace in real time", self.path)
            else:
                self._pacer = RatePacer(self.fps)

    def _open_capture(self) -> Any:
        cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, DECODE_THREADS])
        if not cap.isOpened():       # not for FFmpeg: whatever backend OpenCV picks for it
            cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise SourceError(f"cannot open video file {self.path}: not a video, "
                              "or a format this OpenCV build cannot decode")
        return cap

    def read(self, out: np.ndarray | None = None) -> Frame | None:
        if self._cap is None:
            raise RuntimeError(f"{self.name}: read() before open()")
        image = self._next_image(out)
        while image is None and self.loop and self._pass_frames > 0:
            self._rewind()
            image = self._next_image(out)
        if image is None:
            return None
        self._pass_frames += 1
        return self._emit(image, self._pacer)

    def _next_image(self, out: np.ndarray | None) -> np.ndarray | None:
        if self._pending is not None:
            image, self._pending = self._pending, None
            if _fits(out, image.shape[:2]):
                np.copyto(out, image)
                return out
            return image
        return self._decode(out)

    def _decode(self, out: np.ndarray | None) -> np.ndarray | None:
        """Next decodable frame (into ``out`` when it fits); None at the end of the file.

        Failed reads are counted as corrupt only when a good frame follows them,
        so the failures that mark the end of the file are not counted.
        """
        target = out if _fits(out, self.frame_shape) else None
        for failures in range(MAX_CONSECUTIVE_FAILED_READS):
            ok, image = self._cap.read(image=target) if target is not None else self._cap.read()
            if ok and image is not None:
                if failures:
                    report_event(self.stats, f"{self.path}: skipped {failures} corrupt frame(s) "
                                             f"before frame {self._next_id}")
                    self.stats.corrupt += failures
                if tuple(image.shape[:2]) != self.frame_shape:
                    self.frame_shape = tuple(image.shape[:2])
                return image
            if self._at_end():
                return None
        log.warning("%s: %d failed reads in a row, treating as end of file", self.path,
                    MAX_CONSECUTIVE_FAILED_READS)
        return None

    def _at_end(self) -> bool:
        count = self._cap.get(cv2.CAP_PROP_FRAME_COUNT)
        return count > 0 and self._cap.get(cv2.CAP_PROP_POS_FRAMES) >= count

    def _rewind(self) -> None:
        self._cap.release()
        self._cap = self._open_capture()
        self._pass_frames = 0

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def available_webcams() -> list[str]:
    return sorted(str(p) for p in Path("/dev").glob("video*"))


def open_webcam_capture(index: int) -> Any:
    """cv2.VideoCapture for webcam ``index`` (V4L2 on Linux); SourceError if the device is absent."""
    if sys.platform.startswith("linux"):
        if not Path(f"/dev/video{index}").exists():
            found = " ".join(available_webcams()) or "none"
            raise SourceError(f"webcam {index} not found (available: {found})")
        return cv2.VideoCapture(index, cv2.CAP_V4L2)
    return cv2.VideoCapture(index)


class WebcamSource(LiveSource):
    """A local camera; live: the newest frame wins when the pipeline is busy.

    ``capture_factory(index)`` builds the capture object (tests inject a fake);
    it defaults to ``open_webcam_capture``. Width, height and fps are requests
    the driver may round; ``frame_shape`` and ``fps`` hold what it delivers.
    """
    name = "webcam"

    def __init__(self, index: int, width: int | None = None, height: int | None = None,
                 fps: float | None = None,
                 capture_factory: Callable[[int], Any] | None = None) -> None:
        super().__init__()
        self.index = int(index)
        self.requested = {cv2.CAP_PROP_FRAME_WIDTH: width, cv2.CAP_PROP_FRAME_HEIGHT: height,
                          cv2.CAP_PROP_FPS: fps}
        self._capture_factory = capture_factory or open_webcam_capture

    def open(self) -> None:
        cap = self._capture_factory(self.index)
        if not cap.isOpened():
            raise SourceError(f"webcam {self.index} could not be opened "
                              "(in use by another program, or not a capture device?)")
        self._cap = cap
        for prop, value in self.requested.items():
            if value is not None:
                cap.set(prop, float(value))
        first = self._first_frame()
        self.fps = _container_fps(cap) or self.requested[cv2.CAP_PROP_FPS]
        self._start_reader(self._grab, first, on_exit=self._release)

    def _first_frame(self) -> np.ndarray:
        deadline = time.monotonic() + WEBCAM_FIRST_FRAME_TIMEOUT_S
        while time.monotonic() < deadline:
            ok, image = self._cap.read()
            if ok and image is not None:
                return image
            time.sleep(0.05)
        self._release()
        raise SourceError(f"webcam {self.index} opened but sent no frame within "
                          f"{WEBCAM_FIRST_FRAME_TIMEOUT_S:.0f} s")

    def _grab(self) -> np.ndarray | None:
        """Runs on the grabber thread: next image, or None when the camera has gone silent."""
        failing_since: float | None = None
        while not self._reader.stopping:
            ok, image = self._cap.read()
            if ok and image is not None:
                return image
            now = time.monotonic()
            failing_since = failing_since or now
            if now - failing_since > WEBCAM_STALL_TIMEOUT_S:
                report_event(self.stats, f"webcam {self.index} stopped sending frames; "
                                         "ending the stream")
                return None
            self._reader.wait_stop(0.02)   # a failing read returns at once: do not spin
        return None
