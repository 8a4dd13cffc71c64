"""Live capture machinery: a grabber thread that keeps only the newest frame.

A live camera or stream produces frames at its own pace whether or not the
pipeline keeps up. ``LatestFrameReader`` runs the blocking grab call on a
background thread and holds just the newest image; a frame that is replaced
before anyone read it is counted in ``stats.dropped``. ``LiveSource`` is the
shared base of ``WebcamSource`` and ``NetworkSource``: it turns the reader's
output into ``Frame`` objects. Nothing here polls: readers sleep on a
condition variable until a new frame arrives or the reader stops.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

import numpy as np

from pipeline.sources.base import Frame, Source, SourceStats

log = logging.getLogger("streamdet.source")

GrabFn = Callable[[], "np.ndarray | None"]
MAX_EVENTS = 200   # stats.events keeps the newest ones; a flapping stream must not grow it forever


def report_event(stats: SourceStats, message: str, level: int = logging.WARNING) -> None:
    """Log a source event on ``streamdet.source`` and keep it, time-stamped, in ``stats.events``."""
    log.log(level, "%s", message)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
    stats.events.append(f"{stamp} {message}")
    del stats.events[:-MAX_EVENTS]


class LatestFrameReader:
    """Calls ``grab()`` on a thread and keeps only its newest image.

    ``grab`` blocks until it has an image and returns it, or returns None when
    the stream has ended for good (the thread then stops). It may check
    ``stopping`` / ``wait_stop`` to give up early. ``on_exit`` runs on the
    grabber thread when it finishes, so a capture object can be released by
    the same thread that used it. Frame ids count grabbed frames from 0, so a
    gap in the ids returned by ``read`` means frames were dropped.
    """

    def __init__(self, grab: GrabFn, stats: SourceStats, name: str = "live",
                 on_exit: Callable[[], None] | None = None) -> None:
        self._grab = grab
        self._stats = stats
        self._name = name
        self._on_exit = on_exit
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._latest: tuple[np.ndarray, int, float] | None = None
        self._next_id = 0
        self._ended = False
        self._thread: threading.Thread | None = None

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def ended(self) -> bool:
        """True once the grabber thread has finished (end of stream, error or stop)."""
        with self._cond:
            return self._ended

    def wait_stop(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True (at once) if the reader is being stopped."""
        return self._stop.wait(seconds)

    def publish(self, image: np.ndarray) -> None:
        """Offer a new image (the grabber thread does this; ``open`` may prime the first one)."""
        capture_ts = time.time()
        with self._cond:
            if self._latest is not None:
                self._stats.dropped += 1
            self._latest = (image, self._next_id, capture_ts)
            self._next_id += 1
            self._cond.notify_all()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"{self._name}: reader already started")
        self._thread = threading.Thread(target=self._run, name=f"grab-{self._name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                image = self._grab()
                if image is None:
                    break
                self.publish(image)
        except Exception:  # the thread must not die silently: log it and end the stream
            log.exception("%s: frame grabber failed", self._name)
        finally:
            if self._on_exit is not None:
                self._on_exit()
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    def read(self, timeout: float | None = None) -> tuple[np.ndarray, int, float] | None:
        """Wait for a frame newer than the last one returned: (image, frame_id, capture_ts).

        None when the reader was stopped, the stream ended with nothing left
        unread, or ``timeout`` seconds passed.
        """
        with self._cond:
            self._cond.wait_for(
                lambda: self._latest is not None or self._ended or self._stop.is_set(), timeout)
            if self._stop.is_set() or self._latest is None:
                return None
            latest, self._latest = self._latest, None
            return latest

    def stop(self, join_timeout_s: float = 1.0) -> bool:
        """Ask the thread to stop and wake all readers; True if it finished within the timeout."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(join_timeout_s)
        if thread.is_alive():
            log.debug("%s: grabber still blocked in a read; it exits when the read returns",
                      self._name)
            return False
        return True


class LiveSource(Source):
    """Base for live sources: ``read`` hands out the reader's newest frame.

    Subclasses open their capture object into ``self._cap`` in ``open``, then
    call ``_start_reader`` with their grab function and the first image they
    decoded (and ``on_exit=self._release``, so the grabber thread releases
    the capture it used).
    """
    live = True

    def __init__(self) -> None:
        super().__init__()
        self._reader: LatestFrameReader | None = None
        self._cap: Any = None

    def _start_reader(self, grab: GrabFn, first_image: np.ndarray,
                      on_exit: Callable[[], None] | None = None) -> None:
        self.frame_shape = tuple(first_image.shape[:2])
        self._reader = LatestFrameReader(grab, self.stats, name=self.name, on_exit=on_exit)
        self._reader.publish(first_image)
        self._reader.start()

    def read(self, out: np.ndarray | None = None) -> Frame | None:
        if self._reader is None:
            raise RuntimeError(f"{self.name}: read() before open()")
        got = self._reader.read()
        if got is None:
            return None
        image, frame_id, capture_ts = got
        if tuple(image.shape[:2]) != self.frame_shape:
            log.info("%s: frame size changed from %s to %s", self.name, self.frame_shape,
                     image.shape[:2])
            self.frame_shape = tuple(image.shape[:2])
        elif out is not None and out.shape == image.shape and out.dtype == image.dtype:
            np.copyto(out, image)
            image = out
        self.stats.frames += 1
        return Frame(image=image, frame_id=frame_id, capture_ts=capture_ts)

    def _release(self) -> None:
        """Release the capture object, if any; safe to call twice."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def close(self) -> None:
        """Stop the reader (its thread releases the capture), or release it here if none ran."""
        if self._reader is not None:
            self._reader.stop()
        else:
            self._release()
