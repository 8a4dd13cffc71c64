"""Network streams (rtsp://, rtsps://, http(s)://) that survive outages.

The first open must succeed: an unreachable URL raises ``SourceError`` with the
URL and the reason, so a run with a typo exits with one clear line. Once
frames have flowed, a stream that ends or stalls (no frame for
``stall_timeout_s``) is reopened with exponential backoff, forever, on the
grabber thread: ``read`` just blocks until frames come back (or ``close``),
frame ids keep increasing, and the outage shows up in the log
(``streamdet.source``), ``stats.reconnects``, ``stats.outage_s`` and
``stats.events``.

OpenCV 5.0's FFmpeg backend notes (measured here): ``CAP_PROP_OPEN_TIMEOUT_MSEC``
bounds the open as asked, but a read on a silent stream gives up only after
about three ``CAP_PROP_READ_TIMEOUT_MSEC`` periods, so the read timeout is set
to a third of ``stall_timeout_s``. RTSP runs over TCP through
``OPENCV_FFMPEG_CAPTURE_OPTIONS=rtsp_transport;tcp``, set only while a capture
opens (it is read at open time) and merged with any value the user set.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")   # FFmpeg quiet: our own log says what failed
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)   # no "backend can't be used" warnings

from pipeline.sources.base import DECODE_THREADS, SourceError
from pipeline.sources.live import LiveSource, report_event

log = logging.getLogger("streamdet.source")

NETWORK_SCHEMES = ("rtsp", "rtsps", "http", "https")
DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}
FFMPEG_OPTIONS_ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
READ_TIMEOUT_PERIODS = 3      # FFmpeg read gives up after ~3 read timeouts (see module doc)
_env_lock = threading.Lock()


def redact(url: str) -> str:
    """The URL with any password replaced by ***, for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def diagnose(url: str, timeout_s: float) -> str:
    """Why a stream URL could not be opened, as a short phrase (tries a plain TCP connect)."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        return "the URL has no host"
    try:
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 80)
    except ValueError:
        return "the URL has an invalid port"
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except socket.gaierror:
        return f"host name {host!r} not found"
    except ConnectionRefusedError:
        return f"connection refused: nothing listens on {host}:{port}"
    except TimeoutError:
        return f"no answer from {host}:{port} within {timeout_s:.1f} s"
    except OSError as exc:
        return f"cannot reach {host}:{port}: {exc.strerror or exc}"
    return ("the server answered but no video stream could be opened "
            "(wrong path, credentials or codec?)")


def _with_tcp_transport(options: str | None) -> str:
    if options and "rtsp_transport" in options:
        return options
    return f"{options}|rtsp_transport;tcp" if options else "rtsp_transport;tcp"


def open_stream_capture(url: str, open_timeout_s: float, read_timeout_s: float) -> Any:
    """cv2.VideoCapture on the FFmpeg backend with open/read timeouts (RTSP over TCP)."""
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(open_timeout_s * 1000),
              cv2.CAP_PROP_READ_TIMEOUT_MSEC, max(1, int(read_timeout_s * 1000)),
              cv2.CAP_PROP_N_THREADS, DECODE_THREADS]
    if not urlsplit(url).scheme.lower().startswith("rtsp"):
        return cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
    with _env_lock:
        before = os.environ.get(FFMPEG_OPTIONS_ENV)
        os.environ[FFMPEG_OPTIONS_ENV] = _with_tcp_transport(before)
        try:
            return cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
        finally:
            if before is None:
                os.environ.pop(FFMPEG_OPTIONS_ENV, None)
            else:
                os.environ[FFMPEG_OPTIONS_ENV] = before


class NetworkSource(LiveSource):
    """A live network stream that reconnects by itself after it started once.

    ``capture_factory(url, open_timeout_s, read_timeout_s)`` builds the capture
    object (tests inject fakes); it defaults to ``open_stream_capture``.
    ``stats.reconnects`` counts outages that ended with frames flowing again.
    """
    name = "network"

    def __init__(self, url: str, stall_timeout_s: float = 5.0,
                 backoff: tuple[float, float] = (0.5, 8.0), open_timeout_s: float = 10.0,
                 capture_factory: Callable[[str, float, float], Any] | None = None) -> None:
        super().__init__()
        if not url.lower().startswith(tuple(f"{s}://" for s in NETWORK_SCHEMES)):
            raise ValueError(f"network source URL must start with rtsp://, rtsps://, http:// "
                             f"or https://, got {redact(url)!r}")
        if stall_timeout_s <= 0 or open_timeout_s <= 0:
            raise ValueError("stall_timeout_s and open_timeout_s must be positive")
        if not 0 < backoff[0] <= backoff[1]:
            raise ValueError(f"backoff must be (first, max) with 0 < first <= max, got {backoff}")
        self.url = url
        self.stall_timeout_s = stall_timeout_s
        self.backoff = backoff
        self.open_timeout_s = open_timeout_s
        self._capture_factory = capture_factory or open_stream_capture
        self._last_frame_t = 0.0            # monotonic time of the last good frame
        self._outage_since: float | None = None
        self._attempts = 0                  # reconnect attempts in the current outage

    @property
    def reconnecting(self) -> bool:
        """True while the stream is down and being reopened."""
        return self._outage_since is not None

    @property
    def _read_timeout_s(self) -> float:
        return self.stall_timeout_s / READ_TIMEOUT_PERIODS

    def _new_capture(self) -> Any | None:
        cap = self._capture_factory(self.url, self.open_timeout_s, self._read_timeout_s)
        if cap is not None and cap.isOpened():
            return cap
        if cap is not None:
            cap.release()
        return None

    def open(self) -> None:
        self._cap = self._new_capture()
        if self._cap is None:
            reason = diagnose(self.url, min(self.open_timeout_s, 3.0))
            raise SourceError(f"cannot open stream {redact(self.url)}: {reason}")
        ok, first = self._cap.read()
        if not ok or first is None:
            self._release()
            raise SourceError(f"stream {redact(self.url)} opened but sent no frame "
                              f"within {self.stall_timeout_s:.1f} s")
        self._last_frame_t = time.monotonic()
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 0.0 < fps < 1000.0 else None
        log.info("%s: streaming %dx%d from %s", self.name, first.shape[1], first.shape[0],
                 redact(self.url))
        self._start_reader(self._grab, first, on_exit=self._release)

    def _grab(self) -> np.ndarray | None:
        """Runs on the grabber thread: the next image, reconnecting as long as it takes."""
        while not self._reader.stopping:
            if self._cap is None:
                self._cap = self._reconnect()
                continue
            started = time.monotonic()
            ok, image = self._cap.read()
            if ok and image is not None:
                self._end_outage()
                self._last_frame_t = time.monotonic()
                return image
            # a read that gave up on its timeout means silence; a quick failure means a drop
            stalled = time.monotonic() - started >= 0.9 * self._read_timeout_s
            self._begin_outage("stalled" if stalled else "ended or the connection dropped")
            self._release()
        return None

    def _reconnect(self) -> Any | None:
        """Reopen with exponential backoff until it works; None only when stopping.

        The attempt count lives on the source and is reset only by a good frame,
        so a server that accepts and then drops us at once still gets backoff.
        """
        while not self._reader.stopping:
            if self._attempts:
                delay = min(self.backoff[0] * 2.0 ** (self._attempts - 1), self.backoff[1])
                log.warning("%s: %s still down after %d attempt(s), next in %.1f s", self.name,
                            redact(self.url), self._attempts, delay)
                if self._reader.wait_stop(delay):
                    break
            self._attempts += 1
            cap = self._new_capture()
            if cap is not None:
                log.info("%s: reopened %s (attempt %d)", self.name, redact(self.url),
                         self._attempts)
                return cap
        return None

    def _begin_outage(self, why: str) -> None:
        if self._outage_since is not None:
            return
        self._outage_since = self._last_frame_t
        silent = time.monotonic() - self._last_frame_t
        report_event(self.stats, f"stream {redact(self.url)} {why} (no frame for "
                                 f"{silent:.1f} s); reconnecting")

    def _end_outage(self) -> None:
        if self._outage_since is None:
            return
        outage = time.monotonic() - self._outage_since
        self._outage_since = None
        self._attempts = 0
        self.stats.outage_s += outage
        self.stats.reconnects += 1
        report_event(self.stats, f"stream {redact(self.url)} back after {outage:.1f} s "
                                 f"without frames (reconnect {self.stats.reconnects})")

    def close(self) -> None:
        super().close()
        if self._reader is not None and self._outage_since is not None and self._reader.ended:
            self.stats.outage_s += time.monotonic() - self._outage_since
            self._outage_since = None
