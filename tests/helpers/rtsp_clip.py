"""A camera that encodes nothing while it serves: a clip encoded to H.264 once, then sent in a loop.

A real IP camera encodes on its own chip; the live test pattern of rtsp_server.py
encodes on the host that also analyses the stream (~0.09 of a core per 640x480
camera at 30 FPS here). With ``--clip`` the server reads a Motion-JPEG AVI (the
bench writes it), encodes it once at start-up (one IDR every ``fps`` frames, so
every loop starts on one), and an appsrc then sends the stored access units at
``fps``, paced by a monotonic clock, stamped with the running time as they go.
Runs under Debian's /usr/bin/python3 (GStreamer bindings), like rtsp_server.py.
"""
from __future__ import annotations

import threading
import time

from gi.repository import Gst

NEEDED_ELEMENTS = ("filesrc", "avidemux", "jpegdec", "videoconvert", "videoscale", "x264enc", "appsink",
                   "appsrc", "rtph264pay")


def encoder_line(path: str, width: int, height: int, fps: int) -> str:
    return (f"filesrc location=\"{path}\" ! avidemux ! jpegdec ! videoconvert ! videoscale ! "
            f"video/x-raw,format=I420,width={width},height={height} ! "
            f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} ! "
            "video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=out sync=false")


def encode(path: str, width: int, height: int, fps: int, stall_s: float = 30.0) -> list[tuple[bytes, bool]]:
    """The clip's access units, in order, each with whether it is a keyframe (RuntimeError if it cannot)."""
    pipeline = Gst.parse_launch(encoder_line(path, width, height, fps))
    sink, bus = pipeline.get_by_name("out"), pipeline.get_bus()
    units: list[tuple[bytes, bool]] = []
    pipeline.set_state(Gst.State.PLAYING)
    try:
        waited = 0.0
        while not sink.get_property("eos"):
            error = bus.pop_filtered(Gst.MessageType.ERROR)
            if error is not None:
                raise RuntimeError(error.parse_error()[0].message)
            sample = sink.emit("try-pull-sample", Gst.SECOND // 10)
            if sample is None:
                waited += 0.1
                if waited > stall_s:
                    raise RuntimeError(f"no frame in {stall_s:.0f} s")
                continue
            waited = 0.0
            buffer = sample.get_buffer()
            ok, info = buffer.map(Gst.MapFlags.READ)
            if ok:
                units.append((bytes(info.data), not buffer.has_flags(Gst.BufferFlags.DELTA_UNIT)))
                buffer.unmap(info)
    finally:
        pipeline.set_state(Gst.State.NULL)
    if not units:
        raise RuntimeError("no frame in it")
    return units


def launch_line(width: int, height: int, fps: int) -> str:
    """The media each client shares: the stored units -> RTP (SPS/PPS with every keyframe)."""
    return (f"( appsrc name=clip is-live=true format=time do-timestamp=true "
            f"caps=video/x-h264,stream-format=byte-stream,alignment=au,width={width},height={height},"
            f"framerate={fps}/1 ! rtph264pay name=pay0 pt=96 config-interval=1 )")


class ClipFeeder:
    """Sends ``units`` into one media's appsrc at ``fps`` until the media is torn down."""

    def __init__(self, units: list[tuple[bytes, bool]], fps: int) -> None:
        if not units or not units[0][1]:
            raise ValueError("the clip must start with a keyframe")
        self.units, self.fps = units, fps

    def attach(self, factory, media) -> None:
        """``media-configure`` handler: a feeder thread for this media's appsrc, from its first need-data."""
        source = media.get_element().get_child_by_name("clip")
        wanted = threading.Event()
        source.connect("need-data", lambda _source, _size: wanted.set())
        threading.Thread(target=self._feed, args=(source, wanted), daemon=True, name="clip-feeder").start()

    def _feed(self, source, wanted: threading.Event) -> None:
        if not wanted.wait(30):          # never played (the client went away while it was prepared)
            return
        frame_ns = Gst.SECOND // self.fps
        start = time.monotonic()
        sent = 0
        while True:
            data, key = self.units[sent % len(self.units)]
            buffer = Gst.Buffer.new_wrapped(data)
            buffer.duration = frame_ns
            if not key:
                buffer.set_flags(Gst.BufferFlags.DELTA_UNIT)
            if source.emit("push-buffer", buffer) != Gst.FlowReturn.OK:
                return                   # the media was unprepared (last client gone): its thread ends
            sent += 1
            delay = start + sent / self.fps - time.monotonic()
            if delay > 0:
                time.sleep(delay)
