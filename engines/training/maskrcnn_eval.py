"""evaluate_maskrcnn(): COCO box AND mask metrics of a Mask R-CNN on held-out synthetic frames.

The same protocol as engines/training/evaluate.py (frames ``i * FRAME_STRIDE``
of ``SyntheticScene(seed)`` at 640x480, default seed 7 which training never
sees, letterbox -> torch module on CPU -> decode -> back to source pixels), but
masks go back to the source frame too (``masks_to_source``) and COCOeval runs
twice: ``bbox`` and ``segm``. Returns a JSON-ready dict like ``evaluate()``.
"""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np

from engines.training.evaluate import BATCH, FRAME_STRIDE, IOU_THRESHOLD, MAX_DET, _torch_runner

ZERO_METRICS = {"mAP": 0.0, "mAP50": 0.0, "mAP75": 0.0, "AR100": 0.0}


def coco_metrics(ground_truth: dict, results: list[dict], iou_type: str) -> dict:
    """COCOeval of ``iou_type`` ('bbox' or 'segm') -> {'mAP', 'mAP50', 'mAP75', 'AR100'}."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    if not results:
        return dict(ZERO_METRICS)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = ground_truth
        gt.createIndex()
        evaluator = COCOeval(gt, gt.loadRes(results), iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    stats = evaluator.stats
    return {"mAP": float(stats[0]), "mAP50": float(stats[1]), "mAP75": float(stats[2]),
            "AR100": float(stats[8])}


def detect_with_masks(detector, infer, scene, frame_ids, conf_threshold: float) -> list[dict]:
    """COCO result records (boxes and source-frame mask RLEs) for ``frame_ids`` of ``scene``."""
    from engines.detectors.maskrcnn import masks_to_source
    from engines.ops.letterbox import letterbox_numpy
    from pipeline.coco import detections_to_coco
    results = []
    for start in range(0, len(frame_ids), BATCH):
        chunk = frame_ids[start:start + BATCH]
        inputs, boxes = zip(*(letterbox_numpy(scene.render(f), detector.spec) for f in chunk))
        outputs = infer(np.stack(inputs))
        for i, (frame_id, letterbox) in enumerate(zip(chunk, boxes)):
            dets = detector.decode(outputs, i, conf_threshold=conf_threshold,
                                   iou_threshold=IOU_THRESHOLD, max_det=MAX_DET)
            dets.xyxy = letterbox.to_source(dets.xyxy, scene.height, scene.width)
            dets.mask = masks_to_source(dets.mask, letterbox, scene.height, scene.width)
            results.extend(detections_to_coco(frame_id + 1, dets))
    return results


def evaluate_maskrcnn(weights: Path | None = None, *, size: str | None = None, seed: int = 7,
                      frames: int = 200, conf_threshold: float = 0.001, detector=None,
                      engine=None) -> dict:
    """Held-out box and mask metrics (weights None: the shipped tiny model).

    ``engine``: optional object with ``infer(batch) -> {output name: array}``
    (default: the detector's torch module on CPU).
    """
    from engines.detectors.maskrcnn import make_maskrcnn
    from pipeline.coco import coco_ground_truth
    from pipeline.sources.synthetic import SyntheticScene
    if frames < 1:
        raise ValueError(f"evaluate_maskrcnn: frames must be >= 1, got {frames}")
    detector = detector or make_maskrcnn(None if weights is None else Path(weights), size)
    if detector.arch.extra != "masks":
        raise ValueError(f"evaluate_maskrcnn: {detector.name} has no mask head")
    scene = SyntheticScene(seed)
    frame_ids = [i * FRAME_STRIDE for i in range(frames)]
    infer = engine.infer if engine is not None else _torch_runner(detector)
    results = detect_with_masks(detector, infer, scene, frame_ids, conf_threshold)
    truth = coco_ground_truth(scene, frame_ids, with_masks=True)
    used = detector.weights_path or weights
    return {"model": "maskrcnn", "weights": None if used is None else str(used), "seed": seed,
            "frames": frames, "bbox": coco_metrics(truth, results, "bbox"),
            "segm": coco_metrics(truth, results, "segm")}


def evaluate(model: str = "maskrcnn", weights: Path | None = None, *, size: str | None = None,
             seed: int = 7, frames: int = 200, conf_threshold: float = 0.001, engine=None) -> dict:
    """engines/training/evaluate.py's ``evaluate`` signature, for ``model='maskrcnn'``."""
    if model != "maskrcnn":
        raise ValueError(f"maskrcnn_eval.evaluate: model must be 'maskrcnn', got {model!r}")
    return evaluate_maskrcnn(weights, size=size, seed=seed, frames=frames,
                             conf_threshold=conf_threshold, engine=engine)
