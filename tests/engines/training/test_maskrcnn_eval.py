"""evaluate_maskrcnn(): box and mask COCO metrics; ground truth fed as network output scores ~1."""
import numpy as np
import pytest
import torch
from torchvision.ops import roi_align

from engines.detectors import make_detector
from engines.core.letterbox import Letterbox
from engines.training.evaluate import FRAME_STRIDE
from engines.training.maskrcnn_data import letterbox_masks
from engines.training.maskrcnn_eval import coco_metrics, evaluate, evaluate_maskrcnn
from engines.core.coco import coco_ground_truth
from pipeline.sources.synthetic import SyntheticScene

torch.set_num_threads(1)


class TruthEngine:
    """Answers each batch with the frames' ground truth in the Mask R-CNN output layout:
    boxes in input pixels, labels + 1, and each mask resampled to 28x28 over its box."""

    def __init__(self, seed: int, spec, k: int = 20) -> None:
        self.scene, self.spec, self.k, self.next = SyntheticScene(seed), spec, k, 0
        self.box = Letterbox.fit(480, 640, spec)

    def infer(self, batch):
        n_img, k = len(batch), self.k
        out = {"boxes": np.zeros((n_img, k, 4), np.float32), "scores": np.zeros((n_img, k)),
               "labels": np.zeros((n_img, k), np.int64), "count": np.zeros(n_img, np.int64),
               "masks": np.zeros((n_img, k, 28, 28), np.float32)}
        for i in range(n_img):
            truth = self.scene.ground_truth(self.next * FRAME_STRIDE)
            self.next += 1
            n = len(truth.xyxy)
            boxes = self.box.to_input(truth.xyxy)
            canvas = letterbox_masks(truth.masks, self.box, self.spec.height, self.spec.width)
            rois = torch.cat([torch.arange(n, dtype=torch.float32)[:, None],
                              torch.from_numpy(boxes)], dim=1)
            probs = roi_align(torch.from_numpy(canvas[:, None].astype(np.float32)), rois, 28,
                              1.0, 2, aligned=False)[:, 0]
            out["boxes"][i, :n], out["labels"][i, :n] = boxes, truth.class_id + 1
            out["scores"][i, :n], out["count"][i] = 0.9, n
            out["masks"][i, :n] = probs.numpy()
        return out


def test_ground_truth_as_output_scores_near_one():
    det = make_detector("maskrcnn")
    result = evaluate_maskrcnn(frames=6, detector=det, engine=TruthEngine(7, det.spec), scenes=SyntheticScene)
    assert result["seed"] == 7 and result["frames"] == 6
    assert result["bbox"]["mAP50"] > 0.97
    assert result["segm"]["mAP50"] > 0.97
    assert result["segm"]["mAP"] > 0.6       # 28x28 masks pasted at half resolution, blocky


def test_shifted_masks_score_lower():
    det = make_detector("maskrcnn")
    exact = evaluate_maskrcnn(frames=4, detector=det, engine=TruthEngine(7, det.spec), scenes=SyntheticScene)
    shifted_engine = TruthEngine(7, det.spec)
    infer = shifted_engine.infer
    shifted_engine.infer = lambda batch: {**(o := infer(batch)),
                                          "masks": np.roll(o["masks"], 9, axis=-1)}
    shifted = evaluate_maskrcnn(frames=4, detector=det, engine=shifted_engine, scenes=SyntheticScene)
    assert shifted["segm"]["mAP"] < exact["segm"]["mAP"] - 0.2
    assert shifted["bbox"]["mAP"] == pytest.approx(exact["bbox"]["mAP"])


def test_coco_metrics_zero_without_results_and_argument_checks():
    truth = coco_ground_truth(SyntheticScene(7), [0], with_masks=True)
    assert coco_metrics(truth, [], "segm") == {"mAP": 0.0, "mAP50": 0.0, "mAP75": 0.0,
                                               "AR100": 0.0}
    with pytest.raises(ValueError, match="frames must be >= 1"):
        evaluate_maskrcnn(frames=0, scenes=SyntheticScene)
    with pytest.raises(ValueError, match="model must be 'maskrcnn', got 'yolo'"):
        evaluate("yolo", scenes=SyntheticScene)
