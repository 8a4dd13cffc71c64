"""NumPy yolo_decode: hand-built predictions with known answers, and a torch+torchvision reference."""
import numpy as np
import pytest
import torch
import torchvision

from engines.ops.yolo_decode import yolo_decode
from tests.engines.ops.cases import random_yolo_pred

torch.set_num_threads(1)

# cx, cy, w, h and three class scores per candidate
CANDIDATES = np.array([
    [100, 100, 20, 20, 0.1, 0.9, 0.2],   # class 1, 0.9: kept
    [102, 100, 20, 20, 0.1, 0.8, 0.1],   # class 1, IoU 0.82 with the first: suppressed
    [102, 100, 20, 20, 0.7, 0.1, 0.1],   # class 0, overlaps the first: kept unless agnostic
    [300, 300, 40, 10, 0.2, 0.1, 0.3],   # class 2, 0.3: kept
    [50, 50, 10, 10, 0.25, 0.1, 0.1],    # best 0.25, not > 0.25: dropped
], dtype=np.float32)
KEPT_XYXY = np.array([[90, 90, 110, 110], [92, 90, 112, 110], [280, 295, 320, 305]], np.float32)


def v8_pred():
    return np.ascontiguousarray(CANDIDATES.T)


def v5_pred(objectness):
    obj = np.asarray(objectness, np.float32)[:, None]
    return np.concatenate([CANDIDATES[:, :4], obj, CANDIDATES[:, 4:]], axis=1)


def test_v8_known_answer():
    xyxy, score, class_id = yolo_decode(v8_pred(), layout="v8", conf_threshold=0.25,
                                        iou_threshold=0.45)
    assert (xyxy.dtype, score.dtype, class_id.dtype) == (np.float32, np.float32, np.int32)
    np.testing.assert_array_equal(xyxy, KEPT_XYXY)
    np.testing.assert_array_equal(score, np.float32([0.9, 0.7, 0.3]))
    np.testing.assert_array_equal(class_id, [1, 0, 2])


def test_v8_class_agnostic_and_max_det():
    xyxy, score, class_id = yolo_decode(v8_pred(), layout="v8", class_agnostic=True)
    np.testing.assert_array_equal(class_id, [1, 2])
    np.testing.assert_array_equal(xyxy, KEPT_XYXY[[0, 2]])
    _, score, _ = yolo_decode(v8_pred(), layout="v8", max_det=2)
    np.testing.assert_array_equal(score, np.float32([0.9, 0.7]))


def test_v5_scores_are_objectness_times_class():
    objectness = np.float32([1.0, 1.0, 0.5, 1.0, 1.0])
    xyxy, score, class_id = yolo_decode(v5_pred(objectness), layout="v5", conf_threshold=0.25)
    np.testing.assert_array_equal(class_id, [1, 0, 2])
    np.testing.assert_array_equal(score, [np.float32(0.9), np.float32(0.5) * np.float32(0.7),
                                          np.float32(0.3)])
    np.testing.assert_array_equal(xyxy, KEPT_XYXY)


def test_v5_low_objectness_drops_candidate():
    objectness = np.float32([0.2, 1.0, 1.0, 1.0, 1.0])   # first: 0.18, second takes over
    xyxy, score, class_id = yolo_decode(v5_pred(objectness), layout="v5")
    np.testing.assert_array_equal(class_id, [1, 0, 2])
    np.testing.assert_array_equal(score, np.float32([0.8, 0.7, 0.3]))
    np.testing.assert_array_equal(xyxy[0], [92, 90, 112, 110])


def test_nothing_above_threshold_gives_empty_arrays():
    xyxy, score, class_id = yolo_decode(v8_pred(), layout="v8", conf_threshold=0.95)
    assert xyxy.shape == (0, 4) and score.shape == (0,) and class_id.shape == (0,)


def test_batch_axis_of_one_is_accepted_and_bad_input_is_refused():
    ours = yolo_decode(v8_pred()[None], layout="v8")
    np.testing.assert_array_equal(ours[0], KEPT_XYXY)
    with pytest.raises(ValueError, match="layout must be one of"):
        yolo_decode(v8_pred(), layout="v7")
    with pytest.raises(ValueError, match=r"expects pred of one image shaped \(N, 5 \+ C\)"):
        yolo_decode(np.zeros((10, 5), np.float32), layout="v5")


def reference(pred, layout, conf, iou, max_det, agnostic):
    """Straightforward torch + torchvision decode; ties in score order by index."""
    t = torch.from_numpy(pred)
    if layout == "v8":
        boxes, scores = t[:4].T, t[4:].T
    else:
        boxes, scores = t[:, :4], t[:, 4:5] * t[:, 5:]
    best = scores.max(dim=1).values
    cls = scores.argmax(dim=1)
    mask = best > conf
    xyxy = torchvision.ops.box_convert(boxes[mask], "cxcywh", "xyxy")
    best, cls = best[mask], cls[mask]
    if agnostic:
        keep = torchvision.ops.nms(xyxy, best, iou)
    else:
        keep = torchvision.ops.batched_nms(xyxy, best, cls, iou)
    keep = keep.sort().values
    keep = keep[best[keep].sort(descending=True, stable=True).indices][:max_det]
    return xyxy[keep].numpy(), best[keep].numpy(), cls[keep].numpy()


@pytest.mark.parametrize("layout", ["v8", "v5"])
def test_matches_torchvision_reference_on_random_predictions(layout):
    rng = np.random.default_rng(11)
    for _ in range(40):
        pred = random_yolo_pred(rng, layout, int(rng.integers(0, 1500)), int(rng.integers(1, 12)))
        conf = float(rng.choice([0.0625, 0.25, 0.5]))      # exact in float32
        iou = float(rng.choice([0.3, 0.45, 0.7]))
        max_det, agnostic = int(rng.integers(1, 400)), bool(rng.random() < 0.3)
        ours = yolo_decode(pred, layout=layout, conf_threshold=conf, iou_threshold=iou,
                           max_det=max_det, class_agnostic=agnostic)
        theirs = reference(pred, layout, conf, iou, max_det, agnostic)
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(a, b)
