"""evaluate(): COCO box metrics of a detector on held-out synthetic frames (pycocotools).

Frames ``i * FRAME_STRIDE`` (i < frames) of ``SyntheticScene(seed)`` at 640x480,
spread over many object sets; the default seed 7 is disjoint from the training
seeds (engines/training/data.py). Each frame is letterboxed with the
detector's spec, run through the torch module on CPU (or through ``engine``,
any object with ``infer(batch) -> {output name: array}``), decoded, mapped back
to source pixels with ``Letterbox.to_source`` and scored by COCOeval.
"""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np

FRAME_STRIDE = 151          # not a divisor of the scene's 300-frame object-set period
BATCH = 8
IOU_THRESHOLD = 0.6
MAX_DET = 100
ZERO_METRICS = {"mAP": 0.0, "mAP50": 0.0, "mAP75": 0.0, "AR100": 0.0}


def _torch_runner(detector):
    import torch
    module = detector.build_module().eval()

    def infer(batch: np.ndarray) -> dict:
        with torch.no_grad():
            outputs = module(torch.from_numpy(batch))
        if not isinstance(outputs, (tuple, list)):
            outputs = (outputs,)
        return {name: out.numpy() for name, out in zip(detector.output_names, outputs)}
    return infer


def _detect_frames(detector, infer, scene, frame_ids, conf_threshold: float,
                   with_masks: bool = False) -> list[dict]:
    """COCO result records for ``frame_ids`` of ``scene``, in source pixels.

    ``with_masks``: also map each detection's mask back to the source frame
    (``masks_to_source``), so the records carry mask RLEs.
    """
    from engines.ops.letterbox import letterbox_numpy
    from pipeline.coco import detections_to_coco
    if with_masks:
        from engines.detectors.maskrcnn import masks_to_source
    results = []
    for start in range(0, len(frame_ids), BATCH):
        chunk = frame_ids[start:start + BATCH]
        inputs, boxes = zip(*(letterbox_numpy(scene.render(f), detector.spec) for f in chunk))
        outputs = infer(np.stack(inputs))
        for i, (frame_id, letterbox) in enumerate(zip(chunk, boxes)):
            dets = detector.decode(outputs, i, conf_threshold=conf_threshold,
                                   iou_threshold=IOU_THRESHOLD, max_det=MAX_DET)
            dets.xyxy = letterbox.to_source(dets.xyxy, scene.height, scene.width)
            if with_masks:
                dets.mask = masks_to_source(dets.mask, letterbox, scene.height, scene.width)
            results.extend(detections_to_coco(frame_id + 1, dets))
    return results


def coco_metrics(ground_truth: dict, results: list[dict], iou_type: str) -> dict:
    """COCOeval of ``iou_type`` ('bbox' or 'segm') -> {'mAP', 'mAP50', 'mAP75', 'AR100'}.

    All zeros when nothing was detected.
    """
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


def coco_box_metrics(ground_truth: dict, results: list[dict]) -> dict:
    """COCOeval (bbox) -> {'mAP', 'mAP50', 'mAP75', 'AR100'}; zeros when nothing was detected."""
    return coco_metrics(ground_truth, results, "bbox")


def evaluate(model: str, weights: Path | None = None, *, size: str | None = None, seed: int = 7,
             frames: int = 200, conf_threshold: float = 0.001, engine=None) -> dict:
    """Held-out COCO box metrics of ``model`` (weights None: the shipped default)."""
    from engines.detectors import make_detector
    from pipeline.coco import coco_ground_truth
    from pipeline.sources.synthetic import SyntheticScene
    if frames < 1:
        raise ValueError(f"evaluate: frames must be >= 1, got {frames}")
    detector = make_detector(model, weights, size)
    scene = SyntheticScene(seed)
    frame_ids = [i * FRAME_STRIDE for i in range(frames)]
    infer = engine.infer if engine is not None else _torch_runner(detector)
    results = _detect_frames(detector, infer, scene, frame_ids, conf_threshold)
    metrics = coco_box_metrics(coco_ground_truth(scene, frame_ids, with_masks=False), results)
    used = detector.weights_path or weights
    return {"model": model, "weights": None if used is None else str(used), "seed": seed,
            "frames": frames, "bbox": metrics}
