"""Video files (made here with cv2.VideoWriter), webcams with a fake capture, the live reader."""
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from pipeline.sources import video as video_module
from pipeline.sources.base import SourceError, SourceStats
from pipeline.sources.live import LatestFrameReader
from pipeline.sources.video import VideoFileSource, WebcamSource
from tests.helpers.fake_capture import FakeCapture
from tests.helpers.media import frame_level, level, overwrite_middle, write_video

torch.set_num_threads(1)
cv2.setNumThreads(1)


def read_all(source, limit=1000, out=None):
    frames = []
    while len(frames) < limit:
        frame = source.read(out)
        if frame is None:
            break
        frames.append(frame)
    return frames


@pytest.fixture(scope="module")
def mjpg(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "clip.avi", frames=12)


def test_file_yields_every_frame_in_order(mjpg):
    with VideoFileSource(mjpg) as source:
        assert source.frame_shape == (64, 96) and source.fps == pytest.approx(25.0)
        assert source.live is False
        frames = read_all(source)
    assert [f.frame_id for f in frames] == list(range(12))
    for index, frame in enumerate(frames):
        assert frame.image.shape == (64, 96, 3) and frame.image.dtype == np.uint8
        assert abs(frame_level(frame.image) - level(index)) < 3
    assert source.stats.frames == 12 and source.stats.corrupt == 0


def test_file_decodes_into_the_given_buffer(mjpg):
    out = np.zeros((64, 96, 3), np.uint8)
    with VideoFileSource(mjpg) as source:
        frames = read_all(source, out=out)
    assert len(frames) == 12
    assert all(frame.image is out for frame in frames)
    assert abs(frame_level(out) - level(11)) < 3


def test_file_ignores_a_buffer_of_the_wrong_shape(mjpg):
    out = np.zeros((10, 10, 3), np.uint8)
    with VideoFileSource(mjpg) as source:
        frame = source.read(out)
        second = source.read(out)
    assert frame.image is not out and second.image is not out
    assert second.image.shape == (64, 96, 3) and not out.any()


def test_file_loops_with_increasing_ids(tmp_path):
    path = write_video(tmp_path / "short.avi", frames=4)
    with VideoFileSource(path, loop=True) as source:
        frames = read_all(source, limit=10)
    assert [f.frame_id for f in frames] == list(range(10))
    assert [round(frame_level(f.image) / 4) for f in frames] == [0, 1, 2, 3] * 2 + [0, 1]


def test_realtime_paces_to_the_file_fps(tmp_path):
    path = write_video(tmp_path / "paced.avi", frames=6, fps=25.0)
    with VideoFileSource(path, realtime=True) as source:
        start = time.monotonic()
        frames = read_all(source)
        elapsed = time.monotonic() - start
    assert len(frames) == 6
    assert elapsed >= 5 / 25.0 * 0.9


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(SourceError, match=r"video file not found: .*nope\.mp4"):
        VideoFileSource(tmp_path / "nope.mp4").open()


def test_a_file_that_is_not_a_video_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 50)
    with pytest.raises(SourceError, match="notes.mp4"):
        VideoFileSource(path).open()


def test_corrupt_frames_in_the_middle_are_skipped_and_counted(tmp_path):
    path = write_video(tmp_path / "damaged.mp4", frames=60, fourcc="mp4v")
    overwrite_middle(path, start_fraction=0.4, length_fraction=0.2)
    with VideoFileSource(path) as source:
        frames = read_all(source)
    assert source.stats.corrupt > 0, "the damaged chunk should cost some frames"
    assert 30 < len(frames) < 60
    assert [f.frame_id for f in frames] == list(range(len(frames)))
    assert any("corrupt" in event for event in source.stats.events)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="device paths are Linux-only")
def test_missing_webcam_names_the_devices_that_exist():
    index = next(i for i in range(90, 200) if not Path(f"/dev/video{i}").exists())
    with pytest.raises(SourceError, match=rf"webcam {index} not found \(available: "):
        WebcamSource(index).open()


def test_webcam_that_does_not_open_is_a_clear_error():
    source = WebcamSource(0, capture_factory=lambda index: FakeCapture(opened=False))
    with pytest.raises(SourceError, match="webcam 0 could not be opened"):
        source.open()


def test_webcam_delivers_live_frames_with_increasing_ids():
    fake = FakeCapture(shape=(30, 40))
    source = WebcamSource(2, width=40, height=30, fps=60, capture_factory=lambda index: fake)
    with source:
        frames = [source.read() for _ in range(5)]
    assert source.live and source.frame_shape == (30, 40)
    assert fake.props[cv2.CAP_PROP_FRAME_WIDTH] == 40 and fake.props[cv2.CAP_PROP_FPS] == 60
    ids = [f.frame_id for f in frames]
    assert ids == sorted(set(ids))
    assert fake.released


def test_slow_consumer_gets_the_newest_frame_and_drops_are_counted():
    fake = FakeCapture(period_s=0.002)
    with WebcamSource(0, capture_factory=lambda index: fake) as source:
        source.read()
        time.sleep(0.1)
        frame = source.read()
    assert source.stats.dropped > 5
    assert frame.frame_id > 5
    assert frame.image[0, 0, 0] == frame.frame_id % 256   # the image that goes with the id


def test_webcam_read_copies_into_the_given_buffer():
    out = np.zeros((24, 32, 3), np.uint8)
    with WebcamSource(0, capture_factory=lambda index: FakeCapture(base=7)) as source:
        frame = source.read(out)
    assert frame.image is out and out[0, 0, 0] == (7 + frame.frame_id) % 256


def test_webcam_that_goes_silent_ends_the_stream(monkeypatch):
    monkeypatch.setattr(video_module, "WEBCAM_STALL_TIMEOUT_S", 0.2)
    with WebcamSource(0, capture_factory=lambda index: FakeCapture(frames=3)) as source:
        frames = read_all(source)
    assert 1 <= len(frames) <= 3
    assert any("stopped sending frames" in event for event in source.stats.events)


def test_close_wakes_a_reader_blocked_on_a_silent_camera():
    fake = FakeCapture(frames=1, fail_delay_s=3.0)
    source = WebcamSource(0, capture_factory=lambda index: fake)
    source.open()
    assert source.read() is not None
    results = []
    waiter = threading.Thread(target=lambda: results.append(source.read()))
    waiter.start()
    time.sleep(0.05)
    closer = threading.Thread(target=source.close)
    closer.start()
    waiter.join(0.5)          # woken at once, even though the grab is still blocked
    assert not waiter.is_alive() and results == [None]
    closer.join(3.0)
    assert not closer.is_alive()


def test_reader_waits_for_a_newer_frame_instead_of_repeating_one():
    gate = threading.Semaphore(0)
    images = iter(np.full((2, 2, 3), value, np.uint8) for value in range(2))

    def grab():
        gate.acquire()
        return next(images, None)     # None after two images: end of stream

    reader = LatestFrameReader(grab, SourceStats(), name="test")
    reader.start()
    gate.release()
    image, frame_id, _ = reader.read(timeout=2.0)
    assert frame_id == 0 and image[0, 0, 0] == 0
    assert reader.read(timeout=0.1) is None          # nothing newer yet: no repeat
    gate.release()
    image, frame_id, _ = reader.read(timeout=2.0)
    assert frame_id == 1 and image[0, 0, 0] == 1
    gate.release()            # the third grab ends the stream, so stop() joins at once
    assert reader.read(timeout=2.0) is None and reader.ended
    assert reader.stop()


def test_reader_thread_error_ends_the_stream_instead_of_hanging(caplog):
    def grab():
        raise OSError("device unplugged")

    reader = LatestFrameReader(grab, SourceStats(), name="broken")
    reader.start()
    assert reader.read(timeout=2.0) is None
    assert reader.ended
    assert "frame grabber failed" in caplog.text


@pytest.mark.parametrize("fourcc, suffix", [("MJPG", ".avi"), ("mp4v", ".mp4")])
def test_file_decoder_runs_one_thread(tmp_path, fourcc, suffix):
    """FFmpeg's own choice was frame threading on every core (N_THREADS 2 here): more CPU per frame."""
    from pipeline.sources.base import DECODE_THREADS
    path = write_video(tmp_path / f"clip{suffix}", 5, fourcc=fourcc)
    source = VideoFileSource(path)
    source.open()
    try:
        assert source._cap.get(cv2.CAP_PROP_N_THREADS) == DECODE_THREADS == 1
        assert source.read() is not None
    finally:
        source.close()
