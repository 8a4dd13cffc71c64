"""Image folders: order, file filtering, corrupt files, sizes, pacing and clear errors."""
import time

import cv2
import numpy as np
import pytest
import torch

from pipeline.sources.base import SourceError
from pipeline.sources.images import ImageFolderSource

torch.set_num_threads(1)


def solid(value: int, height: int = 20, width: int = 30) -> np.ndarray:
    return np.full((height, width, 3), value, np.uint8)


def read_all(source, out=None):
    frames = []
    while (frame := source.read(out)) is not None:
        frames.append(frame)
    return frames


@pytest.fixture
def folder(tmp_path):
    cv2.imwrite(str(tmp_path / "b.png"), solid(20))
    cv2.imwrite(str(tmp_path / "a.PNG"), solid(10))
    cv2.imwrite(str(tmp_path / "c.bmp"), solid(30))
    (tmp_path / "c2.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    cv2.imwrite(str(tmp_path / "d.webp"), solid(40), [cv2.IMWRITE_WEBP_QUALITY, 101])
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / "sub.png").mkdir()
    return tmp_path


def test_images_come_in_name_order_and_bad_files_are_skipped(folder):
    with ImageFolderSource(folder) as source:
        assert source.frame_shape == (20, 30) and not source.live
        frames = read_all(source)
    assert [int(f.image[0, 0, 0]) for f in frames] == [10, 20, 30, 40]
    assert [f.frame_id for f in frames] == [0, 1, 2, 3]
    assert source.stats.corrupt == 1 and source.stats.frames == 4


def test_read_copies_into_the_given_buffer(folder):
    out = np.zeros((20, 30, 3), np.uint8)
    with ImageFolderSource(folder) as source:
        frames = read_all(source, out=out)
    assert all(f.image is out for f in frames) and out[0, 0, 0] == 40


def test_a_size_change_updates_frame_shape_and_skips_the_buffer(tmp_path):
    cv2.imwrite(str(tmp_path / "1.png"), solid(1))
    cv2.imwrite(str(tmp_path / "2.png"), solid(2, height=8, width=12))
    out = np.zeros((20, 30, 3), np.uint8)
    with ImageFolderSource(tmp_path) as source:
        first = source.read(out)
        second = source.read(out)
    assert first.image is out and second.image is not out
    assert second.image.shape == (8, 12, 3) and source.frame_shape == (8, 12)


def test_realtime_paces_to_fps(folder):
    with ImageFolderSource(folder, realtime=True, fps=20.0) as source:
        start = time.monotonic()
        frames = read_all(source)
        elapsed = time.monotonic() - start
    assert len(frames) == 4 and elapsed >= 3 / 20.0 * 0.9


def test_realtime_without_fps_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="needs a positive fps"):
        ImageFolderSource(tmp_path, realtime=True)


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(SourceError, match="image folder not found: .*missing"):
        ImageFolderSource(tmp_path / "missing").open()


def test_folder_without_images_is_a_clear_error(tmp_path):
    (tmp_path / "readme.txt").write_text("no pictures here")
    with pytest.raises(SourceError, match="no images .* in folder"):
        ImageFolderSource(tmp_path).open()


def test_folder_where_nothing_decodes_is_a_clear_error(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"garbage")
    (tmp_path / "b.png").write_bytes(b"")
    source = ImageFolderSource(tmp_path)
    with pytest.raises(SourceError, match=r"no readable image .*\(2 image files"):
        source.open()
    assert source.stats.corrupt == 2
