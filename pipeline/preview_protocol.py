"""Messages of the live preview between the API's PreviewHub and the sink's PreviewTap.

- control (supervisor PUB -> stages): ``{"kind": "preview", "streams": [NAME, ...]}``, the streams
  someone watches right now (an empty list: nobody; the sink then encodes nothing);
- telemetry (sink PUSH -> supervisor): ``{"kind": "preview_frame", "stage": "sink", "stream": NAME,
  "jpeg": bytes}``, one annotated frame of a watched stream, at most ``api.preview_fps`` per stream.

Both sides validate what they receive with the functions here (no pickle, bounded sizes).
"""
from __future__ import annotations

WATCH_KIND, FRAME_KIND = "preview", "preview_frame"
MAX_STREAMS, MAX_NAME = 1024, 200
MAX_JPEG_BYTES = 1 << 20          # also the telemetry channel's message limit (a 640 px JPEG: ~50 KB)
JPEG_MAGIC = b"\xff\xd8"


class PreviewMessageError(ValueError):
    pass


def watch_message(streams) -> dict:
    return {"kind": WATCH_KIND, "streams": sorted(streams)}


def frame_message(stream: str, jpeg: bytes, stage: str = "sink") -> dict:
    return {"kind": FRAME_KIND, "stage": stage, "stream": stream, "jpeg": jpeg}


def _name(value) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_NAME:
        raise PreviewMessageError(f"stream name: expected a string of 1..{MAX_NAME} characters")
    return value


def parse_watch(message: dict) -> set[str]:
    """The watched streams of a ``preview`` control message; raises PreviewMessageError."""
    streams = message.get("streams")
    if not isinstance(streams, list) or len(streams) > MAX_STREAMS:
        raise PreviewMessageError(f"preview: streams: expected a list of at most {MAX_STREAMS} names")
    return {_name(s) for s in streams}


def parse_frame(message: dict) -> tuple[str, bytes]:
    """(stream, jpeg) of a ``preview_frame`` telemetry message; raises PreviewMessageError."""
    jpeg = message.get("jpeg")
    if not isinstance(jpeg, bytes) or not jpeg.startswith(JPEG_MAGIC) or len(jpeg) > MAX_JPEG_BYTES:
        raise PreviewMessageError(f"preview_frame: jpeg: expected JPEG bytes of at most {MAX_JPEG_BYTES}")
    return _name(message.get("stream")), jpeg
