"""Live preview: GET / (a page of every stream's live picture) and GET /streams/NAME/preview.mjpg.

``PreviewHub`` lives in the supervisor beside the API server. It knows which streams are
watched right now (``watched()``; every change calls ``on_watch_change``, which the supervisor
turns into a ``preview`` control message so the sink encodes only those streams, see
pipeline/sinks/preview_tap.py), keeps the newest JPEG per stream (``publish`` or
``handle_telemetry``), and serves each client an MJPEG stream (multipart/x-mixed-replace)
of the newest frame at most ``fps`` times a second: a slow client skips frames, it never
queues them, and nothing it does reaches the pipeline.
"""
from __future__ import annotations

import asyncio
import collections
import threading
from typing import AsyncIterator, Callable

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from pipeline.api.preview_page import PAGE
from pipeline.preview_protocol import FRAME_KIND, parse_frame, watch_message
from pipeline.sinks.annotate import annotate

BOUNDARY = "frame"
MJPEG_TYPE = f"multipart/x-mixed-replace; boundary={BOUNDARY}"


def mjpeg_part(jpeg: bytes) -> bytes:
    head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
    return head.encode() + jpeg + b"\r\n"


class PreviewHub:
    def __init__(self, fps: float = 10.0, on_watch_change: Callable[[set[str]], None] | None = None) -> None:
        if fps <= 0:
            raise ValueError(f"api.preview_fps: expected a positive number, got {fps!r}")
        self.interval = 1.0 / fps
        self.on_watch_change = on_watch_change
        self._lock = threading.Lock()
        self._frames: dict[str, tuple[int, bytes]] = {}        # stream -> (sequence number, jpeg)
        self._watchers: collections.Counter[str] = collections.Counter()
        self._closed = threading.Event()

    def publish(self, stream: str, jpeg: bytes) -> None:
        """The newest annotated frame of ``stream`` (any thread); it replaces the previous one."""
        with self._lock:
            seq = self._frames.get(stream, (0, b""))[0] + 1
            self._frames[stream] = (seq, jpeg)

    def handle_telemetry(self, message: dict) -> bool:
        """Take a ``preview_frame`` telemetry message; False for other kinds. Raises PreviewMessageError."""
        if message.get("kind") != FRAME_KIND:
            return False
        self.publish(*parse_frame(message))
        return True

    def latest(self, stream: str) -> tuple[int, bytes] | None:
        with self._lock:
            return self._frames.get(stream)

    def forget(self, stream: str) -> None:
        """A removed stream: drop its last picture."""
        with self._lock:
            self._frames.pop(stream, None)

    def watched(self) -> set[str]:
        with self._lock:
            return {s for s, n in self._watchers.items() if n > 0}

    def watch_message(self) -> dict:
        """The control message for the sink (send on every change and now and then for a restarted sink)."""
        return watch_message(self.watched())

    def _change_watchers(self, stream: str, delta: int) -> None:
        with self._lock:
            before = self._watchers[stream] > 0
            self._watchers[stream] += delta
            if self._watchers[stream] <= 0:
                del self._watchers[stream]
            changed = before != (self._watchers.get(stream, 0) > 0)
        if changed and self.on_watch_change is not None:
            self.on_watch_change(self.watched())

    async def mjpeg(self, stream: str) -> AsyncIterator[bytes]:
        """One client's MJPEG body: the newest frame whenever there is a new one, at most ``fps``/s."""
        self._change_watchers(stream, +1)
        try:
            sent = 0
            while not self._closed.is_set():
                item = self.latest(stream)
                if item is not None and item[0] != sent:
                    sent = item[0]
                    yield mjpeg_part(item[1])
                    await asyncio.sleep(self.interval)
                else:
                    await asyncio.sleep(max(0.01, self.interval / 5))
        finally:
            self._change_watchers(stream, -1)

    def close(self) -> None:
        """End every client's stream (call before stopping the server: open streams never end)."""
        self._closed.set()


def stream_rows(snapshot: dict, hub: PreviewHub) -> list[dict]:
    """What the page shows per stream: state, FPS and the e2e histogram's running sum and count."""
    e2e = (snapshot.get("histograms") or {}).get("end_to_end_latency_seconds") or {}
    watched = hub.watched()
    return [{"name": name, "state": s.get("state"), "up": bool(s.get("up")), "fps": s.get("fps"),
             "e2e_sum_s": (e2e.get(name) or {}).get("sum"), "e2e_count": (e2e.get(name) or {}).get("count"),
             "watched": name in watched}
            for name, s in (snapshot.get("streams") or {}).items()]


def preview_routes(hub: PreviewHub, get_snapshot: Callable[[], dict]) -> list[Route]:
    """GET /, GET /preview/streams.json and GET /streams/{name}/preview.mjpg for the API app."""

    def page(request: Request) -> Response:
        return HTMLResponse(PAGE)

    def rows(request: Request) -> Response:
        return JSONResponse({"streams": stream_rows(get_snapshot() or {}, hub)},
                            headers={"Cache-Control": "no-store"})

    def mjpeg(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ((get_snapshot() or {}).get("streams") or {}):
            return JSONResponse({"error": f"unknown stream {name!r}"}, status_code=404)
        return StreamingResponse(hub.mjpeg(name), media_type=MJPEG_TYPE,
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    return [Route("/", page, methods=["GET"]),
            Route("/preview/streams.json", rows, methods=["GET"]),
            Route("/streams/{name}/preview.mjpg", mjpeg, methods=["GET"])]


__all__ = ["PreviewHub", "annotate", "mjpeg_part", "preview_routes", "stream_rows"]
