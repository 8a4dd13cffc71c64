"""box_iou and cxcywh_to_xyxy against hand-computed values and torchvision."""
import numpy as np
import pytest
import torch
import torchvision

from engines.ops.boxes import box_iou, cxcywh_to_xyxy
from tests.engines.ops.cases import clustered_boxes


def test_cxcywh_to_xyxy_known_box():
    out = cxcywh_to_xyxy(np.array([[10, 20, 4, 6], [0, 0, 1, 3]], np.float32))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[8, 17, 12, 23], [-0.5, -1.5, 0.5, 1.5]])


def test_cxcywh_to_xyxy_rejects_wrong_last_axis():
    with pytest.raises(ValueError, match="last axis of 4"):
        cxcywh_to_xyxy(np.zeros((2, 3), np.float32))


def test_box_iou_known_values():
    a = np.array([[0, 0, 2, 2]], np.float32)
    b = np.array([[1, 1, 3, 3], [0, 0, 2, 2], [5, 5, 6, 6]], np.float32)
    np.testing.assert_allclose(box_iou(a, b), [[1 / 7, 1.0, 0.0]], rtol=1e-6)


def test_box_iou_matches_torchvision():
    rng = np.random.default_rng(0)
    a, b = clustered_boxes(rng, 40), clustered_boxes(rng, 30)
    expected = torchvision.ops.box_iou(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    np.testing.assert_allclose(box_iou(a, b), expected, rtol=1e-6, atol=1e-7)


def test_box_iou_rejects_bad_shape():
    with pytest.raises(ValueError, match=r"box_iou: b must be \(N, 4\)"):
        box_iou(np.zeros((1, 4)), np.zeros(4))
