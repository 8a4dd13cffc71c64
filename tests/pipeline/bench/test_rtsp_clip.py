"""The bench's clip cameras (tests/helpers/rtsp_clip.py): a clip encoded once, served in a loop at its rate.

Real GStreamer RTSP server under /usr/bin/python3; skipped with the reason where it cannot run.
"""
import time

import cv2
import numpy as np
import pytest

from tests.helpers import rtsp

LEVELS = [20 + 20 * i for i in range(10)]     # frame i of the clip is flat grey at LEVELS[i]


@pytest.fixture
def server_ready():
    reason = rtsp.unavailable_reason()
    if reason:
        pytest.skip(reason)


def write_clip(path, width=160, height=120) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (width, height))
    for level in LEVELS:
        writer.write(np.full((height, width, 3), level, np.uint8))
    writer.release()


def read_frames(url: str, count: int) -> tuple[list[np.ndarray], float]:
    """``count`` frames in order and the seconds from opening the stream to the last. OpenCV reads every
    frame (NetworkSource keeps only the newest: the burst a client gets on connecting could skip some)."""
    started = time.monotonic()
    capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
    frames = []
    try:
        while len(frames) < count:
            ok, image = capture.read()
            assert ok, "the clip camera stopped"
            frames.append(image)
    finally:
        capture.release()
    return frames, time.monotonic() - started


@pytest.mark.slow
def test_the_clip_is_sent_in_a_loop_at_the_cameras_rate(server_ready, tmp_path):
    clip = tmp_path / "clip.avi"
    write_clip(clip)
    server = rtsp.RtspServer(rtsp.free_port(), tmp_path / "cam.log", (160, 120), fps=10, clip=clip).start()
    try:
        frames, seconds = read_frames(server.url, 25)
    finally:
        server.kill()
    means = [float(f.mean()) for f in frames]
    assert frames[0].shape == (120, 160, 3)
    # past the end of the clip it starts again: the brightest frame is followed by the darkest
    laps = [i for i in range(1, len(means)) if means[i] < means[i - 1] - 100]
    assert laps, f"no lap in {means}"
    for i in range(laps[0], min(laps[0] + 10, len(means))):   # one whole lap, in the clip's order
        assert abs(means[i] - LEVELS[i - laps[0]]) < 8
    assert seconds > 1.2          # 25 frames at 10 FPS: paced, not sent as fast as the socket takes them


@pytest.mark.slow
def test_a_clip_that_cannot_be_read_fails_the_start_with_the_reason(server_ready, tmp_path):
    bad = tmp_path / "not-a-video.avi"
    bad.write_bytes(b"this is no AVI file")
    server = rtsp.RtspServer(rtsp.free_port(), tmp_path / "cam.log", (160, 120), fps=10, clip=bad)
    with pytest.raises(RuntimeError, match="did not start: FAILED clip"):
        server.start()
