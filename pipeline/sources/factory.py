"""One place that turns a source string into a Source.

``synthetic`` | a webcam index (``0``) | ``rtsp://``, ``rtsps://``, ``http(s)://`` URL |
a video file | a folder of images.
"""
from __future__ import annotations

from pathlib import Path

from pipeline.sources.base import Source, SourceError

NETWORK_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")


def source_kind(uri: str | int) -> str:
    text = str(uri).strip()
    if text == "synthetic":
        return "synthetic"
    if text.isdigit():
        return "webcam"
    if text.lower().startswith(NETWORK_SCHEMES):
        return "network"
    if Path(text).is_dir():
        return "folder"
    return "file"


def is_live(uri: str | int) -> bool:
    """Webcams and network streams are live: newest frame wins when the pipeline is busy."""
    return source_kind(uri) in ("webcam", "network")


def is_paced(source_cfg: dict) -> bool:
    """``source.realtime``, where None (the default) paces the synthetic camera like a real one."""
    realtime = source_cfg["realtime"]
    return source_kind(source_cfg["uri"]) == "synthetic" if realtime is None else bool(realtime)


def is_live_source(source_cfg: dict) -> bool:
    """``source.live``, where None means webcams, network streams and the paced synthetic camera."""
    live = source_cfg["live"]
    if live is not None:
        return bool(live)
    return is_live(source_cfg["uri"]) or (source_kind(source_cfg["uri"]) == "synthetic" and is_paced(source_cfg))


def make_source(source_cfg: dict, stream_index: int = 0) -> Source:
    """Build (not open) the source described by the config's ``source`` section."""
    uri = source_cfg["uri"]
    kind = source_kind(uri)
    realtime, max_frames = is_paced(source_cfg), source_cfg["max_frames"]
    if kind == "synthetic":
        from pipeline.sources.synthetic import SyntheticSource
        return SyntheticSource(seed=source_cfg["seed"] + stream_index, width=source_cfg["width"],
                               height=source_cfg["height"], fps=source_cfg["fps"],
                               max_frames=max_frames, realtime=realtime,
                               frame_step=source_cfg.get("frame_step", 1),
                               passers=source_cfg.get("passers", False))
    if stream_index:
        raise SourceError(f"source.streams > 1 is only for the synthetic source, not {uri!r}")
    if kind == "webcam":
        from pipeline.sources.video import WebcamSource
        return WebcamSource(int(uri))
    if kind == "network":
        from pipeline.sources.network import NetworkSource
        return NetworkSource(str(uri), stall_timeout_s=source_cfg["stall_timeout_s"])
    if kind == "folder":
        from pipeline.sources.images import ImageFolderSource
        return ImageFolderSource(uri, realtime=realtime, fps=source_cfg["fps"])
    if not Path(str(uri)).exists():
        raise SourceError(f"source not found: {uri} (expected 'synthetic', a webcam index, "
                          "an rtsp:// or http:// URL, a video file or an image folder)")
    from pipeline.sources.video import VideoFileSource
    return VideoFileSource(str(uri), loop=source_cfg["loop"], realtime=realtime)
