"""evaluate(): COCO metrics through pycocotools, exact ground truth scores 1, shipped weights."""
import numpy as np
import pytest

from engines.core.letterbox import Letterbox
from engines.detectors.yolo import yolo_spec
from engines.training.evaluate import FRAME_STRIDE, coco_box_metrics, evaluate
from engines.core.coco import coco_ground_truth
from pipeline.sources.synthetic import SyntheticScene


class TruthEngine:
    """Answers each batch with the ground truth of the frames evaluate() asks for, in v8 layout."""

    def __init__(self, seed: int, jitter: float = 0.0) -> None:
        self.scene, self.next, self.jitter = SyntheticScene(seed), 0, jitter
        self.box = Letterbox.fit(480, 640, yolo_spec("tiny"))

    def infer(self, batch):
        preds = np.zeros((len(batch), 4 + 6, 50), np.float32)
        for i in range(len(batch)):
            truth = self.scene.ground_truth(self.next * FRAME_STRIDE, masks=False)
            self.next += 1
            xyxy = self.box.to_input(truth.xyxy) + self.jitter
            n = len(xyxy)
            preds[i, 0, :n] = (xyxy[:, 0] + xyxy[:, 2]) / 2
            preds[i, 1, :n] = (xyxy[:, 1] + xyxy[:, 3]) / 2
            preds[i, 2, :n] = xyxy[:, 2] - xyxy[:, 0]
            preds[i, 3, :n] = xyxy[:, 3] - xyxy[:, 1]
            preds[i, 4 + truth.class_id, np.arange(n)] = 0.9
        return {"output0": preds}


def test_exact_answers_score_one_and_shifted_answers_score_less():
    perfect = evaluate("yolo", size="tiny", seed=7, frames=6, engine=TruthEngine(7), scenes=SyntheticScene)
    assert perfect["bbox"]["mAP"] == pytest.approx(1.0, abs=1e-6)
    assert perfect["seed"] == 7 and perfect["frames"] == 6 and perfect["model"] == "yolo"
    shifted = evaluate("yolo", size="tiny", seed=7, frames=6, engine=TruthEngine(7, jitter=3.0), scenes=SyntheticScene)
    assert shifted["bbox"]["mAP"] < 0.9 * perfect["bbox"]["mAP"]


def test_no_detections_score_zero():
    scene = SyntheticScene(7)
    truth = coco_ground_truth(scene, [0, 151], with_masks=False)
    assert coco_box_metrics(truth, []) == {"mAP": 0.0, "mAP50": 0.0, "mAP75": 0.0, "AR100": 0.0}


def test_frames_must_be_positive():
    with pytest.raises(ValueError, match="frames must be >= 1"):
        evaluate("yolo", frames=0, scenes=SyntheticScene)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["yolo", "centernet"])
def test_shipped_weights_reach_the_target_on_held_out_frames(model):
    from engines.detectors import default_weights
    if default_weights(model, "tiny") is None:
        pytest.skip(f"no shipped {model} weights yet")
    result = evaluate(model, seed=7, frames=50, scenes=SyntheticScene)
    assert result["bbox"]["mAP50"] >= 0.9
