"""Tests for COCO export: RLE round trips, GT structure, and COCOeval on the synthetic camera."""
import contextlib
import io
import json

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from engines.core.coco import (coco_ground_truth, detections_to_coco, mask_to_rle, rle_to_mask,
                           write_coco_json)
from engines.core.detections import Detections
from pipeline.sources.synthetic import SyntheticScene

FRAMES = (0, 60, 130, 310, 620)


@pytest.fixture(scope="module")
def scene():
    return SyntheticScene(seed=11, width=320, height=240, min_objects=4, max_objects=8)


def _quiet(function, *args):
    with contextlib.redirect_stdout(io.StringIO()):
        return function(*args)


def _coco(data):
    coco = COCO()
    coco.dataset = json.loads(json.dumps(data))   # exactly what a JSON file would give
    _quiet(coco.createIndex)
    return coco


def _evaluate(gt_dict, results, iou_type):
    gt = _coco(gt_dict)
    dt = _quiet(gt.loadRes, json.loads(json.dumps(results)))
    evaluator = COCOeval(gt, dt, iou_type)
    for step in (evaluator.evaluate, evaluator.accumulate, evaluator.summarize):
        _quiet(step)
    return evaluator


def _gt_as_detections(scene, frame_ids, shift=0.0, erode=False):
    results = []
    for frame_id in frame_ids:
        truth = scene.ground_truth(frame_id)
        masks = truth.masks.copy()
        if erode:
            masks[:, ::2, :] = False
        boxes = truth.xyxy + np.float32(shift) * (truth.xyxy[:, 2:3] - truth.xyxy[:, 0:1])
        dets = Detections(boxes, np.ones(len(boxes)), truth.class_id, mask=masks)
        results += detections_to_coco(frame_id + 1, dets)
    return results


def test_mask_rle_round_trip_and_json_ready():
    mask = np.zeros((7, 9), bool)
    mask[2:5, 1:8] = True
    rle = mask_to_rle(mask)
    assert rle["size"] == [7, 9] and isinstance(rle["counts"], str)
    json.dumps(rle)
    assert np.array_equal(rle_to_mask(rle), mask)
    uncompressed = {"size": [2, 3], "counts": [1, 2, 3]}
    assert rle_to_mask(uncompressed).sum() == 2
    with pytest.raises(ValueError, match="mask_to_rle"):
        mask_to_rle(np.zeros((2, 2, 2), bool))
    with pytest.raises(ValueError, match="'size' and 'counts'"):
        rle_to_mask({"counts": "x"})


def test_ground_truth_structure(scene):
    data = coco_ground_truth(scene, FRAMES)
    assert [im["id"] for im in data["images"]] == [f + 1 for f in FRAMES]
    assert data["images"][0]["frame_id"] == 0 and data["images"][0]["width"] == 320
    ids = [a["id"] for a in data["annotations"]]
    assert ids == list(range(1, len(ids) + 1))
    assert [c["id"] for c in data["categories"]] == list(range(len(scene.class_names)))
    truth = scene.ground_truth(FRAMES[1])
    first = [a for a in data["annotations"] if a["image_id"] == FRAMES[1] + 1][0]
    assert first["area"] == truth.masks[0].sum()
    assert np.array_equal(rle_to_mask(first["segmentation"]), truth.masks[0])
    x1, y1, x2, y2 = truth.xyxy[0].tolist()
    assert first["bbox"] == [x1, y1, x2 - x1, y2 - y1]


def test_ground_truth_fed_back_scores_perfect_ap_including_category_zero(scene):
    gt = coco_ground_truth(scene, FRAMES)
    assert any(a["category_id"] == 0 for a in gt["annotations"])
    results = _gt_as_detections(scene, FRAMES)
    for iou_type in ("bbox", "segm"):
        evaluator = _evaluate(gt, results, iou_type)
        assert evaluator.stats[0] == pytest.approx(1.0), iou_type
        zero = evaluator.params.catIds.index(0)
        precision = evaluator.eval["precision"][:, :, zero, 0, -1]
        assert (precision == 1.0).all(), iou_type


def test_crowd_annotations_do_not_spoil_perfect_ap():
    crowded = SyntheticScene(seed=1, width=320, height=240, min_objects=30, max_objects=30)
    gt = coco_ground_truth(crowded, (0, 50, 100))
    assert any(a["iscrowd"] for a in gt["annotations"])
    results = _gt_as_detections(crowded, (0, 50, 100))
    for iou_type in ("bbox", "segm"):
        assert _evaluate(gt, results, iou_type).stats[0] == pytest.approx(1.0), iou_type


def test_perturbed_detections_score_below_one(scene):
    gt = coco_ground_truth(scene, FRAMES)
    shifted = _evaluate(gt, _gt_as_detections(scene, FRAMES, shift=0.3), "bbox")
    assert shifted.stats[0] < 0.9
    eroded = _evaluate(gt, _gt_as_detections(scene, FRAMES, erode=True), "segm")
    assert eroded.stats[0] < 0.9


def test_box_only_ground_truth_uses_box_area(scene):
    data = coco_ground_truth(scene, FRAMES[:2], with_masks=False)
    first = data["annotations"][0]
    assert "segmentation" not in first
    assert first["area"] == pytest.approx(first["bbox"][2] * first["bbox"][3])
    results = _gt_as_detections(scene, FRAMES[:2])
    assert _evaluate(data, results, "bbox").stats[0] == pytest.approx(1.0)


def test_detections_to_coco_accepts_rle_masks_and_no_masks():
    mask = np.zeros((10, 12), bool)
    mask[1:4, 2:6] = True
    rle = mask_to_rle(mask)
    dets = Detections([[2, 1, 6, 4]], [0.5], [3], mask=[rle])
    (record,) = detections_to_coco(7, dets)
    assert record == {"image_id": 7, "category_id": 3, "bbox": [2.0, 1.0, 4.0, 3.0],
                      "score": 0.5, "segmentation": rle}
    plain = detections_to_coco(7, Detections([[0, 0, 1, 1]], [0.1], [0]))
    assert "segmentation" not in plain[0]
    assert detections_to_coco(1, Detections.empty()) == []


def test_write_coco_json_loads_with_pycocotools(tmp_path, scene):
    data = coco_ground_truth(scene, FRAMES[:2])
    data["images"][0]["extra"] = np.int64(3)
    path = write_coco_json(tmp_path / "sub" / "gt.json", data)
    coco = _quiet(COCO, str(path))
    assert len(coco.getAnnIds()) == len(data["annotations"])
