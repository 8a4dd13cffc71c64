"""A tiny loopback RTSP server for tests: a live H.264 test pattern at rtsp://127.0.0.1:PORT/test.

Run it with Debian's own Python, which has the GStreamer bindings (the venv's does not):

    /usr/bin/python3 tests/helpers/rtsp_server.py PORT [--width 320 --height 240 --fps 25] [--clip FILE.avi]

With ``--clip`` it sends a Motion-JPEG AVI instead, encoded once at start-up and looped
(rtsp_clip.py): a camera whose encoder does not take the host's CPU while it serves.

It listens on 127.0.0.1 only and prints ``READY rtsp://127.0.0.1:PORT/test`` on stdout once
it serves, or ``FAILED <reason>`` and exits 2 when it cannot (missing plugin, port taken).
Kill it (SIGTERM/SIGKILL) to simulate an outage; start it again on the same port to end it.
Needs: python3-gi, gir1.2-gst-rtsp-server-1.0 and the base/good/ugly GStreamer plugins.
"""
import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

MOUNT = "/test"
NEEDED_ELEMENTS = ("videotestsrc", "videoconvert", "x264enc", "rtph264pay")


def launch_line(width: int, height: int, fps: int) -> str:
    """The media pipeline each client gets: live pattern -> H.264 (one keyframe a second) -> RTP."""
    return (f"( videotestsrc is-live=true pattern=ball ! "
            f"video/x-raw,width={width},height={height},framerate={fps}/1 ! videoconvert ! "
            f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} ! "
            f"rtph264pay name=pay0 pt=96 config-interval=1 )")


def missing_elements_reason(names: tuple[str, ...]) -> str | None:
    """None when every element exists, else the failure naming the missing ones."""
    missing = [name for name in names if Gst.ElementFactory.find(name) is None]
    return f"missing GStreamer elements: {', '.join(missing)}" if missing else None


def clip_factory(factory, clip: str, width: int, height: int, fps: int) -> str | None:
    """Set ``factory`` up to loop ``clip``; None, or why it cannot."""
    import rtsp_clip
    missing = missing_elements_reason(rtsp_clip.NEEDED_ELEMENTS)
    if missing is not None:
        return missing
    try:
        units = rtsp_clip.encode(clip, width, height, fps)
        feeder = rtsp_clip.ClipFeeder(units, fps)
    except (RuntimeError, ValueError, GLib.Error) as exc:
        return f"clip {clip}: {exc}"
    factory.set_launch(rtsp_clip.launch_line(width, height, fps))
    factory.connect("media-configure", feeder.attach)
    return None


def serve(port: int, width: int, height: int, fps: int, clip: str | None = None) -> int:
    Gst.init(None)
    factory = GstRtspServer.RTSPMediaFactory()
    if clip:
        failed = clip_factory(factory, clip, width, height, fps)
    else:
        failed = missing_elements_reason(NEEDED_ELEMENTS)
        factory.set_launch(launch_line(width, height, fps))
    if failed:
        print(f"FAILED {failed}", flush=True)
        return 2
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    factory.set_shared(True)
    server.get_mount_points().add_factory(MOUNT, factory)
    if server.attach(None) == 0:
        print(f"FAILED cannot listen on 127.0.0.1:{port}", flush=True)
        return 2
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, loop.quit)
    print(f"READY rtsp://127.0.0.1:{port}{MOUNT}", flush=True)
    loop.run()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Loopback RTSP test-pattern server.")
    parser.add_argument("port", type=int)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--clip", default=None, help="a Motion-JPEG AVI to loop instead of the live pattern")
    args = parser.parse_args(argv)
    return serve(args.port, args.width, args.height, args.fps, args.clip)


if __name__ == "__main__":
    sys.exit(main())
