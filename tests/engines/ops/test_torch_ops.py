"""Torch twins give exactly the NumPy results on CPU tensors, tied scores included."""
import numpy as np
import pytest
import torch

from engines.ops.centernet_decode import centernet_decode
from engines.ops.torch_ops import canonical_order, centernet_decode_torch, yolo_decode_torch
from engines.ops.yolo_decode import yolo_decode
from tests.engines.ops.cases import random_centernet_heads, random_yolo_pred

torch.set_num_threads(1)


def test_canonical_order_breaks_score_ties_by_index():
    score = torch.tensor([0.5, 0.9, 0.5, 0.9, 0.1])
    keep = torch.tensor([2, 3, 0, 1])
    assert canonical_order(keep, score).tolist() == [1, 3, 0, 2]


@pytest.mark.parametrize("layout", ["v8", "v5"])
def test_yolo_twin_equals_numpy_with_many_ties(layout):
    rng = np.random.default_rng(21)
    for case in range(30):
        n = int(rng.integers(0, 2500))
        pred = random_yolo_pred(rng, layout, n, int(rng.integers(1, 6)))
        if case % 2:       # coarse scores: exact ties, also past torchvision's 1000-box switch
            columns = slice(4, None) if layout == "v8" else slice(5, None)
            if layout == "v8":
                pred[columns] = np.round(pred[columns] * 8) / 8
            else:
                pred[:, columns] = np.round(pred[:, columns] * 8) / 8
        options = dict(layout=layout, conf_threshold=0.1, iou_threshold=0.5,
                       class_agnostic=bool(case % 3 == 0), max_det=int(rng.integers(1, 2000)))
        ours = yolo_decode(pred, **options)
        theirs = yolo_decode_torch(torch.from_numpy(pred), **options)
        assert [t.dtype for t in theirs] == [torch.float32, torch.float32, torch.int32]
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(a, b.numpy())


def test_centernet_twin_dtypes_and_values():
    rng = np.random.default_rng(2)
    hm, wh, reg = random_centernet_heads(rng, 3, 16, 12)
    ours = centernet_decode(hm, wh, reg, k=30)
    theirs = centernet_decode_torch(*(torch.from_numpy(a) for a in (hm, wh, reg)), k=30)
    assert [t.dtype for t in theirs] == [torch.float32, torch.float32, torch.int32]
    assert len(ours[0]) == 30
    np.testing.assert_array_equal(ours[0], theirs[0].numpy())
    np.testing.assert_array_equal(ours[2], theirs[2].numpy())
